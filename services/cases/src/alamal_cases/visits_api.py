"""Cases' HTTP API for visits: log and list a case's contacts, and overdue follow-ups."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from alamal_cases import access, store
from alamal_cases.audit import (
    AuditedWrite,
    CasesAction,
    list_refusals,
    readable_case,
    record_shown,
)
from alamal_cases.deps import StoreDep
from alamal_cases.domain import (
    MAX_NOTE_CHARS,
    MAX_STRENGTH_CHARS,
    MAX_STRENGTHS,
    MIN_VISIT_MINUTES,
    Case,
    CaseNotOpenError,
    LogVisit,
    Visit,
    VisitRejectedError,
    local_today,
    log_visit,
    overdue_follow_ups,
)
from alamal_cases.handlers import SOURCE
from alamal_contracts.codes import TopicCode, VisitKind, Wijk
from alamal_contracts.events.cases import MAX_VISIT_MINUTES
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.auth import Principal, Role
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem, field_error
from alamal_runtime.paging import MAX_CURSOR_CHARS, page_or_422
from alamal_runtime.store import Store, UnitOfWork

router = APIRouter(tags=["visits"])
log = structlog.get_logger(__name__)

NOT_FOUND = "case not found"
Strength = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STRENGTH_CHARS)
]


class VisitIn(BaseModel):
    """A contact to log; unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")

    kind: VisitKind
    occurred_on: date
    duration_minutes: StrictInt = Field(ge=MIN_VISIT_MINUTES, le=MAX_VISIT_MINUTES)
    topic_codes: list[TopicCode] = Field(default_factory=list, max_length=len(TopicCode))
    strengths_observed: list[Strength] = Field(default_factory=list, max_length=MAX_STRENGTHS)
    private_note: str | None = Field(default=None, max_length=MAX_NOTE_CHARS)
    follow_up_on: date | None = None

    @field_validator("topic_codes")
    @classmethod
    def _distinct(cls, codes: list[TopicCode]) -> list[TopicCode]:
        if len(set(codes)) != len(codes):
            raise ValueError("each topic code at most once")
        return codes

    def command(self) -> LogVisit:
        """The domain command."""
        return LogVisit(
            kind=self.kind,
            occurred_on=self.occurred_on,
            duration_minutes=self.duration_minutes,
            topic_codes=tuple(self.topic_codes),
            strengths_observed=tuple(self.strengths_observed),
            private_note=self.private_note,
            follow_up_on=self.follow_up_on,
        )


class VisitOut(DomainView):
    """A visit as shown to staff in scope, private note included."""

    id: str
    case_id: str
    family_id: str
    wijk: Wijk
    trusted_person_id: str
    kind: VisitKind
    occurred_on: date
    duration_minutes: int
    topic_codes: list[TopicCode]
    strengths_observed: list[str]
    private_note: str | None
    follow_up_on: date | None
    logged_at: datetime


class OverdueOut(DomainView):
    """An overdue follow-up: ids and dates only."""

    case_id: str
    family_id: str
    visit_id: str
    follow_up_on: date
    days_overdue: int


@router.post("/cases/{case_id}/visits", status_code=201, response_model=VisitOut)
async def create_visit(
    case_id: uuid.UUID,
    body: VisitIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> VisitOut:
    """Log a contact on a case in scope; 404 outside it, 409 when the case is closed. Audited,
    refusals too."""
    write = AuditedWrite(store_, principal, CasesAction.LOG_VISIT, reason)

    async def work(uow: UnitOfWork) -> Visit:
        case = await store.get_case_in(uow, str(case_id))
        write.about(case)
        if case is None or not access.may_log_visit(principal, case):
            raise HTTPProblem(404, NOT_FOUND)
        try:
            visit, logged = log_visit(
                case,
                body.command(),
                visit_id=str(uuid.uuid4()),
                by=principal.user_id,
                now=datetime.now(UTC),
            )
        except CaseNotOpenError:
            raise HTTPProblem(409, "the case is closed") from None
        except VisitRejectedError as exc:
            raise field_error(exc.field, exc.message) from None
        await store.add_visit(uow, visit)
        emit(uow, logged, source=SOURCE)
        await write.done(uow)
        return visit

    async with write.refusals():
        # Re-run after a transient conflict (two visits on one case at the same moment).
        visit = await store_.with_transaction(work)
    log.info("visit_logged", case_id=visit.case_id, visit_id=visit.id)
    response.headers["Location"] = f"/cases/{visit.case_id}/visits/{visit.id}"
    return VisitOut.of(visit)


class VisitPage(BaseModel):
    """One page of a case's visits; pass `next_cursor` as `cursor` for the next page."""

    results: list[VisitOut]
    next_cursor: str | None


@router.get("/cases/{case_id}/visits", response_model=VisitPage)
async def list_visits(
    case_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    reason: AccessReason = DEFAULT_REASON,
) -> VisitPage:
    """A case's visits, newest first, paged (audited); 404 when missing or out of scope."""
    case = await readable_case(store_, case_id, principal, CasesAction.READ_VISITS, reason)
    visits = await store.visits_of_cases(store_, [case])
    page = page_or_422(
        visits,
        key=lambda v: (v.occurred_on.isoformat(), v.logged_at.isoformat(), v.id),
        key_parts=3,
        cursor=cursor,
        limit=limit,
        descending=True,
    )
    return VisitPage(results=[VisitOut.of(v) for v in page.items], next_cursor=page.next_cursor)


@router.get("/cases/{case_id}/visits/{visit_id}", response_model=VisitOut)
async def read_visit(
    case_id: uuid.UUID,
    visit_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> VisitOut:
    """One visit of a case in scope (audited); 404 otherwise."""
    case = await readable_case(store_, case_id, principal, CasesAction.READ_VISIT, reason)
    visit = await store.get_visit(store_, str(visit_id))
    if visit is None or visit.case_id != case.id:
        raise HTTPProblem(404, "visit not found")
    return VisitOut.of(visit)


@router.get("/follow-ups/overdue", response_model=list[OverdueOut], tags=["visits"])
async def list_overdue(
    principal: CurrentPrincipal,
    store_: StoreDep,
    wijk: Wijk | None = None,
    reason: AccessReason = DEFAULT_REASON,
) -> list[OverdueOut]:
    """Overdue follow-ups on open cases: a trusted person's own, or a coordinator's wijken.
    Audited per family shown; a refusal once."""
    action = CasesAction.READ_OVERDUE.value
    async with list_refusals(store_, principal, action, reason):
        cases = await cases_in_scope(store_, principal, wijk)
    visits = await store.visits_of_cases(store_, cases)
    today = local_today(datetime.now(UTC))
    overdue = overdue_follow_ups(visits, today)
    await record_shown(store_, principal, action, (o.family_id for o in overdue), reason)
    return [OverdueOut.of(o) for o in overdue]


async def cases_in_scope(store_: Store, principal: Principal, wijk: Wijk | None) -> list[Case]:
    """Open cases the caller works on: those she holds, or her wijken's (403 for other roles)."""
    if principal.role is Role.TRUSTED_PERSON:
        if wijk is not None:
            raise HTTPProblem(403, "a trusted person sees her own caseload only")
        return await store.cases_held_by(store_, principal.user_id)
    if principal.role is Role.COORDINATOR:
        if wijk is not None and wijk.value not in principal.wijken:
            raise HTTPProblem(403, "wijk outside your scope")
        wijken = [wijk] if wijk is not None else [w for w in Wijk if w.value in principal.wijken]
        return [c for w in wijken for c in await store.cases_in_wijk(store_, w)]
    raise HTTPProblem(403, "not allowed for your role")
