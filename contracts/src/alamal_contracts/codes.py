"""Domain codes carried by events: closed enums, plus regex-constrained open codes.

Adding a value to an enum is a compatible change; removing or renaming one is breaking and
needs a new event version. Consumers should be upgraded before producers emit a new value.
"""

from enum import StrEnum
from types import MappingProxyType
from typing import Annotated, Final

from pydantic import StringConstraints

CODE_PATTERN: Final = r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$"
LANGUAGE_PATTERN: Final = r"^[a-z]{2}$"

Code = Annotated[str, StringConstraints(pattern=CODE_PATTERN, max_length=64)]
"""An open code (outcome, reason): lowercase words joined by `-` or `_`, never free text."""

LanguageCode = Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]
"""An ISO 639-1 language code, lowercase, e.g. `nl`, `ar`, `tr`, `ti`."""


class Wijk(StrEnum):
    """The ten official wijken of Utrecht.

    Neighbourhoods users name in the glossary are parts of these: Kanaleneiland is in Zuidwest,
    Lombok in West, Zuilen in Noordwest and Hoograven in Zuid.
    """

    WEST = "west"
    NOORDWEST = "noordwest"
    OVERVECHT = "overvecht"
    NOORDOOST = "noordoost"
    OOST = "oost"
    BINNENSTAD = "binnenstad"
    ZUID = "zuid"
    ZUIDWEST = "zuidwest"
    LEIDSCHE_RIJN = "leidsche-rijn"
    VLEUTEN_DE_MEERN = "vleuten-de-meern"


class Project(StrEnum):
    """A programme a family takes part in; extend by adding values."""

    TUSSEN_IN = "tussen-in"
    OPVOEDONDERSTEUNING = "opvoedondersteuning"
    JONGEREN = "jongeren"
    VROUWEN_EMPOWERMENT = "vrouwen-empowerment"


class MemberRole(StrEnum):
    """The role of a household member in the family."""

    MOTHER = "mother"
    FATHER = "father"
    CHILD = "child"
    YOUTH = "youth"
    OTHER = "other"


class AgeBand(StrEnum):
    """An age band in completed years; events carry bands, never birth dates."""

    AGE_0_3 = "0-3"
    AGE_4_11 = "4-11"
    AGE_12_17 = "12-17"
    AGE_18_23 = "18-23"
    AGE_24_64 = "24-64"
    AGE_65_PLUS = "65+"


class IntakeSource(StrEnum):
    """How the family came in."""

    SELF = "self"
    SCHOOL = "school"
    GP = "gp"
    WIJKTEAM = "wijkteam"
    POLICE = "police"
    YOUTH_CARE = "youth-care"
    GGD = "ggd"
    WELFARE = "welfare"
    VEILIG_THUIS = "veilig-thuis"
    COMMUNITY = "community"
    OTHER = "other"


class PartnerKind(StrEnum):
    """The kind of partner institution a referral goes to."""

    POLICE = "police"
    YOUTH_CARE = "youth-care"
    GGD = "ggd"
    WELFARE = "welfare"
    VEILIG_THUIS = "veilig-thuis"
    SCHOOL = "school"
    WIJKTEAM = "wijkteam"
    OTHER = "other"


class ConsentPurpose(StrEnum):
    """A purpose the family consents to (or not): care, reporting, sharing per partner kind."""

    CARE = "care"
    REPORTING = "reporting"
    SHARE_POLICE = "share-police"
    SHARE_YOUTH_CARE = "share-youth-care"
    SHARE_GGD = "share-ggd"
    SHARE_WELFARE = "share-welfare"
    SHARE_VEILIG_THUIS = "share-veilig-thuis"
    SHARE_SCHOOL = "share-school"
    SHARE_WIJKTEAM = "share-wijkteam"


SHARE_PURPOSE: Final = MappingProxyType(
    {
        PartnerKind.POLICE: ConsentPurpose.SHARE_POLICE,
        PartnerKind.YOUTH_CARE: ConsentPurpose.SHARE_YOUTH_CARE,
        PartnerKind.GGD: ConsentPurpose.SHARE_GGD,
        PartnerKind.WELFARE: ConsentPurpose.SHARE_WELFARE,
        PartnerKind.VEILIG_THUIS: ConsentPurpose.SHARE_VEILIG_THUIS,
        PartnerKind.SCHOOL: ConsentPurpose.SHARE_SCHOOL,
        PartnerKind.WIJKTEAM: ConsentPurpose.SHARE_WIJKTEAM,
    }
)
"""The consent purpose that allows sharing with a partner kind (`other` has none)."""


class VisitKind(StrEnum):
    """The kind of contact with a family."""

    HOME_VISIT = "home-visit"
    PHONE = "phone"
    OFFICE = "office"
    GROUP_MEETING = "group-meeting"
    ACCOMPANY = "accompany"


class TopicCode(StrEnum):
    """A life domain a contact was about."""

    PARENTING = "parenting"
    SCHOOL = "school"
    MONEY = "money"
    HEALTH = "health"
    HOUSING = "housing"
    SAFETY = "safety"
    LANGUAGE = "language"
    WORK = "work"


class Urgency(StrEnum):
    """How fast a partner must act on a referral."""

    ROUTINE = "routine"
    URGENT = "urgent"
    ACUTE = "acute"


class LegalBasis(StrEnum):
    """Why sharing with the partner is lawful: consent, or the Meldcode safety override."""

    CONSENT = "consent"
    MELDCODE_OVERRIDE = "meldcode-override"


class ReferralStatus(StrEnum):
    """A referral's status as reported by the partner."""

    ACCEPTED = "accepted"
    DECLINED = "declined"
    CLOSED = "closed"


class GoalStatus(StrEnum):
    """Where a goal of a family's strengths-based plan stands."""

    OPEN = "open"
    IN_PROGRESS = "in-progress"
    REACHED = "reached"
    STOPPED = "stopped"


class EndpointDisabledReason(StrEnum):
    """Why the notifications service disabled a partner's webhook endpoint."""

    GONE = "gone"
    """The endpoint answered 410 Gone."""
    FAILING = "failing"
    """Every attempt failed for longer than the configured period."""


_BAND_FLOORS: Final = (
    (65, AgeBand.AGE_65_PLUS),
    (24, AgeBand.AGE_24_64),
    (18, AgeBand.AGE_18_23),
    (12, AgeBand.AGE_12_17),
    (4, AgeBand.AGE_4_11),
    (0, AgeBand.AGE_0_3),
)


def age_band(birth_year: int, on_year: int) -> AgeBand:
    """Return the band of the age reached in `on_year` (`on_year - birth_year`)."""
    age = on_year - birth_year
    if age < 0:
        raise ValueError("birth_year is after on_year")
    return next(band for floor, band in _BAND_FLOORS if age >= floor)
