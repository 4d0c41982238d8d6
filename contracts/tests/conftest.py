"""Shared fixtures: one valid instance of every event."""

from datetime import UTC, date, datetime

import pytest

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    EndpointDisabledReason,
    GoalStatus,
    IntakeSource,
    LegalBasis,
    MemberRole,
    PartnerKind,
    Project,
    ReferralStatus,
    TopicCode,
    Urgency,
    VisitKind,
    Wijk,
)
from alamal_contracts.events import (
    CaseClosed,
    CaseOpened,
    ConsentChanged,
    ConsentFlag,
    EndpointDisabled,
    EventBase,
    FamilyReassigned,
    FamilyRegistered,
    GoalUpdated,
    MemberCount,
    PartnerChanged,
    PartnerRegistered,
    PartnerStatusReported,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)
from alamal_contracts.events.erasure import CONFIRMATIONS, FamilyErasureRequested

FAMILY = "0b9f4c1e-7d52-4a1b-9b43-5f0c2e8a1d01"
CASE = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e02"
STAFF = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f03"
PARTNER = "3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a04"
REFERRAL = "4f5a6b7c-8d9e-4f0a-9b2c-3d4e5f6a7b05"
VISIT = "5a6b7c8d-9e0f-4a1b-8c3d-4e5f6a7b8c06"
REQUEST = "6b7c8d9e-0f1a-4b2c-9d4e-5f6a7b8c9d07"
AT = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def make_events() -> list[EventBase]:
    """Return one valid instance of every event model."""
    return [
        FamilyRegistered(
            family_id=FAMILY,
            wijk=Wijk.OVERVECHT,
            projects=(Project.TUSSEN_IN,),
            member_counts=(
                MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),
                MemberCount(role=MemberRole.CHILD, age_band=AgeBand.AGE_4_11, count=2),
            ),
            languages=("ar", "nl"),
            intake_source=IntakeSource.SCHOOL,
            trusted_person_id=STAFF,
            consents=(
                ConsentFlag(purpose=ConsentPurpose.CARE, granted=True),
                ConsentFlag(purpose=ConsentPurpose.REPORTING, granted=False),
            ),
            registered_at=AT,
        ),
        ConsentChanged(
            family_id=FAMILY,
            purpose=ConsentPurpose.SHARE_SCHOOL,
            granted=True,
            changed_at=AT,
            consent_text_version="2025-01",
        ),
        CaseOpened(
            case_id=CASE, family_id=FAMILY, trusted_person_id=STAFF, wijk=Wijk.WEST, opened_at=AT
        ),
        CaseClosed(
            case_id=CASE, family_id=FAMILY, outcome_codes=("goals-met", "moved_out"), closed_at=AT
        ),
        VisitLogged(
            visit_id=VISIT,
            case_id=CASE,
            family_id=FAMILY,
            kind=VisitKind.HOME_VISIT,
            occurred_on=date(2025, 3, 1),
            duration_minutes=90,
            topic_codes=(TopicCode.PARENTING, TopicCode.MONEY),
            trusted_person_id=STAFF,
        ),
        ReferralEscalated(
            referral_id=REFERRAL,
            case_id=CASE,
            family_id=FAMILY,
            partner_id=PARTNER,
            partner_kind=PartnerKind.VEILIG_THUIS,
            urgency=Urgency.URGENT,
            reason_codes=("child-safety",),
            legal_basis=LegalBasis.MELDCODE_OVERRIDE,
            escalated_at=AT,
        ),
        ReferralUpdated(
            referral_id=REFERRAL,
            family_id=FAMILY,
            partner_id=PARTNER,
            status=ReferralStatus.ACCEPTED,
            updated_at=AT,
        ),
        # Appended last: tests pick earlier samples by index.
        FamilyReassigned(
            family_id=FAMILY,
            trusted_person_id=STAFF,
            father_trusted_person_id=VISIT,
            previous_trusted_person_id=CASE,
            reassigned_at=AT,
        ),
        GoalUpdated(
            family_id=FAMILY,
            goal_id=VISIT,
            case_id=CASE,
            area=TopicCode.SCHOOL,
            status=GoalStatus.REACHED,
            revision=3,
            updated_at=AT,
        ),
        PartnerStatusReported(
            family_id=FAMILY,
            referral_id=REFERRAL,
            partner_id=PARTNER,
            status=ReferralStatus.CLOSED,
            outcome_code="support-started",
            reported_at=AT,
        ),
        EndpointDisabled(
            endpoint_id=VISIT,
            partner_id=PARTNER,
            reason=EndpointDisabledReason.GONE,
            disabled_at=AT,
        ),
        FamilyErasureRequested(family_id=FAMILY, request_id=REQUEST),
        *(confirmation(family_id=FAMILY, request_id=REQUEST) for confirmation in CONFIRMATIONS),
        PartnerRegistered(
            partner_id=PARTNER, kind=PartnerKind.YOUTH_CARE, active=True, revision=1, changed_at=AT
        ),
        PartnerChanged(
            partner_id=PARTNER, kind=PartnerKind.POLICE, active=False, revision=2, changed_at=AT
        ),
    ]


@pytest.fixture(params=make_events(), ids=lambda e: type(e).__name__)
def event(request: pytest.FixtureRequest) -> EventBase:
    """Each valid sample event in turn."""
    sample: EventBase = request.param
    return sample
