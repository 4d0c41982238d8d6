"""Intake's access rules (unit, no I/O) for every role: who may register, read and audit."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from alamal_contracts.codes import IntakeSource, Wijk
from alamal_intake.access import may_read, may_read_audit, may_record_consent, may_register
from alamal_intake.domain import Family
from alamal_runtime.auth import Principal, Role

OWN = str(uuid.uuid4())
OTHER = str(uuid.uuid4())
FAMILY = Family(
    id=str(uuid.uuid4()),
    members=(),
    wijk=Wijk.OVERVECHT,
    projects=(),
    languages=("nl",),
    intake_source=IntakeSource.SELF,
    trusted_person_id=OWN,
    consents=(),
    registered_by=OWN,
    registered_at=datetime(2025, 3, 1, tzinfo=UTC),
)


def principal(role: Role, *, user_id: str = OWN, wijken: frozenset[str] = frozenset()) -> Principal:
    """A caller with one role."""
    return Principal(user_id=user_id, role=role, wijken=wijken, token_id="t")


ALL_WIJKEN = frozenset(Wijk)

# (caller, may register a family in Overvecht for OWN, may read FAMILY)
MATRIX = [
    pytest.param(principal(Role.TRUSTED_PERSON), True, True, id="trusted-person-own"),
    pytest.param(
        principal(Role.TRUSTED_PERSON, user_id=OTHER), False, False, id="trusted-person-other"
    ),
    pytest.param(
        # Wijken in a trusted person's token do not widen her scope beyond her own families.
        principal(Role.TRUSTED_PERSON, user_id=OTHER, wijken=frozenset({"overvecht"})),
        False,
        False,
        id="trusted-person-other-same-wijk",
    ),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"overvecht", "zuid"})),
        True,
        True,
        id="coordinator-in-wijk",
    ),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"zuid", "west"})),
        False,
        False,
        id="coordinator-out-of-wijk",
    ),
    pytest.param(principal(Role.COORDINATOR, user_id=OTHER), False, False, id="coordinator-none"),
    pytest.param(
        # A coordinator named as the trusted person is still bound to her wijken.
        principal(Role.COORDINATOR, wijken=frozenset({"zuid"})),
        False,
        False,
        id="coordinator-own-id-out-of-wijk",
    ),
    *(
        pytest.param(principal(role, wijken=ALL_WIJKEN), False, False, id=f"{role.value}")
        for role in (Role.ADMIN, Role.OPERATOR, Role.FUNDER, Role.PRIVACY_OFFICER)
    ),
]


@pytest.mark.parametrize(("caller", "registers", "reads"), MATRIX)
def test_may_register(caller: Principal, registers: bool, reads: bool) -> None:
    assert may_register(caller, wijk="overvecht", trusted_person_id=OWN) is registers


@pytest.mark.parametrize(("caller", "registers", "reads"), MATRIX)
def test_may_read(caller: Principal, registers: bool, reads: bool) -> None:
    assert may_read(caller, FAMILY) is reads


def test_every_role_is_in_the_matrix() -> None:
    callers = [p.values[0] for p in MATRIX]
    assert {c.role for c in callers if isinstance(c, Principal)} == set(Role)


@pytest.mark.parametrize(("caller", "registers", "reads"), MATRIX)
def test_who_reads_a_family_records_its_consent(
    caller: Principal, registers: bool, reads: bool
) -> None:
    assert may_record_consent(caller, FAMILY) is reads


# (caller, may read FAMILY's audit)
AUDIT_MATRIX = [
    pytest.param(principal(Role.TRUSTED_PERSON), False, id="trusted-person-own"),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"overvecht"})),
        True,
        id="coordinator-in-wijk",
    ),
    pytest.param(
        principal(Role.COORDINATOR, user_id=OTHER, wijken=frozenset({"zuid"})),
        False,
        id="coordinator-out-of-wijk",
    ),
    pytest.param(principal(Role.ADMIN), True, id="admin"),
    pytest.param(principal(Role.OPERATOR, wijken=ALL_WIJKEN), False, id="operator"),
    pytest.param(principal(Role.FUNDER, wijken=ALL_WIJKEN), False, id="funder"),
    # The privacy officer reads a family's audit inside its export, not here.
    pytest.param(principal(Role.PRIVACY_OFFICER, wijken=ALL_WIJKEN), False, id="privacy-officer"),
]


@pytest.mark.parametrize(("caller", "audits"), AUDIT_MATRIX)
def test_may_read_audit(caller: Principal, audits: bool) -> None:
    assert may_read_audit(caller, FAMILY) is audits


def test_only_an_admin_reads_the_audit_of_an_unknown_family() -> None:
    assert may_read_audit(principal(Role.ADMIN), None) is True
    assert may_read_audit(principal(Role.COORDINATOR, wijken=ALL_WIJKEN), None) is False
