"""Every role x every cases endpoint: who gets the data, who gets 404, 403 or 401 (integration).

The expectations below are written out by hand, not derived from `access`: removing or loosening
any rule there makes cells of this matrix fail. Each cell runs on a fresh case (plus a visit, a
goal and a referral in the state the endpoint needs), so a write in one cell never changes
another cell's answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alamal_cases import plan_store, referral_store
from alamal_cases.domain import CaseStatus, LogVisit, Visit, local_today
from alamal_cases.domain.consent import ConsentRecord
from alamal_cases.domain.held_visits import HoldReason, hold_visit
from alamal_cases.domain.plan import add_goal
from alamal_cases.domain.referrals import Referral, ReferralState
from alamal_cases.held_visit_store import add_held
from alamal_cases.store import add_visit
from alamal_contracts.codes import (
    ConsentPurpose,
    LegalBasis,
    PartnerKind,
    TopicCode,
    Urgency,
    VisitKind,
)
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller, seed_case, seed_partner

pytestmark = pytest.mark.integration

WELFARE_PARTNER = str(uuid.uuid4())
"""The registered welfare partner the 'propose referral' cell refers to."""

PERSONAS = (
    "holder",  # the case's trusted person
    "father",  # the father's trusted person in Tussen In
    "other_tp",  # another trusted person
    "coord",  # a coordinator of the case's wijk
    "coord_other",  # a coordinator of another wijk
    "admin",
    "operator",
    "funder",
    "privacy",  # a privacy officer: AVG requests only, no casework
    "anonymous",
)

OK, EMPTY, HIDDEN, FORBIDDEN, NO_TOKEN = "ok", "empty", "404", "403", "401"
"""`ok`: 2xx showing the case's data; `empty`: 2xx without it; else the status code."""


@dataclass(frozen=True)
class World:
    """One fresh case with a visit (overdue follow-up), a goal and a referral."""

    case_id: str
    family_id: str
    visit_id: str
    goal_id: str
    referral_id: str
    held_id: str


@dataclass(frozen=True)
class Cell:
    """One endpoint: how to call it, what state its referral needs, who may do what."""

    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None
    referral_state: ReferralState = ReferralState.PROPOSED
    referral_kind: PartnerKind = PartnerKind.WELFARE
    list_key: str | None = None
    """For list endpoints: the field whose value must be the world's id for `ok`."""


READ_CASE = {"holder": OK, "father": OK, "coord": OK}
CLOSE = {"holder": OK, "father": FORBIDDEN, "coord": OK}
DECIDE = {"holder": FORBIDDEN, "father": FORBIDDEN, "coord": OK}
LISTS = {
    "holder": OK,
    "father": OK,
    "other_tp": EMPTY,
    "coord": OK,
    "coord_other": EMPTY,
    "admin": FORBIDDEN,
    "operator": FORBIDDEN,
    "funder": FORBIDDEN,
    "privacy": FORBIDDEN,
}
OUTSIDERS = ("other_tp", "coord_other", "admin", "operator", "funder", "privacy")
BY_FAMILY = READ_CASE | dict.fromkeys(OUTSIDERS, EMPTY)
LOADS = {"coord": OK, "coord_other": EMPTY} | dict.fromkeys(
    ("holder", "father", "other_tp", "admin", "operator", "funder", "privacy"), FORBIDDEN
)

APPROVALS = {"coord": OK, "coord_other": EMPTY} | dict.fromkeys(
    ("holder", "father", "other_tp", "admin", "operator", "funder", "privacy"), FORBIDDEN
)
ONE_HOLDER = {"holder": OK, "coord": OK, "coord_other": EMPTY} | dict.fromkeys(
    ("father", "other_tp", "admin", "operator", "funder", "privacy"), FORBIDDEN
)
"""A list of one trusted person's cases: herself, or a coordinator (of her wijk, to see them)."""

HELD_LIST = (
    {"holder": OK, "coord": OK}
    | dict.fromkeys(("father", "other_tp", "coord_other"), EMPTY)
    | dict.fromkeys(("admin", "operator", "funder", "privacy"), FORBIDDEN)
)
"""Held offline visits: the author's own, and the inbox of her wijk's coordinators."""
HELD_DECIDE = {"holder": FORBIDDEN, "coord": OK}
"""Only a coordinator of the wijk decides; the author sees hers (403), anyone else 404."""

AUDIT = {"coord": OK, "admin": OK} | dict.fromkeys(
    ("holder", "father", "other_tp", "operator", "funder", "privacy"), FORBIDDEN
)
EXPORT = {"privacy": OK} | dict.fromkeys(
    ("holder", "father", "other_tp", "coord", "coord_other", "admin", "operator", "funder"),
    FORBIDDEN,
)
"""The privacy officer's export: 403 (audited) for every other role."""

