"""The operator's view of erasures: which services have not confirmed in time (no personal data).

A gauge `alamal.erasure.overdue` counts, per service, the erasures it has not confirmed within
the configured time after approval; the operator page reads the same from `/ops/erasures`.
Both carry request ids and service names only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from fastapi import APIRouter, Request
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from pydantic import BaseModel

from alamal_intake.privacy import store as repo
from alamal_intake.privacy.domain import CONFIRMING_SERVICES, ErasureRequest, ErasureState
from alamal_runtime.auth import Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import Store

OVERDUE_GAUGE = "alamal.erasure.overdue"
AWAITED = tuple(s for s in CONFIRMING_SERVICES if s != "intake")
"""The services whose confirmations intake waits for (its own part is done at approval)."""
log = structlog.get_logger(__name__)


class OverdueOut(BaseModel):
    """One erasure a service has not confirmed in time."""

    request_id: str
    approved_at: datetime
    waiting_for: list[str]


class ErasureHealthOut(BaseModel):
    """Erasures in progress and the late ones, for the operator."""

    confirm_within_seconds: float
    in_progress: int
    overdue: list[OverdueOut]


def overdue_of(
    requests: Sequence[ErasureRequest], now: datetime, within: timedelta
) -> list[OverdueOut]:
    """The requests with at least one service past the time, oldest approval first."""
    late = [
        OverdueOut(request_id=r.id, approved_at=r.decided_at, waiting_for=list(waiting))
        for r in requests
        if r.decided_at is not None and (waiting := r.overdue(now, within))
    ]
    return sorted(late, key=lambda o: o.approved_at)


class ErasureMonitor:
    """Samples the erasures in progress on an interval for the gauge."""

    def __init__(
        self,
        store: Store,
        *,
        within: timedelta,
        meter_provider: MeterProvider,
        interval_seconds: float,
    ) -> None:
        self._store = store
        self.within = within
        self._interval = interval_seconds
        self.per_service: dict[str, int] = dict.fromkeys(AWAITED, 0)
        meter_provider.get_meter("alamal.intake").create_observable_gauge(
            OVERDUE_GAUGE,
            callbacks=[self._observe],
            unit="{request}",
            description="Approved erasures a service has not confirmed within the alert time",
        )

    def _observe(self, _: CallbackOptions) -> Sequence[Observation]:
        return [
            Observation(n, {"alamal.erasure.service": s})
            for s, n in sorted(self.per_service.items())
        ]

    async def health(self) -> ErasureHealthOut:
        """The erasures in progress now, and the late ones."""
        erasing = await repo.requests_in_state(self._store, ErasureState.ERASING)
        late = overdue_of(erasing, datetime.now(UTC), self.within)
        self.per_service = {s: sum(s in o.waiting_for for o in late) for s in AWAITED}
        return ErasureHealthOut(
            confirm_within_seconds=self.within.total_seconds(),
            in_progress=len(erasing),
            overdue=late,
        )

    async def run(self) -> None:
        """Sample until cancelled; a failed sample keeps the last values."""
        while True:
            try:
                health = await self.health()
                if health.overdue:
                    log.warning("erasures_overdue", count=len(health.overdue))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("erasure_sample_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self._interval)


router = APIRouter(prefix="/ops", tags=["operations"], include_in_schema=False)


@router.get("/erasures", response_model=ErasureHealthOut)
async def erasure_health(request: Request, principal: CurrentPrincipal) -> ErasureHealthOut:
    """Operator-only: erasures in progress and those a service has not confirmed in time."""
    if principal.role not in (Role.OPERATOR, Role.ADMIN):
        raise HTTPProblem(403, "operators only")
    monitor: ErasureMonitor = request.app.state.erasure_monitor
    return await monitor.health()
