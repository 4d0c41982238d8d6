"""Delivery metrics through OpenTelemetry: attempts, failures and latency per endpoint."""

from __future__ import annotations

from opentelemetry.metrics import MeterProvider

from alamal_notifications.sender import Outcome


class DeliveryMetrics:
    """Counters and a histogram on the service's meter provider (attributes: ids and codes)."""

    def __init__(self, meter_provider: MeterProvider) -> None:
        meter = meter_provider.get_meter("alamal.notifications")
        self._attempted = meter.create_counter(
            "webhook.deliveries.attempted", description="Webhook delivery attempts"
        )
        self._failed = meter.create_counter(
            "webhook.deliveries.failed", description="Webhook delivery attempts that failed"
        )
        self._latency = meter.create_histogram(
            "webhook.delivery.duration", unit="ms", description="Webhook request latency"
        )

    def record(self, endpoint_id: str, outcome: Outcome) -> None:
        """Count one attempt and its latency."""
        attributes = {"endpoint.id": endpoint_id}
        self._attempted.add(1, attributes)
        self._latency.record(outcome.latency_ms, attributes)
        if not outcome.ok:
            self._failed.add(1, {**attributes, "error.type": outcome.error or "unknown"})
