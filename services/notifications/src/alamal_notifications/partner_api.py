"""The partner API (`/partner/v1`): a partner reads its referrals and reports their status.

Partners authenticate with HTTP Basic (client id and secret from the admin). Wrong or missing
credentials get 401 without detail; another partner's referral gets the same 404 as an unknown
one. Names, notes and addresses never reach this service: events are thin.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, ConfigDict

from alamal_contracts.codes import Code, LegalBasis, ReferralStatus, Urgency
from alamal_contracts.events import PartnerStatusReported
from alamal_notifications import credentials, privacy
from alamal_notifications import store as repo
from alamal_notifications.deps import ServicesDep
from alamal_notifications.domain.referrals import (
    IllegalStatusError,
    ReferralView,
    check_transition,
    merge_status,
)
from alamal_notifications.gate import details_shared
from alamal_notifications.operational import SOURCE
from alamal_runtime.events import emit
from alamal_runtime.http import HTTPProblem

router = APIRouter(prefix="/partner/v1", tags=["partner"])
log = structlog.get_logger(__name__)
_basic = HTTPBasic(auto_error=False, realm="partner")
NOT_FOUND = "referral not found"
ERASED = "the referral was erased at the family's request; erase what you hold about it"


async def _partner_id(
    services: ServicesDep,
    presented: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> str:
    unauthorized = HTTPProblem(
        401, "not authenticated", {"WWW-Authenticate": 'Basic realm="partner"'}
    )
    if presented is None:
        raise unauthorized
    partner_id = await credentials.authenticate(
        services.store, presented.username, presented.password
    )
    if partner_id is None:
        raise unauthorized
    structlog.contextvars.bind_contextvars(partner_id=partner_id)
    return partner_id


PartnerDep = Annotated[str, Depends(_partner_id)]


class PartnerReferralOut(BaseModel):
    """A referral as its partner sees it; the gated fields are null unless `details_shared`."""

    referral_id: str
    case_id: str | None
    status: str
    outcome_code: str | None
    updated_at: datetime | None
    details_shared: bool
    urgency: Urgency | None = None
    reason_codes: list[str] | None = None
    legal_basis: LegalBasis | None = None
    escalated_at: datetime | None = None


class StatusIn(BaseModel):
    """A status the partner reports: accepted or declined, then closed (with an outcome)."""

    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    outcome_code: Code | None = None


class StatusAccepted(BaseModel):
    """The report was queued for the cases service."""

    referral_id: str
    status: ReferralStatus


async def _own_referral(uow: repo.Reader, referral_id: str, partner_id: str) -> ReferralView:
    view = await repo.get_referral(uow, referral_id)
    if view is None and await privacy.erased_referral(uow, referral_id) == partner_id:
        # The family was erased (AVG art. 17): the partner was told by webhook to erase too.
        raise HTTPProblem(410, ERASED)
    if view is None or view.partner_id != partner_id or not view.escalated:
        raise HTTPProblem(404, NOT_FOUND)
    return view


@router.get("/referrals/{referral_id}", response_model=PartnerReferralOut)
async def read_referral(
    referral_id: uuid.UUID, partner_id: PartnerDep, services: ServicesDep
) -> PartnerReferralOut:
    """A referral addressed to the caller, with details only as consent or Meldcode allow."""
    store = services.store
    view = await _own_referral(store, str(referral_id), partner_id)
    shared = await details_shared(store, view)
    log.info("partner_read_referral", referral_id=view.referral_id, details_shared=shared)
    out = PartnerReferralOut(
        referral_id=view.referral_id,
        case_id=view.case_id,
        status=view.status,
        outcome_code=view.outcome_code,
        updated_at=view.updated_at,
        details_shared=shared,
    )
    if shared:
        out.urgency = view.urgency
        out.reason_codes = list(view.reason_codes)
        out.legal_basis = view.legal_basis
        out.escalated_at = view.escalated_at
    return out


@router.post("/referrals/{referral_id}/status", status_code=202, response_model=StatusAccepted)
async def report_status(
    referral_id: uuid.UUID, body: StatusIn, partner_id: PartnerDep, services: ServicesDep
) -> StatusAccepted:
    """Report accepted / declined / closed; 409 if it does not follow the current status."""
    now = datetime.now(UTC)
    async with services.store.transaction() as uow:
        view = await _own_referral(uow, str(referral_id), partner_id)
        try:
            check_transition(view, body.status)
        except IllegalStatusError:
            raise HTTPProblem(409, f"the referral is {view.status}") from None
        # The partner's own report moves the projection at once (a second `accepted` is a 409);
        # cases applies it and echoes it back as cases.referral-updated.v1.
        await repo.put_referral(
            uow,
            merge_status(
                view,
                referral_id=view.referral_id,
                family_id=view.family_id,
                partner_id=partner_id,
                status=body.status.value,
                outcome_code=body.outcome_code,
                at=now,
            ),
        )
        emit(
            uow,
            PartnerStatusReported(
                family_id=view.family_id,
                referral_id=view.referral_id,
                partner_id=partner_id,
                status=body.status,
                outcome_code=body.outcome_code,
                reported_at=now,
            ),
            source=SOURCE,
        )
    log.info("partner_status_reported", referral_id=view.referral_id, status=body.status.value)
    return StatusAccepted(referral_id=view.referral_id, status=body.status)
