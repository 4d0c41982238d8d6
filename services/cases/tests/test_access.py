"""Who may read a case (unit, no I/O), for every role."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from alamal_cases.access import may_read
from alamal_cases.domain import Case, CaseStatus
from alamal_contracts.codes import Wijk
from alamal_runtime.auth import Principal, Role

OWN = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.OVERVECHT,
    trusted_person_id=OWN,
    status=CaseStatus.OPEN,
    opened_at=datetime(2025, 3, 1, tzinfo=UTC),
)


def principal(role: Role, *, user_id: str = OWN, wijken: frozenset[str] = frozenset()) -> Principal:
    """A caller with one role."""
    return Principal(user_id=user_id, role=role, wijken=wijken, token_id="t")


MATRIX = [
    pytest.param(principal(Role.TRUSTED_PERSON), True, id="trusted-person-own"),
    pytest.param(principal(Role.TRUSTED_PERSON, user_id=OTHER), False, id="trusted-person-other"),
    pytest.param(
        principal(Role.TRUSTED_PERSON, user_id=OTHER, wijken=frozenset({"overvecht"})),
        False,
        id="trusted-person-other-same-wijk",
    ),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"overvecht"})),
        True,
        id="coordinator-in-wijk",
    ),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"zuid", "west"})),
        False,
        id="coordinator-out-of-wijk",
    ),
    pytest.param(
        # Holding the case herself does not widen a coordinator's wijken.
        principal(Role.COORDINATOR, wijken=frozenset({"zuid"})),
        False,
        id="coordinator-own-id-out-of-wijk",
    ),
    *(
        pytest.param(principal(role, wijken=frozenset(Wijk)), False, id=role.value)
        for role in (Role.ADMIN, Role.OPERATOR, Role.FUNDER, Role.PRIVACY_OFFICER)
    ),
]


@pytest.mark.parametrize(("caller", "reads"), MATRIX)
def test_may_read(caller: Principal, reads: bool) -> None:
    assert may_read(caller, CASE) is reads


def test_every_role_is_in_the_matrix() -> None:
    callers = [p.values[0] for p in MATRIX]
    assert {c.role for c in callers if isinstance(c, Principal)} == set(Role)
