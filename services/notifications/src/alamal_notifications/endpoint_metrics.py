"""How many webhook endpoints are disabled, by reason: the gauge the operator's alert reads.

A disabled endpoint stays disabled until an admin enables it again, so a gauge (not a counter of
disable events) lets the alert fire for as long as partners are cut off and resolve when they are
not. The count is read from the store on an interval; attributes carry reason codes only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from alamal_contracts.codes import EndpointDisabledReason
from alamal_notifications.store import ENDPOINTS
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)

DISABLED_ENDPOINTS = "alamal.webhook.endpoints.disabled"
REASON = "alamal.webhook.disabled_reason"
ADMIN = "admin"  # endpoints_api's reason when an admin disables an endpoint on purpose
# Reported even at 0, so the alert's series exist and resolve rather than vanish.
KNOWN_REASONS = (*(reason.value for reason in EndpointDisabledReason), ADMIN)
MAX_COUNTED = 100_000


class DisabledEndpointsGauge:
    """Samples the number of disabled endpoints per reason for an observable gauge."""

    def __init__(
        self, store: Store, meter_provider: MeterProvider, *, interval_seconds: float = 15.0
    ) -> None:
        self._store = store
        self._interval = interval_seconds
        self.counts: dict[str, int] | None = None
        meter_provider.get_meter("alamal.notifications").create_observable_gauge(
            DISABLED_ENDPOINTS,
            callbacks=[self._observe],
            unit="{endpoint}",
            description="Webhook endpoints that are disabled, by reason (failing, gone, admin)",
        )

    def _observe(self, _: CallbackOptions) -> Sequence[Observation]:
        if self.counts is None:
            return []
        return [Observation(n, {REASON: reason}) for reason, n in sorted(self.counts.items())]

    async def sample(self) -> None:
        """Count the disabled endpoints now."""
        records = await self._store.find(ENDPOINTS, {"enabled": False}, limit=MAX_COUNTED)
        counts = dict.fromkeys(KNOWN_REASONS, 0)
        for record in records:
            reason = str(record.data.get("disabled_reason") or "unknown")
            counts[reason] = counts.get(reason, 0) + 1
        self.counts = counts

    async def run(self) -> None:
        """Sample until cancelled; a failed sample keeps the last counts and is retried."""
        while True:
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("endpoint_metrics_sample_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self._interval)
