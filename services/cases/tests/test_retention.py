"""Cases' retention: a closed case's private notes are cleared after their rule; the rest stays."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI

from alamal_cases.retention import PrivateNotesRule
from alamal_runtime.auth import Role
from alamal_runtime.retention import RetentionSchedule
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.store import Store

from .conftest import Caller, seed_case
from .test_visits_api import log

pytestmark = pytest.mark.integration

NOTE = "Moeder vertelde over de rekeningen die zich opstapelen"
SEEN = "Vader kookt elke avond"


async def test_private_notes_of_a_closed_case_go_after_their_rule_and_the_visit_stays(
    cases_app: FastAPI,
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: Callable[..., Caller],
) -> None:
    runtime: ServiceRuntime = cases_app.state.runtime
    assert {r.name for r in runtime.retention_schedule.rules} == {
        "cases.audit-records",
        "cases.dead-letters",
        "cases.private-notes",
    }
    me = caller(Role.TRUSTED_PERSON)
    officer = caller(Role.PRIVACY_OFFICER)
    closed = await seed_case(cases_store, holder=me.user_id)
    still_open = await seed_case(cases_store, holder=me.user_id)
    for case in (closed, still_open):
        logged = await log(client, me, case.id, private_note=NOTE, strengths_observed=[SEEN])
        assert logged.status_code == 201, logged.text
    plain = await log(client, me, closed.id, private_note=None)
    assert plain.status_code == 201, plain.text
    shut = await client.post(
        f"/cases/{closed.id}/close", json={"outcome_codes": ["done"]}, headers=me.headers
    )
    assert shut.status_code == 200, shut.text

    # The dry run, through the privacy officer's route: nothing due today, one note in a year.
    async def preview(days: int) -> int:
        answer = await client.get(
            "/privacy/retention/preview", params={"within_days": days}, headers=officer.headers
        )
        assert answer.status_code == 200, answer.text
        [notes] = [r for r in answer.json()["results"] if r["rule"] == "cases.private-notes"]
        assert notes["keep_days"] == 365
        count: int = notes["count"]
        return count

    assert await preview(0) == 0
    assert await preview(366) == 1
    refused = await client.get("/privacy/retention/preview", headers=me.headers)
    assert refused.status_code == 403

    # A year and a day later (the same store and rule, on a clock moved ahead):
    later = RetentionSchedule(
        cases_store,
        policy=runtime.retention_schedule.policy,
        interval_seconds=3600,
        service="cases",
        clock=lambda: datetime.now(UTC) + timedelta(days=366),
    )
    later.add(PrivateNotesRule())
    [outcome] = await later.run(trigger="on-demand")
    assert outcome.count == 1

    visits = {
        case.id: (await client.get(f"/cases/{case.id}/visits", headers=me.headers)).json()[
            "results"
        ]
        for case in (closed, still_open)
    }
    kept = [v for v in visits[closed.id] if v["id"] != plain.json()["id"]]
    assert [(v["private_note"], v["strengths_observed"]) for v in kept] == [(None, [SEEN])]
    assert [v["private_note"] for v in visits[still_open.id]] == [NOTE]
    assert len(visits[closed.id]) == 2  # the visits themselves stay

    shown = await client.get("/privacy/retention", headers=officer.headers)
    assert shown.status_code == 200, shown.text
    [entry] = [e for e in shown.json()["log"] if e["rule"] == "cases.private-notes"]
    assert (entry["category"], entry["count"], entry["keep_days"]) == ("private-notes", 1, 365)
    assert NOTE not in shown.text
    [again] = await later.run(trigger="on-demand")
    assert again.count == 0  # nothing left to clear
