"""The FastStream Kafka broker factory with settings that work on Tansu and on Apache Kafka."""

from __future__ import annotations

import logging

from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware

from alamal_runtime.telemetry import Telemetry


def create_broker(bootstrap: str, *, client_id: str, telemetry: Telemetry) -> KafkaBroker:
    """A broker whose publishes and consumes carry W3C trace context in the message headers."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        # Tansu rejects InitProducerId: idempotent producers fail there. Ordering per key is kept
        # by publishing one message at a time from the relay.
        enable_idempotence=False,
        acks="all",
        graceful_timeout=10.0,
        # Per-message "Received/Processed" lines go through the standard logger at DEBUG, so the
        # JSON service logs stay one format; handlers log their own outcome with ids.
        logger=logging.getLogger("alamal.faststream"),
        log_level=logging.DEBUG,
        middlewares=[
            KafkaTelemetryMiddleware(
                tracer_provider=telemetry.tracer_provider,
                meter_provider=telemetry.meter_provider,
            )
        ],
    )
