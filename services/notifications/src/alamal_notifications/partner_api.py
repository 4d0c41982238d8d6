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
from fastapi import APIRouter, Depends, Query
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alamal_contracts.codes import Code, LegalBasis, ReferralStatus, Urgency
from alamal_contracts.events import PartnerStatusReported
from alamal_notifications import credentials, partner_contract, privacy
from alamal_notifications import store as repo
from alamal_notifications.deps import Services, ServicesDep
from alamal_notifications.domain.referrals import (
    IllegalStatusError,
    ReferralView,
    check_transition,
    merge_status,
)
from alamal_notifications.gate import details_shared
from alamal_notifications.handlers import details_url
from alamal_notifications.operational import SOURCE
from alamal_runtime.audit import AuditOutcome, audit, partner_entry, write_audit
from alamal_runtime.events import emit
from alamal_runtime.http import HTTPProblem
from alamal_runtime.paging import (
    MAX_CURSOR_CHARS,
    BadCursorError,
    cursor_error,
    decode_cursor,
    encode_cursor,
)
from alamal_runtime.store import UnitOfWork

router = APIRouter(prefix=partner_contract.PREFIX, tags=["partner"])
log = structlog.get_logger(__name__)
_basic = HTTPBasic(auto_error=False, realm="partner")
NOT_FOUND = "referral not found"
ERASED = "the referral was erased at the family's request; erase what you hold about it"
DEFAULT_PAGE = 50
MAX_PAGE = 200


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

    referral_id: str = Field(description="Id of the referral.")
    status: str = Field(description="sent, accepted, declined or closed.")
    outcome_code: str | None = Field(description="Outcome code reported with the status.")
    updated_at: datetime | None = Field(description="When the status last changed (UTC).")
    details_shared: bool = Field(
        description=(
            "True while the family's consent for sharing with your registered kind is given, "
            "or (Veilig Thuis only) under a Meldcode override; the fields below are null "
            "otherwise."
        )
    )
    urgency: Urgency | None = Field(default=None, description="routine, urgent or acute.")
    reason_codes: list[str] | None = Field(default=None, description="Why the family is referred.")
    legal_basis: LegalBasis | None = Field(
        default=None, description="consent or meldcode-override."
    )
    escalated_at: datetime | None = Field(default=None, description="When it was sent (UTC).")
    family_reference: str | None = Field(
        default=None,
        description=(
            "The same for every referral of one family to your organisation (and different "
            "for every other organisation); shown only with the details."
        ),
    )


class StatusIn(BaseModel):
    """A status the partner reports: accepted or declined, then closed (with an outcome)."""

    model_config = ConfigDict(extra="forbid")

    status: ReferralStatus
    outcome_code: Code | None = None


class StatusAccepted(BaseModel):
    """The report was queued for the cases service."""

    referral_id: str
    status: ReferralStatus


READ_REFERRAL = "partner-read-referral"
LIST_REFERRALS = "partner-list-referrals"
REPORT_STATUS = "partner-report-status"
PARTNER_REASON = "partner-api"
"""Audit codes of the partner API: every read and report, refusals too, by partner id."""


async def _own_referral(uow: repo.Reader, referral_id: str, partner_id: str) -> ReferralView:
    view = await repo.get_referral(uow, referral_id)
    if view is None and await privacy.erased_referral(uow, referral_id) == partner_id:
        # The family was erased (AVG art. 17): the partner was told by webhook to erase too.
        raise RefusedError(410, ERASED, None)
    if view is None or view.partner_id != partner_id or not view.escalated:
        raise RefusedError(404, NOT_FOUND, None if view is None else view.family_id)
    return view


class RefusedError(HTTPProblem):
    """A refused partner request; carries the family it concerned for the audit."""

    def __init__(self, status_code: int, detail: str, family_id: str | None) -> None:
        super().__init__(status_code, detail)
        self.family_id = family_id


async def _audit(
    services: Services,
    partner_id: str,
    action: str,
    family_id: str | None,
    *,
    refusal: str | None = None,
    uow: UnitOfWork | None = None,
) -> None:
    record = partner_entry(
        partner_id,
        action=action,
        family_id=family_id,
        outcome=AuditOutcome.ALLOWED if refusal is None else AuditOutcome.DENIED_OR_MISSING,
        reason=PARTNER_REASON,
        now=datetime.now(UTC),
        refusal=refusal,
    )
    if uow is not None:
        await write_audit(uow, record)
    else:
        await audit(services.store, record)


