import re
from enum import StrEnum

import pytest
from pydantic import TypeAdapter, ValidationError

from alamal_contracts import codes
from alamal_contracts.codes import AgeBand, PartnerKind, Wijk, age_band

ENUMS = [
    codes.Wijk,
    codes.Project,
    codes.MemberRole,
    codes.AgeBand,
    codes.IntakeSource,
    codes.ConsentPurpose,
    codes.PartnerKind,
    codes.VisitKind,
    codes.TopicCode,
    codes.Urgency,
    codes.LegalBasis,
    codes.ReferralStatus,
]


@pytest.mark.parametrize(
    ("birth_year", "on_year", "band"),
    [
        (2025, 2025, AgeBand.AGE_0_3),
        (2022, 2025, AgeBand.AGE_0_3),
        (2021, 2025, AgeBand.AGE_4_11),
        (2014, 2025, AgeBand.AGE_4_11),
        (2013, 2025, AgeBand.AGE_12_17),
        (2008, 2025, AgeBand.AGE_12_17),
        (2007, 2025, AgeBand.AGE_18_23),
        (2002, 2025, AgeBand.AGE_18_23),
        (2001, 2025, AgeBand.AGE_24_64),
        (1961, 2025, AgeBand.AGE_24_64),
        (1960, 2025, AgeBand.AGE_65_PLUS),
        (1900, 2025, AgeBand.AGE_65_PLUS),
    ],
)
def test_age_band_edges(birth_year: int, on_year: int, band: AgeBand) -> None:
    assert age_band(birth_year, on_year) is band


def test_age_band_rejects_a_birth_year_in_the_future() -> None:
    with pytest.raises(ValueError, match="after"):
        age_band(2026, 2025)


def test_age_band_values_are_the_agreed_labels() -> None:
    assert [b.value for b in AgeBand] == ["0-3", "4-11", "12-17", "18-23", "24-64", "65+"]


def test_wijken_are_the_ten_official_ones() -> None:
    assert {w.value for w in Wijk} == {
        "west",
        "noordwest",
        "overvecht",
        "noordoost",
        "oost",
        "binnenstad",
        "zuid",
        "zuidwest",
        "leidsche-rijn",
        "vleuten-de-meern",
    }


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_code_values_are_lowercase_codes(enum: type[StrEnum]) -> None:
    for member in enum:
        assert re.fullmatch(r"[a-z0-9+-]+", member.value), member


def test_every_partner_kind_but_other_has_a_share_purpose() -> None:
    assert set(codes.SHARE_PURPOSE) == set(PartnerKind) - {PartnerKind.OTHER}
    for kind, purpose in codes.SHARE_PURPOSE.items():
        assert purpose.value == f"share-{kind.value}"


@pytest.mark.parametrize("good", ["nl", "ar", "tr", "ti", "so"])
def test_language_codes_accept_iso_639_1(good: str) -> None:
    assert TypeAdapter(codes.LanguageCode).validate_python(good) == good


@pytest.mark.parametrize("bad", ["NL", "nld", "n", "nl-NL", "Dutch", ""])
def test_language_codes_reject_anything_else(bad: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(codes.LanguageCode).validate_python(bad)


@pytest.mark.parametrize("bad", ["Moved Out", "moved out", "-x", "x-", "a" * 65, "", "Fatima"])
def test_open_codes_reject_free_text(bad: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(codes.Code).validate_python(bad)