CELLS: list[tuple[Cell, dict[str, str]]] = [
    (Cell("read audit", "GET", "/audit?family_id={family_id}"), AUDIT),
    (Cell("approvals inbox", "GET", "/approvals", list_key="case_id"), APPROVALS),
    (Cell("agenda", "GET", "/agenda", list_key="case_id"), LISTS),
    (
        Cell("agenda of one", "GET", "/agenda?trusted_person_id={holder_id}", list_key="case_id"),
        ONE_HOLDER,
    ),
    (Cell("caseload of one", "GET", "/caseloads/{holder_id}", list_key="case_id"), ONE_HOLDER),
    (Cell("timeline", "GET", "/cases/{case_id}/timeline"), READ_CASE),
    (Cell("export family", "GET", "/privacy/families/{family_id}/export"), EXPORT),
    (Cell("list cases of family", "GET", "/cases?family_id={family_id}", list_key="id"), BY_FAMILY),
    (Cell("read case", "GET", "/cases/{case_id}"), READ_CASE),
    (Cell("close case", "POST", "/cases/{case_id}/close", {"outcome_codes": ["done"]}), CLOSE),
    (Cell("caseload", "GET", "/caseload", list_key="case_id"), LISTS),
    (Cell("caseloads", "GET", "/caseloads", list_key="trusted_person_id"), LOADS),
    (Cell("overdue follow-ups", "GET", "/follow-ups/overdue", list_key="case_id"), LISTS),
    (
        Cell(
            "log visit",
            "POST",
            "/cases/{case_id}/visits",
            {"kind": "phone", "occurred_on": "{today}", "duration_minutes": 5},
        ),
        READ_CASE,
    ),
    (Cell("list visits", "GET", "/cases/{case_id}/visits"), READ_CASE),
    (Cell("held visits", "GET", "/held-visits", list_key="case_id"), HELD_LIST),
    (
        Cell("decide held visit", "POST", "/held-visits/{held_id}/decision", {"decision": "log"}),
        HELD_DECIDE,
    ),
    (Cell("read visit", "GET", "/cases/{case_id}/visits/{visit_id}"), READ_CASE),
    (Cell("read plan", "GET", "/cases/{case_id}/plan"), READ_CASE),
    (
        Cell("write strengths", "PUT", "/cases/{case_id}/plan/strengths", {"items": ["Warm"]}),
        READ_CASE,
    ),
    (
        Cell(
            "set goal",
            "POST",
            "/cases/{case_id}/plan/goals",
            {"area": "work", "description": "Job"},
        ),
        READ_CASE,
    ),
    (
        Cell("change goal", "PATCH", "/cases/{case_id}/plan/goals/{goal_id}", {"note": "Step"}),
        READ_CASE,
    ),
    (
        Cell(
            "propose referral",
            "POST",
            "/cases/{case_id}/referrals",
            {
                "partner_id": WELFARE_PARTNER,
                "urgency": "routine",
                "reason_codes": ["money"],
            },
        ),
        READ_CASE,
    ),
    (Cell("list referrals", "GET", "/cases/{case_id}/referrals"), READ_CASE),
    (Cell("read referral", "GET", "/referrals/{referral_id}"), READ_CASE),
    (Cell("approve referral", "POST", "/referrals/{referral_id}/approve"), DECIDE),
    (
        Cell(
            "meldcode override",
            "POST",
            "/referrals/{referral_id}/meldcode-override",
            {"reason_code": "acute-danger"},
            referral_kind=PartnerKind.VEILIG_THUIS,
        ),
        DECIDE,
    ),
    (
        Cell(
            "send referral",
            "POST",
            "/referrals/{referral_id}/send",
            referral_state=ReferralState.APPROVED,
        ),
        READ_CASE,
    ),
    (
        Cell(
            "partner answer",
            "POST",
            "/referrals/{referral_id}/status",
            {"status": "accepted"},
            referral_state=ReferralState.SENT,
        ),
        DECIDE,
    ),
]


def expected(rules: dict[str, str], persona: str) -> str:
    """The rule's answer for a persona; anything unnamed is hidden (404); no token is 401."""
    if persona == "anonymous":
        return NO_TOKEN
    return rules.get(persona, HIDDEN)


