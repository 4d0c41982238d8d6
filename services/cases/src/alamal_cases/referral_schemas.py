"""Referral request and response bodies: what staff send and see (the note stays in cases)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alamal_cases.domain.referrals import (
    MAX_REASON_CODES,
    MAX_REFERRAL_NOTE_CHARS,
    OVERRIDE_REASON_PATTERN,
    ProposeReferral,
    Referral,
    ReferralState,
)
from alamal_contracts.codes import Code, LegalBasis, PartnerKind, ReferralStatus, Urgency


class ReferralIn(BaseModel):
    """A referral to propose; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    partner_id: uuid.UUID = Field(
        description="A registered, active partner: its registered kind is the referral's kind."
    )
    partner_kind: PartnerKind | None = Field(
        default=None,
        description=(
            "Optional, and never trusted: when sent it must equal the partner's registered "
            "kind (422 otherwise). Leave it out."
        ),
    )
    urgency: Urgency
    reason_codes: list[Code] = Field(min_length=1, max_length=MAX_REASON_CODES)
    note: str | None = Field(default=None, max_length=MAX_REFERRAL_NOTE_CHARS)

    def command(self) -> ProposeReferral:
        """The domain command."""
        return ProposeReferral(
            partner_id=str(self.partner_id),
            urgency=self.urgency,
            reason_codes=tuple(self.reason_codes),
            note=self.note,
            declared_kind=self.partner_kind,
        )


class OverrideIn(BaseModel):
    """A Meldcode override's reason."""

    model_config = ConfigDict(extra="forbid")

    reason_code: Annotated[str, StringConstraints(pattern=OVERRIDE_REASON_PATTERN)]


class StatusIn(BaseModel):
    """The partner's answer, recorded by a coordinator (until the partner API exists)."""

    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    outcome_code: Code | None = None


class OverrideOut(BaseModel):
    """A recorded Meldcode override."""

    reason_code: str
    by: str
    at: datetime


class ReferralOut(BaseModel):
    """A referral as shown to staff in scope, note included."""

    id: str
    case_id: str
    family_id: str
    partner_id: str
    partner_kind: PartnerKind = Field(
        description="The partner's registered kind when the referral was proposed."
    )
    urgency: Urgency
    reason_codes: list[str]
    note: str | None
    state: ReferralState
    proposed_by: str
    proposed_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    meldcode_override: OverrideOut | None
    sent_by: str | None
    sent_at: datetime | None
    sent_without_approval: bool
    legal_basis: LegalBasis | None
    outcome_code: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, r: Referral) -> ReferralOut:
        """Build the response from the domain object."""
        o = r.override
        return cls(
            id=r.id,
            case_id=r.case_id,
            family_id=r.family_id,
            partner_id=r.partner_id,
            partner_kind=r.partner_kind,
            urgency=r.urgency,
            reason_codes=list(r.reason_codes),
            note=r.note,
            state=r.state,
            proposed_by=r.proposed_by,
            proposed_at=r.proposed_at,
            approved_by=r.approved_by,
            approved_at=r.approved_at,
            meldcode_override=None
            if o is None
            else OverrideOut(reason_code=o.reason_code, by=o.by, at=o.at),
            sent_by=r.sent_by,
            sent_at=r.sent_at,
            sent_without_approval=r.sent_without_approval,
            legal_basis=r.legal_basis,
            outcome_code=r.outcome_code,
            updated_at=r.updated_at,
        )
