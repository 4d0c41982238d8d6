"""Intake's domain (unit, no I/O): registering a family and the thin event it announces."""

from __future__ import annotations

import dataclasses
import itertools
import json
from datetime import UTC, datetime

import pytest

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    MemberRole,
    Project,
    Wijk,
)
from alamal_contracts.events import ConsentFlag, FamilyRegistered, MemberCount
from alamal_intake.domain import Member, RegisterFamily, member_counts, register_family

# Fixed ids and time without the planted digits, so substring checks cannot match by chance.
FAMILY_ID = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
TRUSTED_PERSON = "abcdefab-cdef-4abc-8def-abcdefabcdef"
REGISTRAR = "fedcbafe-dcba-4fed-8cba-fedcbafedcba"
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

MOTHER = Member(
    role=MemberRole.MOTHER,
    birth_year=1984,
    first_name="Fatima",
    surname="El Amrani",
    languages=("ar", "nl"),
)
CHILD = Member(
    role=MemberRole.CHILD, birth_year=2016, first_name="Yasmine", surname=None, languages=()
)
TWIN = Member(
    role=MemberRole.CHILD, birth_year=2016, first_name="Samira", surname=None, languages=()
)


def member(role: MemberRole, birth_year: int) -> Member:
    """A member with a neutral name."""
    return Member(role=role, birth_year=birth_year, first_name="X", surname=None, languages=())


COMMAND = RegisterFamily(
    members=(MOTHER, CHILD, TWIN),
    wijk=Wijk.OVERVECHT,
    projects=(Project.TUSSEN_IN, Project.JONGEREN),
    languages=("nl", "ar"),
    intake_source=IntakeSource.SCHOOL,
    trusted_person_id=TRUSTED_PERSON,
    consents=((ConsentPurpose.CARE, True), (ConsentPurpose.REPORTING, False)),
    consent_text_version="2025-01",
)
"""One mother and two children (twins)."""


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (0, AgeBand.AGE_0_3),
        (3, AgeBand.AGE_0_3),
        (4, AgeBand.AGE_4_11),
        (11, AgeBand.AGE_4_11),
        (12, AgeBand.AGE_12_17),
        (17, AgeBand.AGE_12_17),
        (18, AgeBand.AGE_18_23),
        (23, AgeBand.AGE_18_23),
        (24, AgeBand.AGE_24_64),
        (64, AgeBand.AGE_24_64),
        (65, AgeBand.AGE_65_PLUS),
        (104, AgeBand.AGE_65_PLUS),
    ],
)
def test_member_counts_put_each_age_in_its_band(age: int, band: AgeBand) -> None:
    counts = member_counts((member(MemberRole.OTHER, 2025 - age),), on_year=2025)
    assert counts == (MemberCount(role=MemberRole.OTHER, age_band=band, count=1),)


def test_member_counts_count_members_sharing_role_and_band() -> None:
    counts = member_counts((MOTHER, CHILD, TWIN), on_year=2025)
    assert counts == (
        MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),
        MemberCount(role=MemberRole.CHILD, age_band=AgeBand.AGE_4_11, count=2),
    )


def test_member_counts_keep_same_role_in_different_bands_apart() -> None:
    counts = member_counts(
        (member(MemberRole.CHILD, 2023), member(MemberRole.CHILD, 2015)), on_year=2025
    )
    assert {(c.age_band, c.count) for c in counts} == {
        (AgeBand.AGE_0_3, 1),
        (AgeBand.AGE_4_11, 1),
    }


def test_member_counts_use_the_given_year_not_today() -> None:
    (count,) = member_counts((member(MemberRole.YOUTH, 2008),), on_year=2025)
    assert count.age_band is AgeBand.AGE_12_17  # 17 in 2025, whatever year the test runs


