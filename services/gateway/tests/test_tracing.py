"""Each call into a service carries the page request's trace (W3C traceparent)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from alamal_gateway.clients import Caller, ServiceClients, ServiceUnavailableError
from alamal_gateway.web.errors import trace_ids
from alamal_runtime.auth import InvalidTokenError, Role, TokenVerifier
from alamal_runtime.http import TRACE_ID_HEADER
from alamal_runtime.telemetry import Telemetry

SEEN: list[dict[str, str]] = []


class _Recorder(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        SEEN.append({k.lower(): v for k, v in self.headers.items()})
        body = b"[]"
        if self.path.startswith("/failing/"):  # answers 503 with the trace id in the path
            self.send_response(503)
            self.send_header(TRACE_ID_HEADER, self.path.removeprefix("/failing/"))
            self.send_header("content-length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        return


@pytest.fixture
def recorder() -> Iterator[str]:
    """A real local HTTP server that records the headers it receives."""
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_calls_carry_the_trace_and_a_short_lived_token(
    recorder: str, token_keys: tuple[str, str]
) -> None:
    private, public = token_keys
    clients = ServiceClients({"cases": recorder}, signing_key=private, ttl=60, timeout=5)
    caller = Caller(
        user_id="0b7e2f3a-5c1d-4e8f-9a2b-3c4d5e6f7a8b", role=Role.COORDINATOR, wijken=("zuid",)
    )
    tracer = TracerProvider().get_tracer("test")
    SEEN.clear()
    try:
        with tracer.start_as_current_span("page") as span:
            await clients.call("cases", "GET", "/caseload", caller)
            trace_id = format(span.get_span_context().trace_id, "032x")
    finally:
        await clients.close()
    (headers,) = SEEN
    assert headers["traceparent"].split("-")[1] == trace_id
    token = headers["authorization"].removeprefix("Bearer ")
    principal = TokenVerifier(public, audience="cases", issuer="alamal-gateway").verify(token)
    assert principal.user_id == caller.user_id
    assert principal.wijken == frozenset({"zuid"})
    with pytest.raises(InvalidTokenError):
        TokenVerifier(public, audience="intake", issuer="alamal-gateway").verify(token)


async def test_calls_are_client_spans_without_the_query_values(
    recorder: str, token_keys: tuple[str, str]
) -> None:
    telemetry = Telemetry(TracerProvider(), MeterProvider())
    telemetry.redactor.learn(["/families"], ["name", "limit"])
    exported = InMemorySpanExporter()
    telemetry.export_spans(exported, batch=False)
    clients = ServiceClients(
        {"intake": recorder},
        signing_key=token_keys[0],
        ttl=60,
        timeout=5,
        telemetry=telemetry,
    )
    caller = Caller(user_id=str(uuid.uuid4()), role=Role.COORDINATOR, wijken=("zuid",))
    SEEN.clear()
    try:
        with telemetry.tracer_provider.get_tracer("test").start_as_current_span("page") as page:
            await clients.call(
                "intake", "GET", "/families", caller, params={"name": "Fatima-Plant", "limit": 5}
            )
    finally:
        await clients.close()
    (call,) = [s for s in exported.get_finished_spans() if s.kind is SpanKind.CLIENT]
    assert call.parent is not None
    assert call.parent.span_id == page.get_span_context().span_id
    # The service sees the client span as its parent.
    (headers,) = SEEN
    assert headers["traceparent"].split("-")[2] == format(call.context.span_id, "016x")
    attributes = dict(call.attributes or {})
    url = attributes.get("http.url", attributes.get("url.full"))
    assert url == f"{recorder}/families?name=[redacted]&limit=5"
    assert "Fatima-Plant" not in str(attributes)


async def test_a_failed_call_keeps_the_trace_id_the_service_answered(
    recorder: str, token_keys: tuple[str, str]
) -> None:
    """The error page's reference: the page's own trace id, and the service's when it answered
    another one (a service that did not join the trace); nothing that is not a trace id."""
    clients = ServiceClients({"cases": recorder}, signing_key=token_keys[0], ttl=60, timeout=5)
    caller = Caller(user_id=str(uuid.uuid4()), role=Role.COORDINATOR, wijken=("zuid",))
    tracer = TracerProvider().get_tracer("test")
    theirs = "cd" * 16
    try:
        with tracer.start_as_current_span("page") as span:
            ours = format(span.get_span_context().trace_id, "032x")
            with pytest.raises(ServiceUnavailableError) as failed:
                await clients.call("cases", "GET", f"/failing/{theirs}", caller)
            assert failed.value.trace_id == theirs
            assert trace_ids(failed.value) == [ours, theirs]
            with pytest.raises(ServiceUnavailableError) as same:
                await clients.call("cases", "GET", f"/failing/{ours}", caller)
            assert trace_ids(same.value) == [ours]
            with pytest.raises(ServiceUnavailableError) as odd:
                await clients.call("cases", "GET", "/failing/Fatima%20El%20Amrani", caller)
            assert trace_ids(odd.value) == [ours]
        assert trace_ids(failed.value) == [theirs]  # outside any trace: only the service's
    finally:
        await clients.close()
