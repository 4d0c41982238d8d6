"""`./alamal run --traces` on the embedded stack: Arize Phoenix shows the register -> case ->
reporting trace and the send -> webhook trace, the operator page opens a trace in it, and no
span in it holds a planted personal value. Screenshots: `artifacts/screenshots/trace-ui-*.png`;
Phoenix's start-up time and memory: `artifacts/trace-ui-metrics.json`.

Opt-in (`ALAMAL_TEST_TRACE_UI=1`): the first run installs Phoenix (~620 MB) into
tools/trace-ui/.venv and Phoenix takes ~0.5 GB of memory, beyond CI's test budget.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_stack.runner import EmbeddedStack

from .test_one_trace import PLANTED, drive_the_flow, eventually, webhook_receiver

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        os.environ.get("ALAMAL_TEST_TRACE_UI") != "1",
        reason="opt-in: ALAMAL_TEST_TRACE_UI=1 installs and runs Arize Phoenix (~620 MB)",
    ),
]


def service_of(span: dict[str, Any]) -> str:
    """The `service.name` Phoenix keeps on a span (it nests dotted attribute names)."""
    attributes = span.get("attributes", {})
    nested = attributes.get("service")
    if isinstance(nested, dict):
        return str(nested.get("name", ""))
    return str(attributes.get("service.name", ""))


async def trace_with(
    ui: str, trace_id: str, services: set[str], names: frozenset[str] = frozenset()
) -> list[dict[str, Any]]:
    """The trace's spans in Phoenix once every one of `services` has reported into it and
    spans of every one of `names` are in."""

    async def complete() -> list[dict[str, Any]] | None:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.get(
                f"{ui}/v1/projects/alamal/spans", params={"trace_id": trace_id, "limit": 1000}
            )
        spans: list[dict[str, Any]] = answer.json()["data"] if answer.status_code == 200 else []
        complete = services <= {service_of(s) for s in spans}
        return spans if complete and names <= {s["name"] for s in spans} else None

    return await eventually(complete, within=120)


async def test_phoenix_shows_both_traces_and_the_operator_page_links_to_them(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if not shutil.which("chromium"):
        pytest.skip("Chromium is needed for the screenshots")
    from playwright.async_api import async_playwright

    data = tmp_path_factory.mktemp("trace-ui")
    register_trace, send_trace = secrets.token_hex(16), secrets.token_hex(16)
    with webhook_receiver() as (_, hook_url):
        async with (
            EmbeddedStack(
                data,
                base_port=0,
                ready_timeout=180,
                trace_ui=True,
                extra_env={"GATEWAY_DEMO_USERS": "1"},
            ) as stack,
            httpx.AsyncClient(timeout=30) as http,
            async_playwright() as pw,
        ):
            ui = stack.trace_ui
            assert ui is not None
            await drive_the_flow(
                stack,
                http,
                f"00-{register_trace}-{secrets.token_hex(8)}-01",
                hook_url,
                send_traceparent=f"00-{send_trace}-{secrets.token_hex(8)}-01",
            )
            register = await trace_with(ui.url, register_trace, {"intake", "cases", "reporting"})
            send = await trace_with(
                ui.url, send_trace, {"cases", "notifications"}, frozenset({"webhook deliver"})
            )
            for span in register + send:
                assert not [p for p in PLANTED if p in json.dumps(span)], span["name"]

            browser = await pw.chromium.launch(
                executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
            )
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            # The operator asks the gateway's operator page for a trace id: it opens Phoenix.
            await page.goto(f"{stack.urls['gateway']}/login")
            await page.fill("#username", "demo-operator")
            await page.fill("#password", demo_password(stack, "demo-operator"))
            await page.click("button.primary")
            await page.wait_for_load_state("load")
            await page.goto(f"{stack.urls['gateway']}/operator")
            await page.fill("#trace-id", register_trace)
            await page.click("form[action='/operator'] button")
            await page.wait_for_load_state("load")
            link = page.locator("#trace-link")
            assert await link.get_attribute("href") == ui.trace_link(register_trace)
            await link.click()
            # Phoenix keeps polling: wait for its trace page, never for an idle network.
            await page.wait_for_url(f"{ui.url}/**/traces/**", timeout=60_000)
            shown = (
                (register_trace, "register", "POST /families"),
                (send_trace, "send", "webhook deliver"),
            )
            for trace_id, name, span_name in shown:
                await page.goto(ui.trace_link(trace_id), wait_until="load")
                # The trace tree has rendered once a span of it is named on the page.
                await page.get_by_text(span_name).first.wait_for(timeout=120_000)
                await page.wait_for_timeout(1000)
                SHOTS.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(SHOTS / f"trace-ui-{name}.png"), full_page=True)
                body = await page.inner_text("body")
                assert not [p for p in PLANTED if p in body]
            await browser.close()
            metrics = {
                "startup_seconds": round(ui.startup_seconds or 0, 1),
                "rss_mib": round((ui.rss_bytes() or 0) / 2**20),
                "register_trace": {"spans": len(register), "services": services(register)},
                "send_trace": {"spans": len(send), "services": services(send)},
            }
    (REPO / "artifacts").mkdir(exist_ok=True)
    (REPO / "artifacts" / "trace-ui-metrics.json").write_text(json.dumps(metrics, indent=2))
    print("trace UI:", json.dumps(metrics))  # noqa: T201 - the figures are the output


def services(spans: list[dict[str, Any]]) -> list[str]:
    """The services that reported spans."""
    return sorted({service_of(s) for s in spans})


def demo_password(stack: EmbeddedStack, user: str) -> str:
    """A demo user's password from the gateway's demo file."""
    rows = (stack.data_dir / "gateway" / "demo-users.txt").read_text(encoding="utf-8")
    return next(line.split("\t")[2] for line in rows.splitlines() if line.startswith(user))
