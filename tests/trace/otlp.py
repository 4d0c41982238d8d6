"""A tiny OTLP/HTTP receiver for tests, and the checks run on what it received."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True, slots=True)
class ReceivedSpan:
    """One exported span, flattened."""

    service: str
    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]
    text: str  # everything a person could read in the span: names, attributes, events, status


class Receiver:
    """Collects spans posted to `/v1/traces`; accepts (and drops) metrics and logs."""

    def __init__(self) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests = 0
        self._lock = threading.Lock()

    def add(self, body: bytes) -> None:
        """Decode one `ExportTraceServiceRequest`."""
        request = ExportTraceServiceRequest.FromString(body)
        found: list[ReceivedSpan] = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    attributes = {a.key: _value(a.value) for a in span.attributes}
                    events = [
                        f"{e.name} {[(a.key, _value(a.value)) for a in e.attributes]}"
                        for e in span.events
                    ]
                    found.append(
                        ReceivedSpan(
                            service=resource.get("service.name", ""),
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            attributes=attributes,
                            text=" ".join(
                                [
                                    span.name,
                                    str(attributes),
                                    str(resource),
                                    *events,
                                    span.status.message,
                                ]
                            ),
                        )
                    )
        with self._lock:
            self.spans.extend(found)
            self.requests += 1

    def snapshot(self) -> list[ReceivedSpan]:
        """The spans received so far."""
        with self._lock:
            return list(self.spans)


def _value(value: AnyValue) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind in ("array_value", "kvlist_value"):
        return str(getattr(value, kind))
    return str(getattr(value, kind))


@contextmanager
def otlp_receiver() -> Iterator[tuple[Receiver, str]]:
    """Serve an OTLP/HTTP endpoint on 127.0.0.1; yield the receiver and its base URL."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/v1/traces":
                receiver.add(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def tree_errors(spans: Iterable[ReceivedSpan], trace_id: str, root_span_id: str) -> list[str]:
    """Why the spans of `trace_id` do not form one tree under `root_span_id` (empty if they do)."""
    ours = [s for s in spans if s.trace_id == trace_id]
    known = {s.span_id for s in ours} | {root_span_id}
    errors = []
    for span in ours:
        if span.parent_span_id not in known:
            parent = span.parent_span_id or "none"
            errors.append(f"{span.service}/{span.name}: parent {parent} is not in the trace")
    return errors


def leaks(spans: Iterable[ReceivedSpan], planted: Iterable[str]) -> list[str]:
    """`service/span: value` for every planted value found in a span."""
    values = list(planted)
    return [f"{s.service}/{s.name}: {v}" for s in spans for v in values if v in s.text]