@router.get("/referrals/{referral_id}", response_model=PartnerReferralOut)
async def read_referral(
    referral_id: uuid.UUID, partner_id: PartnerDep, services: ServicesDep
) -> PartnerReferralOut:
    """A referral addressed to the caller, with details only as consent or Meldcode allow.
    Audited (by partner id), refusals too."""
    store = services.store
    try:
        view = await _own_referral(store, str(referral_id), partner_id)
    except RefusedError as refused:
        code = "erased" if refused.status_code == 410 else "not-own-referral"
        await _audit(services, partner_id, READ_REFERRAL, refused.family_id, refusal=code)
        raise
    shared = await details_shared(store, view)
    await _audit(services, partner_id, READ_REFERRAL, view.family_id)
    log.info("partner_read_referral", referral_id=view.referral_id, details_shared=shared)
    out = PartnerReferralOut(
        referral_id=view.referral_id,
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
        out.family_reference = services.box.family_reference(partner_id, view.family_id)
    return out


class ListedReferral(BaseModel):
    """One referral in the reconciliation list: ids, status and when it last changed."""

    referral_id: str = Field(description="Id of the referral.")
    status: str = Field(description="sent, accepted, declined or closed.")
    changed_at: datetime = Field(
        description="When the referral last changed for you (the list's order, UTC)."
    )
    url: str = Field(description="Where to read it (details still gated).")


class ReferralList(BaseModel):
    """One page of the reconciliation list; pass `next_cursor` as `cursor` for the next one."""

    results: list[ListedReferral]
    next_cursor: str | None = Field(description="null on the last page.")


@router.get("/referrals", response_model=ReferralList)
async def list_referrals(
    partner_id: PartnerDep,
    services: ServicesDep,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Only referrals that changed at or after this instant (with offset)."),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> ReferralList:
    """The referrals addressed to the caller, oldest change first, so a partner that missed
    webhooks catches up: list `since` its last sync, follow `next_cursor` until null, then read
    each with `GET /partner/v1/referrals/{id}`. A page may hold fewer than `limit` entries."""
    bound = "" if since is None else repo.since_key(since)
    if cursor is not None:
        try:
            (position,) = decode_cursor(cursor, parts=1)
        except BadCursorError:
            raise cursor_error() from None
        bound = max(bound, position)
    views = await repo.referrals_changed_after(
        services.store, partner_id, after=bound, limit=limit + 1
    )
    page, more = views[:limit], len(views) > limit
    base = services.settings.public_base_url
    results = [
        ListedReferral(
            referral_id=v.referral_id,
            status=v.status,
            changed_at=v.changed_at,
            url=details_url(base, v.referral_id),
        )
        for v in page
        if v.escalated and v.changed_at is not None
    ]
    last = page[-1] if page else None
    next_cursor = (
        encode_cursor([repo.feed_key(last.changed_at, last.referral_id)])
        if more and last is not None and last.changed_at is not None
        else None
    )
    shown = sorted({v.family_id for v in page if v.escalated and v.changed_at is not None})
    if shown:  # one record per family whose referral the page names
        async with services.store.transaction() as uow:
            for family_id in shown:
                await _audit(services, partner_id, LIST_REFERRALS, family_id, uow=uow)
    log.info("partner_listed_referrals", count=len(results), more=more)
    return ReferralList(results=results, next_cursor=next_cursor)


@router.post("/referrals/{referral_id}/status", status_code=202, response_model=StatusAccepted)
async def report_status(
    referral_id: uuid.UUID, body: StatusIn, partner_id: PartnerDep, services: ServicesDep
) -> StatusAccepted:
    """Report accepted / declined / closed; 409 if it does not follow the current status.
    Audited (by partner id), refusals too."""
    now = datetime.now(UTC)

    async def work(uow: UnitOfWork) -> ReferralView:
        view = await _own_referral(uow, str(referral_id), partner_id)
        try:
            check_transition(view, body.status)
        except IllegalStatusError:
            raise RefusedError(409, f"the referral is {view.status}", view.family_id) from None
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
            now=now,
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
        await _audit(services, partner_id, REPORT_STATUS, view.family_id, uow=uow)
        return view

    try:
        # Re-run after a transient conflict (the same referral reported twice at once).
        view = await services.store.with_transaction(work)
    except RefusedError as refused:
        code = {404: "not-own-referral", 410: "erased"}.get(refused.status_code, "status-conflict")
        await _audit(services, partner_id, REPORT_STATUS, refused.family_id, refusal=code)
        raise
    log.info("partner_status_reported", referral_id=view.referral_id, status=body.status.value)
    return StatusAccepted(referral_id=view.referral_id, status=body.status)


partner_contract.install(router)
