"""The coordinator's day and the timeline: domain rules (unit) and the routes (integration)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from alamal_cases import plan_store, referral_store
from alamal_cases.domain import Case, CaseStatus, Visit, local_today
from alamal_cases.domain.agenda import agenda
from alamal_cases.domain.plan import add_goal, update_goal
from alamal_cases.domain.referrals import MeldcodeOverride, Referral, ReferralState
from alamal_cases.domain.timeline import EntryKind, timeline
from alamal_cases.store import add_visit
from alamal_contracts.codes import GoalStatus, PartnerKind, TopicCode, Urgency, VisitKind, Wijk
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller, seed_case

TODAY = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
HOLDER = str(uuid.uuid4())
CASE = Case(
    id=str(uuid.uuid4()),
    family_id=str(uuid.uuid4()),
    wijk=Wijk.OVERVECHT,
    trusted_person_id=HOLDER,
    status=CaseStatus.OPEN,
    opened_at=NOW - timedelta(days=90),
)


def visit(
    case: Case, on: date, follow_up: date | None, *, note: str | None = None, by: str = HOLDER
) -> Visit:
    """A visit on `case`."""
    return Visit(
        id=str(uuid.uuid4()),
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk,
        trusted_person_id=by,
        kind=VisitKind.HOME_VISIT,
        occurred_on=on,
        duration_minutes=45,
        topic_codes=(TopicCode.SCHOOL,),
        strengths_observed=("Warm contact with the school",),
        private_note=note,
        follow_up_on=follow_up,
        logged_at=datetime.combine(on, datetime.min.time(), UTC) + timedelta(hours=15),
    )


def referral(case: Case, urgency: Urgency, proposed_at: datetime, **kw: Any) -> Referral:
    """A proposed referral on `case`."""
    return Referral(
        id=str(uuid.uuid4()),
        case_id=case.id,
        family_id=case.family_id,
        partner_id=str(uuid.uuid4()),
        partner_kind=kw.pop("kind", PartnerKind.WELFARE),
        urgency=urgency,
        reason_codes=("debts",),
        note=kw.pop("note", None),
        state=kw.pop("state", ReferralState.PROPOSED),
        proposed_by=HOLDER,
        proposed_at=proposed_at,
        **kw,
    )


# --- unit: the agenda -------------------------------------------------------------------------


def test_the_agenda_lists_pending_follow_ups_up_to_the_horizon_overdue_first() -> None:
    other = replace(CASE, id=str(uuid.uuid4()), family_id=str(uuid.uuid4()))
    late = visit(other, TODAY - timedelta(days=20), TODAY - timedelta(days=6))
    soon = visit(CASE, TODAY - timedelta(days=3), TODAY + timedelta(days=5))
    later = visit(CASE, TODAY - timedelta(days=2), TODAY + timedelta(days=30))
    items = agenda([CASE, other], [late, soon, later], TODAY, days=7)
    assert [i.visit_id for i in items] == [late.id, soon.id]
    assert [i.days_overdue for i in items] == [6, 0]
    assert [i.visit_id for i in agenda([CASE, other], [late, soon, later], TODAY, days=31)] == [
        late.id,
        soon.id,
        later.id,
    ]


def test_a_contact_on_or_after_the_date_meets_the_follow_up_and_closed_cases_drop_out() -> None:
    planned = visit(CASE, TODAY - timedelta(days=14), TODAY - timedelta(days=7))
    met = visit(CASE, TODAY - timedelta(days=7), None)
    assert agenda([CASE], [planned, met], TODAY, days=7) == []
    closed = replace(CASE, status=CaseStatus.CLOSED)
    assert agenda([closed], [planned], TODAY, days=7) == []
    assert agenda([], [], TODAY, days=7) == []


# --- unit: the timeline -----------------------------------------------------------------------


def test_the_timeline_holds_every_kind_of_entry_newest_first() -> None:
    v = visit(CASE, TODAY - timedelta(days=10), None, note="Spoke about the school")
    goal, _ = add_goal(
        CASE,
        goal_id=str(uuid.uuid4()),
        area=TopicCode.SCHOOL,
        description="On time at school",
        existing_goals=0,
        by=HOLDER,
        now=NOW - timedelta(days=9),
    )
    goal, _ = update_goal(
        CASE, goal, status=GoalStatus.IN_PROGRESS, note="Two weeks on time", by=HOLDER, now=NOW
    )
    sent = referral(
        CASE,
        Urgency.URGENT,
        NOW - timedelta(days=5),
        state=ReferralState.ACCEPTED,
        note="Debts are piling up",
        sent_by=HOLDER,
        sent_at=NOW - timedelta(days=4),
        override=MeldcodeOverride("child-unsafe", HOLDER, NOW - timedelta(days=4, hours=1)),
        updated_at=NOW - timedelta(days=3),
    )
    closed = replace(CASE, status=CaseStatus.CLOSED, closed_at=NOW + timedelta(hours=1))
    entries = timeline(closed, [v], [goal], None, [sent])
    kinds = [e.kind for e in entries]
    assert kinds == [
        EntryKind.CASE_CLOSED,
        EntryKind.GOAL_PROGRESS,
        EntryKind.REFERRAL_ANSWERED,
        EntryKind.REFERRAL_SENT,
        EntryKind.MELDCODE_OVERRIDE,
        EntryKind.REFERRAL_PROPOSED,
        EntryKind.GOAL_SET,
        EntryKind.VISIT,
        EntryKind.CASE_OPENED,
    ]
    by_kind = {e.kind: e for e in entries}
    assert by_kind[EntryKind.VISIT].text == "Spoke about the school"
    assert by_kind[EntryKind.GOAL_PROGRESS].text == "Two weeks on time"
    assert by_kind[EntryKind.GOAL_SET].status == "in-progress"
    assert by_kind[EntryKind.REFERRAL_PROPOSED].text == "Debts are piling up"
    assert by_kind[EntryKind.REFERRAL_ANSWERED].status == "accepted"
    assert len({e.key for e in entries}) == len(entries), "keys are unique (paging needs it)"


# --- integration: the routes ------------------------------------------------------------------


async def _seed(store: Store, *items: Visit | Referral) -> None:
    async with store.transaction() as uow:
        for item in items:
            if isinstance(item, Visit):
                await add_visit(uow, item)
            else:
                await referral_store.add_referral(uow, item)


@pytest.mark.integration
async def test_the_inbox_lists_waiting_referrals_most_urgent_first_and_audits_them(
    client: httpx.AsyncClient, cases_store: Store, caller: Callable[..., Caller]
) -> None:
    tp = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"zuilen", "noordwest"})
    case = await seed_case(cases_store, holder=tp.user_id, wijk=Wijk.NOORDWEST)
    now = datetime.now(UTC)
    routine_old = referral(case, Urgency.ROUTINE, now - timedelta(days=3))
    routine_new = referral(case, Urgency.ROUTINE, now - timedelta(days=1))
    acute = referral(case, Urgency.ACUTE, now - timedelta(hours=1))
    approved = referral(case, Urgency.ROUTINE, now, state=ReferralState.APPROVED)
    await _seed(cases_store, routine_new, approved, acute, routine_old)
    answer = await client.get("/approvals", headers=coordinator.headers)
    assert answer.status_code == 200, answer.text
    mine = [r["referral_id"] for r in answer.json() if r["case_id"] == case.id]
    assert mine == [acute.id, routine_old.id, routine_new.id]
    assert all("note" not in r for r in answer.json())
    audit = await cases_store.find(ACCESS_AUDIT, {"family_id": case.family_id}, limit=50)
    assert [(a.data["action"], a.data["user_id"]) for a in audit] == [
        ("read-approvals", coordinator.user_id)
    ]
    assert (
        await client.get("/approvals?wijk=west", headers=coordinator.headers)
    ).status_code == 403


@pytest.mark.integration
async def test_agenda_and_one_caseload_for_a_coordinator(
    client: httpx.AsyncClient, cases_store: Store, caller: Callable[..., Caller]
) -> None:
    tp, other = caller(Role.TRUSTED_PERSON), caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"oost"})
    mine = await seed_case(cases_store, holder=tp.user_id, wijk=Wijk.OOST)
    theirs = await seed_case(cases_store, holder=other.user_id, wijk=Wijk.OOST)
    today = local_today(datetime.now(UTC))
    due = visit(mine, today - timedelta(days=3), today + timedelta(days=2), by=tp.user_id)
    overdue = visit(theirs, today - timedelta(days=20), today - timedelta(days=5))
    await _seed(cases_store, due, overdue)
    own = (await client.get("/agenda", headers=tp.headers)).json()
    assert [(i["visit_id"], i["days_overdue"]) for i in own] == [(due.id, 0)]
    hers = await client.get(
        "/agenda", params={"trusted_person_id": tp.user_id}, headers=coordinator.headers
    )
    assert [i["visit_id"] for i in hers.json()] == [due.id]
    everyone = (await client.get("/agenda", headers=coordinator.headers)).json()
    assert [i["visit_id"] for i in everyone] == [overdue.id, due.id]
    load = (await client.get(f"/caseloads/{other.user_id}", headers=coordinator.headers)).json()
    assert [(e["case_id"], e["days_overdue"]) for e in load] == [(theirs.id, 5)]
    assert (await client.get("/agenda?days=63", headers=tp.headers)).status_code == 422


@pytest.mark.integration
async def test_the_timeline_route_pages_newest_first_and_is_audited(
    client: httpx.AsyncClient, cases_store: Store, caller: Callable[..., Caller]
) -> None:
    tp = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=tp.user_id)
    today = local_today(datetime.now(UTC))
    visits = [visit(case, today - timedelta(days=d), None, note=f"note {d}") for d in (9, 5, 1)]
    goal, _ = add_goal(
        case,
        goal_id=str(uuid.uuid4()),
        area=TopicCode.WORK,
        description="Find work",
        existing_goals=0,
        by=tp.user_id,
        now=datetime.now(UTC),
    )
    await _seed(cases_store, *visits)
    async with cases_store.transaction() as uow:
        await plan_store.add_goal(uow, goal)
    first = await client.get(f"/cases/{case.id}/timeline?limit=2", headers=tp.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [e["kind"] for e in page["results"]] == ["goal-set", "visit"]
    assert page["results"][1]["text"] == "note 1"
    rest = await client.get(
        f"/cases/{case.id}/timeline",
        params={"cursor": page["next_cursor"]},
        headers=tp.headers,
    )
    assert [e["text"] for e in rest.json()["results"]] == ["note 5", "note 9", None]
    assert rest.json()["next_cursor"] is None
    bad = await client.get(f"/cases/{case.id}/timeline?cursor=nope", headers=tp.headers)
    assert bad.status_code == 422
    stranger = caller(Role.TRUSTED_PERSON)
    hidden = await client.get(f"/cases/{case.id}/timeline", headers=stranger.headers)
    assert hidden.status_code == 404
    audit = await cases_store.find(ACCESS_AUDIT, {"family_id": case.family_id}, limit=50)
    outcomes = sorted((a.data["user_id"], a.data["outcome"]) for a in audit)
    assert outcomes == sorted(
        [(tp.user_id, "allowed")] * 3 + [(stranger.user_id, "denied-or-missing")]
    )
