"""One trace end to end: register -> visit -> referral -> webhook delivery, on the embedded stack.

Every service exports OTLP/HTTP to a receiver in this test. The test's requests carry one W3C
`traceparent`; every span of the flow must share that trace id and hang off one tree across
intake, cases, notifications, reporting and the outgoing webhook call. No span attribute and no
log line may hold the planted personal values.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role, mint_token
from alamal_runtime.telemetry import FAMILY_ID, REFERRAL_ID
from alamal_stack.runner import EmbeddedStack

from .otlp import ReceivedSpan, leaks, otlp_receiver, tree_errors

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

PLANTED = (
    "Fatima-Plantdata",
    "ElAmrani-Plantdata",
    "Yasmine-Plantdata",
    "Planted-visit-note-4410",
    "Planted-referral-note-5563",
    "Planted-strength-7781",
    "0687123409",  # a phone number, searched for below
)
CLIENT = 3  # SpanKind.SPAN_KIND_CLIENT in OTLP


@contextmanager
def webhook_receiver() -> Iterator[tuple[list[dict[str, str]], str]]:
    """A partner's webhook endpoint on 127.0.0.1 that accepts everything; yields its calls."""
    calls: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            calls.append({**{k.lower(): v for k, v in self.headers.items()}, "body": body.decode()})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield calls, f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


