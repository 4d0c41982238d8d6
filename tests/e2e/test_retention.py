"""End to end on the embedded stack with a compressed retention clock: a family whose case
closed longer ago than the closed-case rule disappears from every service through the erasure
machinery, intake's deletion log records it, the dry run listed it beforehand, and a family
whose case is still open stays.

Intake runs with a retention day of 0.05 s and `closed-case` = 600 days (30 s), its rules
every 0.5 s; the other categories are set out of reach so that only this rule acts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role
from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import Staff
from tests.e2e.erasure_flow import bearer, eventually, ok

pytestmark = pytest.mark.e2e

CLOSED_CASE_DAYS = 600
RETENTION = {
    "INTAKE_RETENTION_DAY_SECONDS": "0.05",
    "INTAKE_RETENTION_INTERVAL_SECONDS": "0.5",
    "INTAKE_RETENTION_KEEP_DAYS": json.dumps(
        {"closed-case": CLOSED_CASE_DAYS, "audit-records": 36600, "dead-letters": 36600}
    ),
}


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    """The embedded stack with intake's retention clock compressed."""
    data = tmp_path_factory.mktemp("retention")
    async with EmbeddedStack(data, base_port=0, ready_timeout=180, extra_env=RETENTION) as running:
        yield running


def held(export: dict[str, Any]) -> list[str]:
    """The sections of a service's export that hold something besides the access audit (the
    export audits itself, so that section is never empty)."""
    return sorted(k for k, v in export["sections"].items() if v and k != "access_audit")


@pytest.mark.timeout(600)  # a stack start (~55 s on a loaded machine) and the rule's 30 s
async def test_a_closed_case_past_its_rule_disappears_from_every_service(
    stack: EmbeddedStack,
) -> None:
    staff = Staff(stack)
    _, officer = bearer(stack, Role.PRIVACY_OFFICER, set())
    urls = stack.urls
    async with httpx.AsyncClient(timeout=30) as http:
        closing, kept = await staff.register(http), await staff.register(http)

        async def case_of(family_id: str) -> str | None:
            cases = await staff.cases(http, family_id)
            return str(cases[0]["id"]) if cases else None

        case_id = await eventually(lambda: case_of(closing), what="the case is opened")
        await eventually(lambda: case_of(kept), what="the other case is opened")

        async def exports(family_id: str) -> dict[str, list[str]]:
            found = {}
            for service in ("cases", "notifications", "reporting"):
                answer = await http.get(
                    f"{urls[service]}/privacy/families/{family_id}/export", headers=officer
                )
                found[service] = held(ok(answer))
            return found

        async def reported(family_id: str) -> bool | None:
            return True if (await exports(family_id))["reporting"] else None

        await eventually(lambda: reported(closing), what="reporting counts the family")
        before = await exports(closing)
        assert before["cases"], before  # the export does show what a service holds
        ok(
            await http.post(
                f"{urls['cases']}/cases/{case_id}/close",
                json={"outcome_codes": ["goals-reached"]},
                headers=staff.headers,
            )
        )

        async def deletion_log() -> list[dict[str, Any]]:
            shown = ok(await http.get(f"{urls['intake']}/privacy/retention", headers=officer))
            return [e for e in shown["log"] if e["rule"] == "intake.closed-case"]

        async def listed_in_dry_run() -> int | None:
            answer = await http.get(
                f"{urls['intake']}/privacy/retention/preview",
                params={"within_days": CLOSED_CASE_DAYS + 100},
                headers=officer,
            )
            [rule] = [r for r in ok(answer)["results"] if r["rule"] == "intake.closed-case"]
            if rule["count"]:
                return int(rule["count"])
            # Only if the machine stalled for the rule's whole length was it erased already.
            return -1 if await deletion_log() else None

        dry_run = await eventually(listed_in_dry_run, what="the dry run lists the closed case")

        async def logged() -> list[dict[str, Any]] | None:
            return (await deletion_log()) or None

        entries = await eventually(logged, within=180, what="the deletion log records it")
        assert sum(e["count"] for e in entries) == 1
        if dry_run != -1:
            assert dry_run == 1  # the dry run listed the same
        [entry] = entries
        assert (entry["category"], entry["keep_days"], entry["trigger"]) == (
            "closed-case",
            CLOSED_CASE_DAYS,
            "schedule",
        )

        async def erased() -> dict[str, Any] | None:
            answer = await http.get(
                f"{urls['intake']}/privacy/erasures",
                params={"family_id": closing},
                headers=officer,
            )
            results = ok(answer)["results"]
            return results[0] if results and results[0]["state"] == "erased" else None

        erasure = await eventually(erased, within=120, what="every service confirms")
        assert (erasure["reason"], erasure["requested_by"]) == (
            "retention",
            "retention:intake.closed-case",
        )
        assert {s["service"] for s in erasure["services"] if s["confirmed_at"]} == {
            "intake",
            "cases",
            "notifications",
            "reporting",
        }
        gone = await http.get(f"{urls['intake']}/families/{closing}", headers=staff.headers)
        assert gone.status_code == 404
        assert await staff.cases(http, closing) == []
        assert await exports(closing) == {"cases": [], "notifications": [], "reporting": []}

        # The family whose case is open is untouched.
        assert (
            await http.get(f"{urls['intake']}/families/{kept}", headers=staff.headers)
        ).is_success
        assert await staff.cases(http, kept)
        assert (await exports(kept))["cases"]
