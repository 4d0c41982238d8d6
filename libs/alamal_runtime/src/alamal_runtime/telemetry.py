"""OpenTelemetry set-up: tracer and meter providers, OTLP export when an endpoint is configured.

Every span exporter is reached through `RedactingSpanExporter`, so no exporter (OTLP, a trace
UI, a test's in-memory one) ever sees a span that `SpanRedactor` has not rewritten: query
strings, non-id path segments, exception messages and captured headers never leave the process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from opentelemetry import metrics, trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from alamal_runtime.redaction import SpanRedactor, is_id

if TYPE_CHECKING:
    import httpx

SPANS_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
METRICS_ENDPOINT_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
FAMILY_ID = "alamal.family.id"
CASE_ID = "alamal.case.id"
REFERRAL_ID = "alamal.referral.id"


class RedactingSpanExporter(SpanExporter):
    """Hands the wrapped exporter redacted copies of the spans, never the originals."""

    def __init__(self, inner: SpanExporter, redactor: SpanRedactor) -> None:
        self._inner = inner
        self._redactor = redactor

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Redact, then export."""
        return self._inner.export([self._redactor.redact(span) for span in spans])

    def shutdown(self) -> None:
        """Shut the wrapped exporter down."""
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Flush the wrapped exporter."""
        return self._inner.force_flush(timeout_millis)


class ServiceNameOnSpans(SpanProcessor):
    """Copies `service.name` onto every span: some trace UIs (Arize Phoenix) show span
    attributes only and drop the resource's service name."""

    def __init__(self, service: str) -> None:
        self._service = service

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:  # noqa: ARG002
        """Set the attribute while the span is still writable."""
        span.set_attribute("service.name", self._service)


@dataclass(frozen=True, slots=True)
class Telemetry:
    """The providers one service uses; pass them explicitly rather than relying on globals."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    redactor: SpanRedactor = field(default_factory=SpanRedactor)

    def export_spans(self, exporter: SpanExporter, *, batch: bool = True) -> None:
        """Send this service's spans, redacted, to `exporter` (batched unless told otherwise)."""
        redacting = RedactingSpanExporter(exporter, self.redactor)
        processor = BatchSpanProcessor(redacting) if batch else SimpleSpanProcessor(redacting)
        self.tracer_provider.add_span_processor(processor)

    def trace_client(self, client: httpx.AsyncClient) -> None:
        """Give every call `client` makes a client span (redacted like every span)."""
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor.instrument_client(
            client, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def shutdown(self) -> None:
        """Flush and stop exporters."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def setup_telemetry(service: str, *, set_global: bool = True) -> Telemetry:
    """Build providers for `service`; OTLP/HTTP export when an OTLP endpoint is configured
    (`OTEL_EXPORTER_OTLP_ENDPOINT`, or the traces / metrics endpoint on its own)."""
    resource = Resource.create({"service.name": service, "service.namespace": "alamal"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(ServiceNameOnSpans(service))
    readers: list[MetricReader] = []
    if any(os.environ.get(name) for name in METRICS_ENDPOINT_ENV):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    telemetry = Telemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    if any(os.environ.get(name) for name in SPANS_ENDPOINT_ENV):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        telemetry.export_spans(OTLPSpanExporter())
    if set_global:
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    return telemetry


def tag_ids(
    span: trace.Span | None = None,
    *,
    family_id: object = None,
    case_id: object = None,
    referral_id: object = None,
) -> None:
    """Put the ids a span is about on it (the current span by default), so every trace of one
    family or referral can be found. Only values shaped like ids are set."""
    target = span or trace.get_current_span()
    for key, value in ((FAMILY_ID, family_id), (CASE_ID, case_id), (REFERRAL_ID, referral_id)):
        if value is not None and is_id(str(value)):
            target.set_attribute(key, str(value))


def tag_event_ids(data: object, span: trace.Span | None = None) -> None:
    """Tag a span with the family, case and referral ids an event's data names."""
    tag_ids(
        span,
        family_id=getattr(data, "family_id", None),
        case_id=getattr(data, "case_id", None),
        referral_id=getattr(data, "referral_id", None),
    )