async def eventually[T](probe: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """Poll until `probe` returns something; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"nothing within {within}s")


class Person:
    """A staff user; every request carries the flow's trace context."""

    def __init__(self, stack: EmbeddedStack, role: Role, traceparent: str | None) -> None:
        self.user_id = str(uuid.uuid4())
        private = Path(stack.keys.signing).read_text(encoding="ascii")
        bearer = mint_token(private, user_id=self.user_id, role=role, wijken={"overvecht"})
        self.headers = {"Authorization": f"Bearer {bearer}"}
        if traceparent:
            self.headers["traceparent"] = traceparent


async def drive_the_flow(
    stack: EmbeddedStack,
    http: httpx.AsyncClient,
    traceparent: str,
    hook_url: str,
    *,
    send_traceparent: str | None = None,
) -> tuple[str, str]:
    """Register a family, log a visit, refer to a partner and let notifications deliver;
    return the family's and the referral's ids. With `send_traceparent` the referral's steps
    (propose, approve, send) and what they cause form a trace of their own."""
    intake, cases, notifications = (stack.urls[n] for n in ("intake", "cases", "notifications"))
    admin = Person(stack, Role.ADMIN, None)
    partner = await http.post(
        f"{notifications}/partners",
        json={"name": "Jeugdzorg Test", "kind": "youth-care"},
        headers=admin.headers,
    )
    assert partner.status_code == 201, partner.text
    partner_id = partner.json()["id"]
    endpoint = await http.post(
        f"{notifications}/partners/{partner_id}/endpoints",
        json={"url": hook_url, "event_types": ["referral.escalated"]},
        headers=admin.headers,
    )
    assert endpoint.status_code == 201, endpoint.text
    verified = await http.post(
        f"{notifications}/endpoints/{endpoint.json()['id']}/verify", headers=admin.headers
    )
    assert verified.status_code == 200, verified.text

    worker = Person(stack, Role.TRUSTED_PERSON, traceparent)
    coordinator = Person(stack, Role.COORDINATOR, traceparent)
    body = {
        "members": [
            {"role": "mother", "birth_year": 1984, "first_name": PLANTED[0], "surname": PLANTED[1]},
            {"role": "child", "birth_year": 2016, "first_name": PLANTED[2]},
        ],
        "wijk": "overvecht",
        "languages": ["ar", "nl"],
        "intake_source": "school",
        "trusted_person_id": worker.user_id,
        "consents": [
            {"purpose": "care", "granted": True},
            {"purpose": "reporting", "granted": True},
        ],
    }
    registered = await http.post(f"{intake}/families", json=body, headers=worker.headers)
    assert registered.status_code == 201, registered.text
    family_id = registered.json()["id"]
    # Searches and addresses an operator's spans must not repeat: names, a phone number and a
    # note fragment, in query strings and in path segments.
    for planted in (PLANTED[0], PLANTED[1], PLANTED[6], PLANTED[3]):
        found = await http.get(
            f"{intake}/families", params={"name": planted}, headers=worker.headers
        )
        assert found.status_code == 200, found.text
    refused = await http.get(f"{intake}/families/{PLANTED[6]}", headers=worker.headers)
    assert refused.status_code == 422
    # An error answer names its trace, which leads to its lines in every log (checked below).
    assert refused.headers["X-Trace-Id"] == traceparent.split("-")[1]
    assert (
        await http.get(f"{cases}/cases/{PLANTED[4]}/visits", headers=worker.headers)
    ).status_code == 422

    async def case() -> dict[str, Any] | None:
        got = await http.get(
            f"{cases}/cases", params={"family_id": family_id}, headers=worker.headers
        )
        found: list[dict[str, Any]] = got.json()
        return found[0] if found else None

    case_id = (await eventually(case))["id"]
    visit = await http.post(
        f"{cases}/cases/{case_id}/visits",
        json={
            "kind": "home-visit",
            "occurred_on": date.today().isoformat(),
            "duration_minutes": 45,
            "topic_codes": ["parenting"],
            "strengths_observed": [PLANTED[5]],
            "private_note": PLANTED[3],
        },
        headers=worker.headers,
    )
    assert visit.status_code == 201, visit.text
    consent = await http.post(
        f"{intake}/families/{family_id}/consents",
        json={"purpose": "share-youth-care", "granted": True, "text_version": "2026-1"},
        headers=worker.headers,
    )
    assert consent.status_code == 201, consent.text
    referring, approving = dict(worker.headers), dict(coordinator.headers)
    if send_traceparent is not None:
        referring["traceparent"] = approving["traceparent"] = send_traceparent

    async def proposed() -> str | None:
        # 422 on partner_id until cases has projected notifications' partner fact.
        answer = await http.post(
            f"{cases}/cases/{case_id}/referrals",
            json={
                "partner_id": partner_id,
                "partner_kind": "youth-care",
                "urgency": "routine",
                "reason_codes": ["parenting-support"],
                "note": PLANTED[4],
            },
            headers=referring,
        )
        if answer.status_code == 422:
            return None
        assert answer.status_code == 201, answer.text
        created: str = answer.json()["id"]
        return created

    referral_id = await eventually(proposed)
    referral = f"{cases}/referrals/{referral_id}"
    approved = await http.post(f"{referral}/approve", headers=approving)
    assert approved.status_code == 200, approved.text

    async def sent() -> bool | None:
        answer = await http.post(f"{referral}/send", headers=referring)
        return True if answer.status_code == 200 else None  # 409 until consent is projected

    await eventually(sent)
    return family_id, referral_id


def log_lines(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of a service log (the runner's own start markers are not JSON)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def any_line(lines: list[dict[str, Any]], **wanted: object) -> bool:
    """True if some line has every wanted key with the wanted value."""
    return any(all(line.get(k) == v for k, v in wanted.items()) for line in lines)


def flow_complete(spans: list[ReceivedSpan], trace_id: str) -> bool:
    """The webhook call and every consuming service have reported spans of the trace."""
    ours = [s for s in spans if s.trace_id == trace_id]
    services = {s.service for s in ours}
    delivered = any(s.name == "webhook deliver" and s.kind == CLIENT for s in ours)
    return delivered and {"intake", "cases", "notifications", "reporting"} <= services


async def test_one_trace_from_registration_to_the_webhook_call(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    trace_id, root_span_id = secrets.token_hex(16), secrets.token_hex(8)
    traceparent = f"00-{trace_id}-{root_span_id}-01"
    data = tmp_path_factory.mktemp("trace-stack")
    with otlp_receiver() as (receiver, otlp_url), webhook_receiver() as (calls, hook_url):
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_url,
            "OTEL_BSP_SCHEDULE_DELAY": "200",
            # Both HTTP semantic conventions: the old keys (http.url, http.target) and the new
            # ones (url.full, url.path, url.query) must all be redacted.
            "OTEL_SEMCONV_STABILITY_OPT_IN": "http/dup",
        }
        async with (
            EmbeddedStack(data, base_port=0, extra_env=env, ready_timeout=120) as stack,
            httpx.AsyncClient(timeout=15) as http,
        ):
            family_id, referral_id = await drive_the_flow(stack, http, traceparent, hook_url)

            async def delivered() -> bool | None:
                return True if any("referral.escalated" in c["body"] for c in calls) else None

            await eventually(delivered)

            async def complete() -> bool | None:
                return True if flow_complete(receiver.snapshot(), trace_id) else None

            await eventually(complete)
            # The gateway, too, answers with the trace id and logs its line.
            page_trace = secrets.token_hex(16)
            page = await http.get(
                f"{stack.urls['gateway']}/no-such-page",
                params={"q": PLANTED[0]},
                headers={"traceparent": f"00-{page_trace}-{secrets.token_hex(8)}-01"},
            )
            assert page.status_code == 404
            assert page.headers["X-Trace-Id"] == page_trace
            logs = stack.logs_dir
        spans = receiver.snapshot()

    ours = [s for s in spans if s.trace_id == trace_id]
    by_service = {s.service for s in ours}
    assert {"intake", "cases", "notifications", "reporting"} <= by_service, by_service
    assert tree_errors(spans, trace_id, root_span_id) == []
    webhook = [s for s in ours if s.name == "webhook deliver"]
    assert webhook[0].kind == CLIENT
    assert webhook[0].attributes.get("http.response.status_code") == "204"
    assert leaks(spans, PLANTED) == [], "planted personal values in spans"
    keys = {key for s in spans for key in s.attributes}
    assert {"http.url", "http.target", "url.path", "url.query"} <= keys, "both conventions"
    # Every service's spans of this family and referral can be found by their ids alone.
    by_family = {s.service for s in spans if s.attributes.get(FAMILY_ID) == family_id}
    assert {"intake", "cases", "notifications", "reporting"} <= by_family, by_family
    by_referral = {s.service for s in spans if s.attributes.get(REFERRAL_ID) == referral_id}
    assert {"cases", "notifications"} <= by_referral, by_referral
    leaked_logs = [
        f"{path.name}: {value}"
        for path in logs.glob("*.log")
        for value in PLANTED
        if value in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert leaked_logs == [], "planted personal values in logs"
    lines = {path.stem: log_lines(path) for path in logs.glob("*.log")}
    with_trace = {name for name, found in lines.items() if any_line(found, trace_id=trace_id)}
    assert {"intake", "cases", "notifications", "reporting"} <= with_trace, with_trace
    assert any_line(
        lines["intake"],
        trace_id=trace_id,
        event="http_request",
        method="GET",
        route="/families/{family_id}",
        status=422,
    )
    assert any_line(
        lines["cases"],
        trace_id=trace_id,
        event="http_request",
        method="POST",
        route="/referrals/{referral_id}/approve",
        status=200,
    )
    assert any_line(lines["gateway"], trace_id=page_trace, event="http_request", status=404)
    requests = [
        line for found in lines.values() for line in found if line.get("event") == "http_request"
    ]
    assert all(isinstance(line.get("duration_ms"), float) for line in requests)
    print(f"trace {trace_id}: {len(ours)} spans across {sorted(by_service)}")  # noqa: T201