def test_member_counts_order_is_stable_whatever_the_input_order() -> None:
    household = (
        member(MemberRole.MOTHER, 1984),
        member(MemberRole.FATHER, 1980),
        member(MemberRole.CHILD, 2016),
        member(MemberRole.CHILD, 2022),
        member(MemberRole.YOUTH, 2009),
        member(MemberRole.OTHER, 1950),
    )
    orders = {member_counts(p, on_year=2025) for p in itertools.permutations(household)}
    assert len(orders) == 1
    (counts,) = orders
    # Household order: mother, father, child, youth, other; within a role youngest band first.
    assert [(c.role.value, c.age_band.value) for c in counts] == [
        ("mother", "24-64"),
        ("father", "24-64"),
        ("child", "0-3"),
        ("child", "4-11"),
        ("youth", "12-17"),
        ("other", "65+"),
    ]
    assert sum(c.count for c in counts) == len(household)


def test_member_counts_of_no_members_is_empty() -> None:
    assert member_counts((), on_year=2025) == ()


def test_register_family_keeps_the_details_in_the_family() -> None:
    family, _ = register_family(COMMAND, family_id=FAMILY_ID, registered_by=REGISTRAR, now=NOW)
    assert family.id == FAMILY_ID
    assert family.members == (MOTHER, CHILD, TWIN)
    assert family.wijk is Wijk.OVERVECHT
    assert family.trusted_person_id == TRUSTED_PERSON
    assert family.registered_by == REGISTRAR
    assert family.registered_at == NOW
    assert [(c.purpose, c.granted) for c in family.consents] == [
        (ConsentPurpose.CARE, True),
        (ConsentPurpose.REPORTING, False),
    ]
    for consent in family.consents:
        assert consent.recorded_by == REGISTRAR
        assert consent.recorded_at == NOW
        assert consent.text_version == "2025-01"


def test_register_family_announces_a_thin_event() -> None:
    _, event = register_family(COMMAND, family_id=FAMILY_ID, registered_by=REGISTRAR, now=NOW)
    assert event == FamilyRegistered(
        family_id=FAMILY_ID,
        wijk=Wijk.OVERVECHT,
        projects=(Project.TUSSEN_IN, Project.JONGEREN),
        member_counts=(
            MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),
            MemberCount(role=MemberRole.CHILD, age_band=AgeBand.AGE_4_11, count=2),
        ),
        languages=("ar", "nl"),
        intake_source=IntakeSource.SCHOOL,
        trusted_person_id=TRUSTED_PERSON,
        consents=(
            ConsentFlag(purpose=ConsentPurpose.CARE, granted=True),
            ConsentFlag(purpose=ConsentPurpose.REPORTING, granted=False),
        ),
        registered_at=NOW,
    )


def test_register_family_bands_ages_at_the_registration_year() -> None:
    late = datetime(2030, 1, 1, tzinfo=UTC)
    _, event = register_family(
        dataclasses.replace(COMMAND, members=(member(MemberRole.YOUTH, 2012),)),
        family_id=FAMILY_ID,
        registered_by=REGISTRAR,
        now=late,
    )
    assert event.member_counts[0].age_band is AgeBand.AGE_18_23


def test_event_holds_no_names_or_birth_years() -> None:
    _, event = register_family(COMMAND, family_id=FAMILY_ID, registered_by=REGISTRAR, now=NOW)
    text = event.model_dump_json()
    for planted in ("Fatima", "El Amrani", "Yasmine", "Samira", "1984", "2016"):
        assert planted not in text
    data = json.loads(text)
    assert not {"members", "first_name", "surname", "birth_year", "registered_by"} & set(data)
    assert REGISTRAR not in text  # who typed it in stays in intake too


def test_event_lists_each_household_language_once_sorted() -> None:
    _, event = register_family(
        dataclasses.replace(COMMAND, languages=("tr", "nl", "ar")),
        family_id=FAMILY_ID,
        registered_by=REGISTRAR,
        now=NOW,
    )
    assert event.languages == ("ar", "nl", "tr")