async def make_world(store: Store, cell: Cell, holder: str, father: str) -> World:
    """A fresh case in Overvecht with what `cell` needs."""
    case = await seed_case(store, holder=holder, father=father)
    now = datetime.now(UTC)
    today = local_today(now)
    visit = Visit(
        id=str(uuid.uuid4()),
        case_id=case.id,
        family_id=case.family_id,
        wijk=case.wijk,
        trusted_person_id=holder,
        kind=VisitKind.HOME_VISIT,
        occurred_on=today - timedelta(days=10),
        duration_minutes=30,
        topic_codes=(),
        strengths_observed=(),
        private_note=None,
        follow_up_on=today - timedelta(days=3),
        logged_at=now,
    )
    goal, _ = add_goal(
        case,
        goal_id=str(uuid.uuid4()),
        area=TopicCode.WORK,
        description="Job",
        existing_goals=0,
        by=holder,
        now=now,
    )
    state = cell.referral_state
    await seed_partner(store, PartnerKind.WELFARE, partner_id=WELFARE_PARTNER)
    partner_id = await seed_partner(store, cell.referral_kind)
    referral = Referral(
        id=str(uuid.uuid4()),
        case_id=case.id,
        family_id=case.family_id,
        partner_id=partner_id,
        partner_kind=cell.referral_kind,
        urgency=Urgency.ROUTINE,
        reason_codes=("money",),
        note=None,
        state=state,
        proposed_by=holder,
        proposed_at=now,
        approved_by=None if state is ReferralState.PROPOSED else holder,
        approved_at=None if state is ReferralState.PROPOSED else now,
        sent_at=now if state is ReferralState.SENT else None,
        legal_basis=LegalBasis.CONSENT if state is ReferralState.SENT else None,
    )
    held = hold_visit(
        replace(case, status=CaseStatus.CLOSED),
        LogVisit(kind=VisitKind.PHONE, occurred_on=today, duration_minutes=5),
        held_id=str(uuid.uuid4()),
        by=holder,
        reason=HoldReason.CASE_CLOSED,
        captured_at=now,
        now=now,
    )
    async with store.transaction() as uow:
        await add_visit(uow, visit)
        await add_held(uow, held)
        await plan_store.add_goal(uow, goal)
        await referral_store.add_referral(uow, referral)
        await referral_store.merge_consent(
            uow,
            ConsentRecord(
                case.family_id, ConsentPurpose.SHARE_WELFARE, True, now - timedelta(days=1)
            ),
        )
    return World(case.id, case.family_id, visit.id, goal.id, referral.id, held.id)


def outcome(response: httpx.Response, cell: Cell, world: World, holder: str) -> str:
    """Classify a response as ok / empty / its status code."""
    if response.status_code >= 300:
        return str(response.status_code)
    if cell.list_key is None:
        return OK
    wanted = {"id": world.case_id, "case_id": world.case_id, "trusted_person_id": holder}
    rows = response.json()
    return OK if any(r[cell.list_key] == wanted[cell.list_key] for r in rows) else EMPTY


@pytest.mark.parametrize(("cell", "rules"), CELLS, ids=[c.name.replace(" ", "-") for c, _ in CELLS])
async def test_role_by_endpoint(
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: Callable[..., Caller],
    cell: Cell,
    rules: dict[str, str],
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    father = caller(Role.TRUSTED_PERSON)
    personas: dict[str, dict[str, str]] = {
        "holder": holder.headers,
        "father": father.headers,
        "other_tp": caller(Role.TRUSTED_PERSON).headers,
        "coord": caller(Role.COORDINATOR, wijken={"overvecht"}).headers,
        "coord_other": caller(Role.COORDINATOR, wijken={"west"}).headers,
        "admin": caller(Role.ADMIN, wijken={"overvecht"}).headers,
        "operator": caller(Role.OPERATOR, wijken={"overvecht"}).headers,
        "funder": caller(Role.FUNDER, wijken={"overvecht"}).headers,
        "privacy": caller(Role.PRIVACY_OFFICER, wijken={"overvecht"}).headers,
        "anonymous": {},
    }
    got: dict[str, str] = {}
    for persona in PERSONAS:
        world = await make_world(cases_store, cell, holder.user_id, father.user_id)
        values = {
            **world.__dict__,
            "today": local_today(datetime.now(UTC)).isoformat(),
            "holder_id": holder.user_id,
        }
        body = None
        if cell.body is not None:
            body = {
                k: v.format(**values) if isinstance(v, str) else v for k, v in cell.body.items()
            }
        response = await client.request(
            cell.method, cell.path.format(**values), json=body, headers=personas[persona]
        )
        got[persona] = outcome(response, cell, world, holder.user_id)
    assert got == {p: expected(rules, p) for p in PERSONAS}
