"""One log line per request (method, route template, status, duration, trace id), never a
query value or a path value; the trace id is answered in `X-Trace-Id` and tags the span."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import structlog.testing
from fastapi import FastAPI
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alamal_runtime.http import CatchUnexpected, RequestLog
from alamal_runtime.logging import _add_trace_id
from alamal_runtime.telemetry import CASE_ID, FAMILY_ID

FAMILY = "0b7e2f3a-5c1d-4e8f-9a2b-3c4d5e6f7a8b"
PLANTED = "Fatima-Logplant"

spans = InMemorySpanExporter()


def build_app() -> FastAPI:
    """Routes that answer, fail and crash, behind the runtime's middleware and the tracing."""
    app = FastAPI()

    @app.get("/families/{family_id}")
    async def family(family_id: str) -> dict[str, str]:
        return {"id": family_id}

    @app.get("/cases/{case_id}/visits")
    async def visits(case_id: str) -> dict[str, str]:
        raise RuntimeError(f"no visits for {PLANTED}")

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(CatchUnexpected)
    app.add_middleware(RequestLog)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, exclude_spans=["send"])
    return app


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The app over an in-process transport."""
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
        yield http


async def logged(
    client: httpx.AsyncClient, path: str, **params: str
) -> tuple[httpx.Response, list[dict[str, object]]]:
    """The answer to GET `path` and the log lines it produced (with trace ids bound)."""
    with structlog.testing.capture_logs(processors=[_add_trace_id]) as lines:
        answer = await client.get(path, params=params or None)
    return answer, [line for line in lines if line["event"] == "http_request"]


async def test_a_request_logs_one_line_with_the_route_template_and_its_trace_id(
    client: httpx.AsyncClient,
) -> None:
    answer, lines = await logged(client, f"/families/{FAMILY}", name=PLANTED)
    assert answer.status_code == 200
    (line,) = lines
    assert {k: line[k] for k in ("method", "route", "status")} == {
        "method": "GET",
        "route": "/families/{family_id}",
        "status": 200,
    }
    assert isinstance(line["duration_ms"], float)
    assert line["trace_id"] == answer.headers["X-Trace-Id"]
    assert len(str(line["trace_id"])) == 32
    assert PLANTED not in str(line)
    assert FAMILY not in str(line)  # the template, not the path


async def test_a_crash_is_logged_as_a_500_and_its_answer_names_the_same_trace(
    client: httpx.AsyncClient,
) -> None:
    answer, lines = await logged(client, f"/cases/{PLANTED}/visits")
    assert answer.status_code == 500
    (line,) = lines
    assert line["route"] == "/cases/{case_id}/visits"
    assert line["status"] == 500
    assert line["trace_id"] == answer.json()["trace_id"] == answer.headers["X-Trace-Id"]
    assert PLANTED not in str(line)


async def test_an_unknown_path_is_logged_without_it(client: httpx.AsyncClient) -> None:
    answer, lines = await logged(client, f"/{PLANTED}")
    assert answer.status_code == 404
    (line,) = lines
    assert line["route"] == "(unmatched)"
    assert PLANTED not in str(line)


async def test_health_probes_are_not_logged(client: httpx.AsyncClient) -> None:
    answer, lines = await logged(client, "/health/live")
    assert answer.status_code == 200
    assert lines == []


async def test_the_paths_ids_tag_the_request_span_and_other_values_do_not(
    client: httpx.AsyncClient,
) -> None:
    spans.clear()
    await client.get(f"/families/{FAMILY}")
    await client.get(f"/cases/{PLANTED}/visits")
    first, second = (dict(s.attributes or {}) for s in spans.get_finished_spans())
    assert first[FAMILY_ID] == FAMILY
    assert CASE_ID not in second
