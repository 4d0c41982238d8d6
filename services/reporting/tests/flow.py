"""A casework flow built from the contract models, with the counts it should produce."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
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
    Event,
    FamilyReassigned,
    FamilyRegistered,
    GoalUpdated,
    MemberCount,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)

YEAR = 2003
"""Flow events happen in this year, so other tests' events (dated now) never fall in its reports."""


def at(month: int, day: int, hour: int = 10) -> datetime:
    """A UTC instant in the flow's year."""
    return datetime(YEAR, month, day, hour, tzinfo=UTC)


def new_id() -> str:
    """A fresh entity id."""
    return str(uuid.uuid4())


@dataclass
class Flow:
    """Events with their ids, in the order a real platform would publish them."""

    events: list[tuple[str, Event]] = field(default_factory=list)

    def add(self, event: Event) -> None:
        """Append an event under a fresh event id."""
        self.events.append((new_id(), event))


def family(
    flow: Flow,
    *,
    wijk: Wijk,
    reporting: bool = True,
    children: int = 2,
    withdraw: bool = False,
    referral: bool = False,
) -> str:
    """Register a family and run its casework: a case, two contacts, a goal, maybe a referral."""
    family_id, case_id, tp = new_id(), new_id(), new_id()
    members = [MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1)]
    if children:
        members.append(
            MemberCount(role=MemberRole.CHILD, age_band=AgeBand.AGE_4_11, count=children)
        )
    consents = [ConsentFlag(purpose=ConsentPurpose.CARE, granted=True)]
    if reporting:
        consents.append(ConsentFlag(purpose=ConsentPurpose.REPORTING, granted=True))
    flow.add(
        FamilyRegistered(
            family_id=family_id,
            wijk=wijk,
            projects=(Project.OPVOEDONDERSTEUNING,),
            member_counts=tuple(members),
            languages=("ar", "nl"),
            intake_source=IntakeSource.SCHOOL,
            trusted_person_id=tp,
            consents=tuple(consents),
            registered_at=at(1, 15),
        )
    )
    flow.add(
        CaseOpened(
            family_id=family_id,
            case_id=case_id,
            trusted_person_id=tp,
            wijk=wijk,
            opened_at=at(2, 1),
        )
    )
    flow.add(
        FamilyReassigned(family_id=family_id, trusted_person_id=new_id(), reassigned_at=at(2, 2))
    )
    for kind, day in (
        (VisitKind.HOME_VISIT, date(YEAR, 3, 3)),
        (VisitKind.PHONE, date(YEAR, 4, 4)),
    ):
        flow.add(
            VisitLogged(
                family_id=family_id,
                visit_id=new_id(),
                case_id=case_id,
                kind=kind,
                occurred_on=day,
                duration_minutes=45,
                topic_codes=(TopicCode.PARENTING, TopicCode.SCHOOL),
                trusted_person_id=tp,
            )
        )
    goal_id = new_id()
    for revision, status in ((1, GoalStatus.OPEN), (2, GoalStatus.REACHED)):
        flow.add(
            GoalUpdated(
                family_id=family_id,
                goal_id=goal_id,
                case_id=case_id,
                area=TopicCode.PARENTING,
                status=status,
                revision=revision,
                updated_at=at(3 + revision, 1),
            )
        )
    if referral:
        referral_id, partner_id = new_id(), new_id()
        flow.add(
            ReferralEscalated(
                family_id=family_id,
                referral_id=referral_id,
                case_id=case_id,
                partner_id=partner_id,
                partner_kind=PartnerKind.YOUTH_CARE,
                urgency=Urgency.ROUTINE,
                reason_codes=("parenting-stress",),
                legal_basis=LegalBasis.CONSENT,
                escalated_at=at(5, 1),
            )
        )
        flow.add(
            ReferralUpdated(
                family_id=family_id,
                referral_id=referral_id,
                partner_id=partner_id,
                status=ReferralStatus.ACCEPTED,
                updated_at=at(5, 1) + timedelta(days=3),
            )
        )
    if withdraw:
        flow.add(
            ConsentChanged(
                family_id=family_id,
                purpose=ConsentPurpose.REPORTING,
                granted=False,
                changed_at=at(6, 1),
                consent_text_version="2003-01",
            )
        )
    flow.add(
        CaseClosed(
            family_id=family_id,
            case_id=case_id,
            outcome_codes=("goals-reached",),
            closed_at=at(11, 1),
        )
    )
    return family_id


def standard_flow() -> Flow:
    """13 counted families (6 zuid with referrals, 5 west, 2 oost) and 2 that must not count."""
    flow = Flow()
    for _ in range(6):
        family(flow, wijk=Wijk.ZUID, referral=True)
    for _ in range(5):
        family(flow, wijk=Wijk.WEST, children=4)
    for _ in range(2):
        family(flow, wijk=Wijk.OOST, children=0)
    family(flow, wijk=Wijk.ZUID, reporting=False, referral=True)
    family(flow, wijk=Wijk.WEST, withdraw=True)
    return flow
