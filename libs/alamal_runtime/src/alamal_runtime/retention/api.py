"""`/privacy/retention`: the privacy officer reads the rules and the deletion log, looks ahead
with a dry run and runs the rules on demand. Every attempt is audited (no family: the answers
hold categories, rule names, counts and times only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from alamal_runtime.audit import REASON_PATTERN, AuditOutcome, audit, entry
from alamal_runtime.auth import Principal
from alamal_runtime.http import CurrentPrincipal
from alamal_runtime.privacy import refuse_unless_privacy_officer
from alamal_runtime.retention.schedule import RetentionSchedule

READ_RETENTION = "read-retention"
PREVIEW_RETENTION = "preview-retention"
RUN_RETENTION = "run-retention"
MAX_LOOK_AHEAD_DAYS = 3660

Reason = Annotated[
    str,
    Header(
        alias="X-Access-Reason",
        pattern=REASON_PATTERN,
        description="Why: a short code, recorded in the audit.",
    ),
]


def retention_router(schedule: RetentionSchedule) -> APIRouter:
    """The retention routes of one service's schedule."""
    router = APIRouter(prefix="/privacy/retention", tags=["privacy"], include_in_schema=False)

    async def allow(principal: Principal, action: str, reason: str) -> None:
        await refuse_unless_privacy_officer(
            schedule.store, principal, action=action, family_id=None, reason=reason
        )
        record = entry(
            principal,
            action=action,
            family_id=None,
            outcome=AuditOutcome.ALLOWED,
            reason=reason,
            now=datetime.now(UTC),
        )
        await audit(schedule.store, record)

    @router.get("")
    async def show(
        principal: CurrentPrincipal,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        reason: Reason = "retention",
    ) -> dict[str, Any]:
        """The rules with their lengths, the last run and the deletion log (newest first)."""
        await allow(principal, READ_RETENTION, reason)
        return {
            "service": schedule.service,
            "interval_seconds": schedule.interval_seconds,
            "day_seconds": schedule.policy.day.total_seconds(),
            "rules": [
                {"rule": r.name, "category": r.category.value, "keep_days": schedule.keep_days(r)}
                for r in schedule.rules
            ],
            "last_run": await schedule.last_run(),
            "log": await schedule.deletion_log(limit=limit),
        }

    @router.get("/preview")
    async def preview(
        principal: CurrentPrincipal,
        within_days: Annotated[int, Query(ge=0, le=MAX_LOOK_AHEAD_DAYS)] = 0,
        reason: Reason = "retention",
    ) -> dict[str, Any]:
        """Dry run: what the rules would delete `within_days` from now (nothing is deleted)."""
        await allow(principal, PREVIEW_RETENTION, reason)
        outcomes = await schedule.preview(within_days=within_days)
        return {"service": schedule.service, "results": [o.to_json() for o in outcomes]}

    @router.post("/run")
    async def run(principal: CurrentPrincipal, reason: Reason = "retention") -> dict[str, Any]:
        """Run the rules now (as the schedule does) and answer what each deleted."""
        await allow(principal, RUN_RETENTION, reason)
        outcomes = await schedule.run(trigger="on-demand")
        return {"service": schedule.service, "results": [o.to_json() for o in outcomes]}

    return router
