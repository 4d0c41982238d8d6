"""A case's timeline: visits (with notes and strengths seen), plan, referrals and answers.

Shown to whoever may read the case (its trusted persons and the wijk's coordinators), audited
as one read; paged, newest first.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from alamal_cases import plan_store, referral_store, store
from alamal_cases.audit import CasesAction, readable_case
from alamal_cases.deps import StoreDep
from alamal_cases.domain.timeline import Entry, EntryKind, timeline
from alamal_runtime.audit import DEFAULT_REASON, AccessReason
from alamal_runtime.http import CurrentPrincipal
from alamal_runtime.paging import MAX_CURSOR_CHARS, page_or_422

router = APIRouter(tags=["timeline"])

READ_TIMELINE = CasesAction.READ_VISITS
"""The timeline shows the visits' notes: audited as the read it is."""


class EntryOut(BaseModel):
    """One entry; fields a kind does not use are null or empty."""

    kind: EntryKind
    on: date
    at: datetime
    ref_id: str
    by: str | None
    text: str | None
    codes: list[str]
    status: str | None
    items: list[str]
    visit_kind: str | None = None
    duration_minutes: int | None = None
    follow_up_on: date | None = None
    partner_id: str | None = None
    partner_kind: str | None = None

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        """Build the response from the domain entry."""
        return cls(
            kind=e.kind,
            on=e.on,
            at=e.at,
            ref_id=e.ref_id,
            by=e.by,
            text=e.text,
            codes=[str(c) for c in e.codes],
            status=e.status,
            items=list(e.items),
            visit_kind=None if e.visit is None else e.visit.kind.value,
            duration_minutes=None if e.visit is None else e.visit.duration_minutes,
            follow_up_on=None if e.visit is None else e.visit.follow_up_on,
            partner_id=None if e.referral is None else e.referral.partner_id,
            partner_kind=None if e.referral is None else e.referral.partner_kind.value,
        )


class TimelinePage(BaseModel):
    """One page of a case's timeline; pass `next_cursor` as `cursor` for the next page."""

    case_id: str
    family_id: str
    results: list[EntryOut]
    next_cursor: str | None


@router.get("/cases/{case_id}/timeline", response_model=TimelinePage)
async def read_timeline(
    case_id: uuid.UUID,
    principal: CurrentPrincipal,
    store_: StoreDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS)] = None,
    reason: AccessReason = DEFAULT_REASON,
) -> TimelinePage:
    """Everything written on a case in scope, newest first (audited); 404 otherwise."""
    case = await readable_case(store_, case_id, principal, READ_TIMELINE, reason)
    entries = timeline(
        case,
        await store.visits_of_cases(store_, [case]),
        await plan_store.goals_of_case(store_, case.id),
        await plan_store.get_strengths(store_, case.id),
        await referral_store.referrals_of_case(store_, case.id),
    )
    page = page_or_422(
        entries, key=lambda e: e.key, key_parts=4, cursor=cursor, limit=limit, descending=True
    )
    return TimelinePage(
        case_id=case.id,
        family_id=case.family_id,
        results=[EntryOut.of(e) for e in page.items],
        next_cursor=page.next_cursor,
    )
