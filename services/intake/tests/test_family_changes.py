"""Updating details, assigning trusted persons, searching and paging (unit, no I/O)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from alamal_contracts.codes import IntakeSource, MemberRole, Project, Wijk
from alamal_contracts.events import FamilyReassigned
from alamal_contracts.privacy import personal_data_fields
from alamal_intake.access import may_assign, may_move_to, may_read, may_update
from alamal_intake.domain import (
    Address,
    AssignmentError,
    Family,
    Member,
    Reassign,
    UpdateFamily,
    reassign,
    update_family,
)
from alamal_intake.family_api import parse_if_match
from alamal_intake.search import BadCursorError, decode_cursor, encode_cursor, paginate
from alamal_runtime.auth import Principal, Role

TP = str(uuid.uuid4())
FATHER_TP = str(uuid.uuid4())
NEW_TP = str(uuid.uuid4())
COORDINATOR = str(uuid.uuid4())
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MOTHER = Member(MemberRole.MOTHER, 1984, "Fatima", "El Amrani", ("ar",))
FATHER = Member(MemberRole.FATHER, 1980, "Youssef", "El Amrani", ("ar",))


def family(*members: Member, projects: tuple[Project, ...] = (Project.TUSSEN_IN,)) -> Family:
    """A family in Overvecht supported by TP."""
    return Family(
        id=str(uuid.uuid4()),
        members=members or (MOTHER,),
        wijk=Wijk.OVERVECHT,
        projects=projects,
        languages=("ar",),
        intake_source=IntakeSource.SELF,
        trusted_person_id=TP,
        consents=(),
        registered_by=TP,
        registered_at=AT,
    )


def principal(role: Role, user_id: str = COORDINATOR, *wijken: str) -> Principal:
    """A caller with one role."""
    return Principal(user_id=user_id, role=role, wijken=frozenset(wijken), token_id="t")


def test_an_update_changes_only_the_fields_named() -> None:
    before = replace(family(), phone="030 123 4567", notes="kept")
    address = Address("Amsterdamsestraatweg", "12a", "3513 AB", "Utrecht")
    after = update_family(before, UpdateFamily(address=address, notes=None))
    assert after.address == address
    assert after.notes is None
    assert after.phone == "030 123 4567"
    assert (after.members, after.wijk, after.consents) == (
        before.members,
        before.wijk,
        before.consents,
    )


def test_an_update_replaces_the_members_as_a_whole() -> None:
    after = update_family(family(MOTHER), UpdateFamily(members=(FATHER,)))
    assert after.members == (FATHER,)


def test_reassigning_the_trusted_person_records_history_and_a_thin_event() -> None:
    before = family()
    after, event = reassign(before, Reassign(trusted_person_id=NEW_TP), assigned_by="c", now=AT)
    assert after.trusted_person_id == NEW_TP
    (record,) = after.assignments
    assert (record.previous_trusted_person_id, record.assigned_by) == (TP, "c")
    assert event is not None
    assert event.model_dump() == {
        "family_id": before.id,
        "trusted_person_id": NEW_TP,
        "father_trusted_person_id": None,
        "previous_trusted_person_id": TP,
        "reassigned_at": AT,
    }


def test_naming_the_current_assignment_changes_nothing() -> None:
    before = family()
    after, event = reassign(before, Reassign(trusted_person_id=TP), assigned_by="c", now=AT)
    assert (after, event) == (before, None)


def test_a_fathers_trusted_person_needs_a_father_in_tussen_in() -> None:
    with pytest.raises(AssignmentError):
        reassign(
            family(MOTHER), Reassign(father_trusted_person_id=FATHER_TP), assigned_by="c", now=AT
        )
    no_project = family(MOTHER, FATHER, projects=())
    with pytest.raises(AssignmentError):
        reassign(no_project, Reassign(father_trusted_person_id=FATHER_TP), assigned_by="c", now=AT)
    after, event = reassign(
        family(MOTHER, FATHER),
        Reassign(father_trusted_person_id=FATHER_TP),
        assigned_by="c",
        now=AT,
    )
    assert after.father_trusted_person_id == FATHER_TP
    assert event is not None
    assert event.previous_trusted_person_id is None  # the family's own trusted person stayed
    removed, _ = reassign(after, Reassign(father_trusted_person_id=None), assigned_by="c", now=AT)
    assert removed.father_trusted_person_id is None
    assert len(removed.assignments) == 2


def test_the_fathers_trusted_person_reads_and_updates_the_family() -> None:
    supported = replace(family(MOTHER, FATHER), father_trusted_person_id=FATHER_TP)
    him = principal(Role.TRUSTED_PERSON, FATHER_TP)
    assert may_read(him, supported)
    assert may_update(him, supported)
    assert not may_assign(him, supported)


@pytest.mark.parametrize(
    ("caller", "assigns"),
    [
        pytest.param(principal(Role.COORDINATOR, COORDINATOR, "overvecht"), True, id="coordinator"),
        pytest.param(principal(Role.COORDINATOR, COORDINATOR, "zuid"), False, id="other-wijk"),
        pytest.param(principal(Role.TRUSTED_PERSON, TP, "overvecht"), False, id="trusted-person"),
        pytest.param(principal(Role.ADMIN, COORDINATOR, *Wijk), False, id="admin"),
    ],
)
def test_may_assign(caller: Principal, assigns: bool) -> None:
    assert may_assign(caller, family()) is assigns


def test_only_a_coordinator_moves_a_family_and_only_into_her_wijken() -> None:
    assert may_move_to(principal(Role.COORDINATOR, COORDINATOR, "zuid"), "zuid")
    assert not may_move_to(principal(Role.COORDINATOR, COORDINATOR, "zuid"), "west")
    assert not may_move_to(principal(Role.TRUSTED_PERSON, TP, "west"), "west")


@pytest.mark.parametrize(
    ("header", "version"),
    [
        ('"3"', 3),
        ('"12"', 12),
        (None, None),
        ("3", None),
        ("*", None),
        ('W/"3"', None),
        ('""', None),
    ],
)
def test_parse_if_match(header: str | None, version: int | None) -> None:
    assert parse_if_match(header) == version


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    position = (AT, str(uuid.uuid4()))
    assert decode_cursor(encode_cursor(position)) == position
    for bad in ("", "not base64!", "bnVsbA", encode_cursor((AT, "x"))[:-3]):
        with pytest.raises(BadCursorError):
            decode_cursor(bad)


def test_paging_walks_every_match_once_in_registration_order() -> None:
    families = [replace(family(), registered_at=AT + timedelta(minutes=i % 3)) for i in range(7)]
    seen: list[str] = []
    after = None
    for _ in range(10):
        page = paginate([*families, *families[:2]], name="fat", after=after, limit=2)
        seen += [f.id for f in page.families]
        if page.next_cursor is None:
            break
        after = decode_cursor(page.next_cursor)
    expected = sorted(families, key=lambda f: (f.registered_at, f.id))
    assert seen == [f.id for f in expected]


def test_names_match_first_names_and_surnames_ignoring_case() -> None:
    candidates = [
        family(MOTHER),
        family(FATHER),
        family(Member(MemberRole.CHILD, 2016, "Sara", None, ())),
    ]
    assert len(paginate(candidates, name="EL AM", after=None, limit=10).families) == 2
    assert len(paginate(candidates, name="youss", after=None, limit=10).families) == 1
    assert paginate(candidates, name="zz", after=None, limit=10).families == []


def test_the_reassignment_event_carries_no_personal_data() -> None:
    assert personal_data_fields(FamilyReassigned) == []
