"""Cases' HTTP API for visits: log and list a case's contacts, and overdue follow-ups."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

import structlog
from fastapi import APIRouter, Header, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
)

from alamal_cases import store
from alamal_cases.audit import (
    CasesAction,
    list_refusals,
    readable_case,
    record_shown,
    record_step,
)
from alamal_cases.deps import StoreDep
from alamal_cases.domain import (
    MAX_NOTE_CHARS,
    MAX_STRENGTH_CHARS,
    MAX_STRENGTHS,
    MIN_VISIT_MINUTES,
    Case,
    LogVisit,
    local_today,
    overdue_follow_ups,
)
from alamal_cases.held_visit_schemas import HeldVisitOut
from alamal_cases.visit_handlers import (
    CaseClosedError,
    Held,
    InvalidVisitError,
    KeyReusedError,
    Logged,
    RecordVisit,
    VisitRefusedError,
    fingerprint,
    record_visit,
)
from alamal_contracts.codes import TopicCode, VisitKind, Wijk
from alamal_contracts.events.cases import MAX_VISIT_MINUTES
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import CurrentPrincipal, DomainView, HTTPProblem, field_error
from alamal_runtime.paging import MAX_CURSOR_CHARS, page_or_422
from alamal_runtime.store import DuplicateError, Store, UnitOfWork

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
    captured_offline_at: AwareDatetime | None = Field(
        default=None,
        description="When a device saved this visit without a connection (sent later).",
    )

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


IDEMPOTENCY_KEY = "Idempotency-Key"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY,
        pattern=r"^[A-Za-z0-9_-]{16,64}$",
        description="A key the device made for this visit (16-64 letters, digits, - or _). "
        "The first request with a key is applied; a retry with the same key and body gets the "
        "first result again (`Idempotent-Replayed: true`), with another body a 422. Keys are "
        "per user. Required with `captured_offline_at`.",
    ),
]


@router.post(
    "/cases/{case_id}/visits",
    status_code=201,
    response_model=VisitOut,
    responses={202: {"model": HeldVisitOut, "description": "Held for a coordinator"}},
)
async def create_visit(
    case_id: uuid.UUID,
    body: VisitIn,
    principal: CurrentPrincipal,
    store_: StoreDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
    reason: AccessReason = DEFAULT_REASON,
) -> VisitOut | JSONResponse:
    """Log a contact on a case in scope; 404 outside it, 409 when the case is closed.

    A visit `captured_offline_at` (sent later from a device's queue) whose case was closed or
    moved to another trusted person meanwhile is not refused: it is held for a coordinator
    of the wijk and answered with 202 and the held visit (reason `case-closed` or
    `reassigned`). Every attempt is audited, refusals with their code.
    """
    if body.captured_offline_at is not None and idempotency_key is None:
        await record_step(
            store_, principal, CasesAction.LOG_VISIT, None, reason=reason, refusal="invalid-input"
        )
        raise RequestValidationError(
            [
                {
                    "loc": ("header", IDEMPOTENCY_KEY),
                    "msg": "required for a visit captured offline",
                    "type": "missing",
                }
            ]
        )
    command = RecordVisit(
        case_id=str(case_id),
        visit=body.command(),
        key=idempotency_key,
        # When the device saved it is how it travelled, not what it says: a first try sent
        # online and its retry from the offline queue are the same visit.
        fingerprint=fingerprint(
            str(case_id), body.model_dump(mode="json", exclude={"captured_offline_at"})
        ),
        captured_at=body.captured_offline_at,
        access_reason=reason,
    )
    try:
        result = await _record(store_, principal, command)
    except VisitRefusedError as refused:
        await record_step(
            store_,
            principal,
            CasesAction.LOG_VISIT,
            refused.family_id,
            reason=reason,
            refusal=refused.code,
        )
        log.info("visit_refused", case_id=str(case_id), refusal=refused.code)
        raise _answer(refused) from None
    replayed = {"Idempotent-Replayed": "true"} if result.replayed else {}
    if isinstance(result, Held):
        held = result.held
        log.info("visit_held", case_id=held.case_id, held_id=held.id, reason=held.reason.value)
        return JSONResponse(
            HeldVisitOut.of(held).model_dump(mode="json"),
            status_code=202,
            headers={"Location": f"/held-visits/{held.id}", **replayed},
        )
    visit = result.visit
    log.info("visit_logged", case_id=visit.case_id, visit_id=visit.id, replayed=result.replayed)
    response.headers["Location"] = f"/cases/{visit.case_id}/visits/{visit.id}"
    response.headers.update(replayed)
    return VisitOut.of(visit)


async def _record(store_: Store, principal: Principal, command: RecordVisit) -> Logged | Held:
    """Run the handler; a twin request that stored the same key first is answered as a retry."""

    async def work(uow: UnitOfWork) -> Logged | Held:
        return await record_visit(
            uow, principal, command, new_id=str(uuid.uuid4()), now=datetime.now(UTC)
        )

    for attempt in range(2):
        try:
            # Re-run after a transient conflict (two visits on one case at the same moment).
            return await store_.with_transaction(work)
        except DuplicateError:
            if attempt or command.key is None:
                raise
    raise AssertionError("unreachable")


def _answer(refused: VisitRefusedError) -> Exception:
    if isinstance(refused, InvalidVisitError):
        return field_error(refused.field, refused.message)
    if isinstance(refused, KeyReusedError):
        return RequestValidationError(
            [{"loc": ("header", IDEMPOTENCY_KEY), "msg": str(refused), "type": "value_error"}]
        )
    if isinstance(refused, CaseClosedError):
        return HTTPProblem(409, "the case is closed")
    return HTTPProblem(404, NOT_FOUND)


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
