"""Headless Chromium on the full embedded stack: the staff flows as a user clicks through them.

Screenshots go to `artifacts/screenshots/`, page weights and server times of the caseload and
visit pages to `artifacts/gateway-metrics.json` (and are printed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role, mint_token
from alamal_stack.runner import EmbeddedStack

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[3]
ARTIFACTS = REPO / "artifacts"
SHOTS = ARTIFACTS / "screenshots"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _require_chromium() -> None:
    if CHROMIUM.exists() or shutil.which("chromium"):
        return
    if os.environ.get("CI"):
        pytest.fail("CI is set but Chromium is missing at /usr/bin/chromium (install `chromium`)")
    pytest.skip("Chromium not installed at /usr/bin/chromium: browser tests skipped locally")


@dataclass
class Metrics:
    """Per page: bytes of every response the page load fetched, and the server's time."""

    pages: dict[str, dict[str, float]] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    """The whole platform as `./alamal run` starts it, with the dev demo users."""
    _require_chromium()
    data = tmp_path_factory.mktemp("stack")
    async with EmbeddedStack(
        data, base_port=0, ready_timeout=90, extra_env={"GATEWAY_DEMO_USERS": "1"}
    ) as running:
        yield running


def demo_passwords(stack: EmbeddedStack) -> dict[str, str]:
    """username -> password from the gateway's demo file (mode 0600)."""
    path = stack.data_dir / "gateway" / "demo-users.txt"
    assert path.stat().st_mode & 0o077 == 0, "the demo file must be readable by its owner only"
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    return {name: password for name, _, password in rows}


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def new_phone(browser: Any) -> Any:
    """A fresh phone-sized browser context (no cookies shared with other users)."""
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    context.set_default_timeout(20_000)
    return context


async def shot(page: Any, name: str) -> None:
    """Keep a full-page screenshot as an artefact."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def measured_goto(page: Any, url: str, metrics: Metrics, name: str) -> None:
    """Load a page; record its weight (HTML + every asset it uses, KB) and the server time."""
    started = time.perf_counter()
    response = await page.goto(url, wait_until="load")
    wall_ms = (time.perf_counter() - started) * 1000
    assert response is not None
    assert response.status == 200
    timing = response.headers.get("server-timing", "")
    assert "dur=" in timing, f"no Server-Timing on {name}"
    html = await response.body()
    assets = await page.eval_on_selector_all(
        "link[href], img[src], script[src]", "els => els.map(e => e.href || e.src)"
    )
    sizes = [len(html)]
    for asset in sorted(set(assets)):
        fetched = await page.request.get(asset)
        sizes.append(len(await fetched.body()))
    metrics.pages[name] = {
        "weight_kb": round(sum(sizes) / 1024, 1),
        "html_kb": round(len(html) / 1024, 1),
        "requests": len(sizes),
        "server_ms": round(float(timing.split("dur=")[1].split(",")[0]), 1),
        "load_ms": round(wall_ms, 1),
    }


def trace_ids(path: Path, event: str, **fields: str) -> set[str]:
    """Trace ids of a service's JSON log lines for `event` with the given fields."""
    found: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and record.get("event") == event
            and all(record.get(k) == v for k, v in fields.items())
            and record.get("trace_id")
        ):
            found.add(str(record["trace_id"]))
    return found


async def log_in(page: Any, base: str, username: str, password: str) -> None:
    """Log in through the form."""
    await page.goto(f"{base}/login")
    await page.fill("#username", username)
    await page.fill("#password", password)
    await page.click("button.primary")
    await page.wait_for_load_state("load")


async def wait_for_case(page: Any, within: float = 45.0) -> None:
    """Reload the family page until the case (opened from intake's event) shows up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await page.locator("a.button.primary", has_text="Bezoek vastleggen").count():
            return
        await page.wait_for_timeout(500)
        await page.reload()
    raise AssertionError("the family's case did not open in time")


def admin_token(stack: EmbeddedStack) -> str:
    """A service token of an admin, signed with the stack's dev key."""
    private = Path(stack.keys.signing).read_text(encoding="ascii")
    return mint_token(private, user_id=str(uuid.uuid4()), role=Role.ADMIN, wijken=set())


async def register_partners(stack: EmbeddedStack, partners: dict[str, str]) -> dict[str, str]:
    """Register partners (name -> kind) at notifications as an admin would; name -> id."""
    admin = admin_token(stack)
    ids: dict[str, str] = {}
    async with httpx.AsyncClient(timeout=15) as http:
        for name, kind in partners.items():
            created = await http.post(
                f"{stack.urls['notifications']}/partners",
                json={"name": name, "kind": kind},
                headers={"Authorization": f"Bearer {admin}"},
            )
            assert created.status_code == 201, created.text
            ids[name] = created.json()["id"]
    return ids


async def propose_to(page: Any, partner_name: str, urgency: str, reason: str) -> None:
    """Fill the referral form choosing the partner BY NAME; resubmit while cases has not yet
    learnt of a just-registered partner (its event is on its way)."""
    await page.click("text=Doorverwijzen naar een partner")
    assert await page.locator("#partner_kind").count() == 0  # no kind to choose or post
    assert await page.locator("input#partner_id").count() == 0  # no id to type
    options = await page.locator("#partner_id option").all_inner_texts()
    assert any(o.startswith(partner_name + " (") for o in options), options
    deadline = time.monotonic() + 30
    while True:
        await page.select_option(
            "#partner_id", label=next(o for o in options if o.startswith(partner_name + " ("))
        )
        await page.check(f"input[name=urgency][value={urgency}]")
        if not await page.is_checked(f"input[name=reason_codes][value={reason}]"):
            await page.check(f"input[name=reason_codes][value={reason}]")
        await page.click("button.primary")
        await page.wait_for_load_state("load")
        if "De doorverwijzing is voorgesteld." in await page.content():
            return
        assert await page.locator("#partner_id-error").is_visible()
        assert time.monotonic() < deadline, "cases never learnt of the partner"
        await page.wait_for_timeout(300)


async def test_staff_flows_in_chromium(stack: EmbeddedStack, browser: Any) -> None:
    """Trusted person and coordinator: register, visit, referrals, Meldcode, Arabic, not-found."""
    base = stack.urls["gateway"]
    passwords = demo_passwords(stack)
    metrics = Metrics()
    await register_partners(
        stack,
        {
            "Jeugdzorg Utrecht": "youth-care",
            "Politie Overvecht": "police",
            "Veilig Thuis Utrecht": "veilig-thuis",
        },
    )

    # A trusted person on her phone.
    context = await new_phone(browser)
    page = await context.new_page()
    await log_in(page, base, "demo-vertrouwenspersoon", passwords["demo-vertrouwenspersoon"])
    assert page.url.endswith("/caseload")
    assert await page.get_attribute("html", "lang") == "nl"
    await shot(page, "01-caseload-empty")

    # Register a family: an error first (no birth year), shown next to the field, input kept.
    await page.click("text=Gezin aanmelden >> nth=0")
    await page.fill("#m0_first_name", "Fatima")
    await page.select_option("#intake_source", "school")
    await page.check("input[name=consent_care][value=yes]")
    await page.click("button.primary")
    assert await page.locator("#m0_birth_year-error").is_visible()
    assert await page.input_value("#m0_first_name") == "Fatima"
    await shot(page, "02-register-error")
    await page.fill("#m0_birth_year", "1986")
    await page.fill("#m1_first_name", "Yasmine")
    await page.fill("#m1_birth_year", "2016")
    await page.check("input[name=languages][value=ar]")
    for purpose, answer in (
        ("reporting", "yes"),
        ("share-youth-care", "yes"),
        ("share-police", "yes"),
        ("share-veilig-thuis", "no"),
    ):
        await page.check(f"input[name=consent_{purpose}][value={answer}]")
    await page.click("button.primary")
    await page.wait_for_load_state("load")
    assert "/families/" in page.url
    family_url = page.url.split("?")[0]
    await wait_for_case(page)
    await shot(page, "03-family")

    # Log a visit with the defaults plus one topic: a few taps.
    await page.click("a.button.primary >> text=Bezoek vastleggen")
    visit_url = page.url
    await measured_goto(page, visit_url, metrics, "visit")
    await shot(page, "04-visit-form")
    await page.check("input[name=topic_codes][value=school]")
    await page.click("button.primary.big")
    await page.wait_for_load_state("load")
    assert "Het bezoek is opgeslagen." in await page.content()
    assert "Huisbezoek" in await page.content()

    # The plan starts from the family's own strengths.
    await page.fill("input[name=strength]", "Moeder spreekt goed Nederlands")
    await page.click("form[action$='/plan/strengths'] button")
    await page.wait_for_load_state("load")
    await page.select_option("select[name=area]", "school")
    await page.fill("input[name=description]", "Yasmine elke dag op tijd op school")
    await page.click("form[action$='/plan/goals'] button")
    await page.wait_for_load_state("load")
    assert "Het plan is opgeslagen." in await page.content()
    assert "Moeder spreekt goed Nederlands" in await page.content()

    # An urgent referral she sends herself; a routine one waits for the coordinator.
    for name, urgency in (("Jeugdzorg Utrecht", "urgent"), ("Politie Overvecht", "routine")):
        await propose_to(page, name, urgency, "parenting-support")
    names = await page.locator(".card .partner-name").all_inner_texts()
    assert names == ["Jeugdzorg Utrecht", "Politie Overvecht"]  # the cards name the partner
    await page.click("form[action$='/send'] button >> nth=0")
    await page.wait_for_load_state("load")
    assert "De doorverwijzing is naar de partner verstuurd." in await page.content()
    assert "Wacht op goedkeuring van een coördinator." in await page.content()
    await shot(page, "05-referrals-trusted-person")

    await measured_goto(page, f"{base}/caseload", metrics, "caseload")
    assert "Fatima, Yasmine" in await page.content()
    await shot(page, "06-caseload")

    # Editing the URL to a family that is not hers shows a not-found page.
    response = await page.goto(f"{base}/families/{uuid.uuid4()}")
    assert response is not None
    assert response.status == 404
    assert "Niet gevonden" in await page.content()

    # Arabic, right to left, kept for her next pages.
    await page.goto(f"{base}/caseload")
    await page.select_option("#language", "ar")
    await page.click("form[action='/language'] button")
    await page.wait_for_load_state("load")
    assert await page.get_attribute("html", "dir") == "rtl"
    assert await page.get_attribute("html", "lang") == "ar"
    await page.goto(family_url)
    assert await page.get_attribute("html", "dir") == "rtl"
    await shot(page, "07-family-arabic")
    await page.click("form[action='/logout'] button")
    await context.close()

    # The coordinator approves and sends the routine referral, and uses the Meldcode override.
    context = await new_phone(browser)
    page = await context.new_page()
    await log_in(page, base, "demo-coordinator", passwords["demo-coordinator"])
    await page.click("text=Fatima, Yasmine")
    await page.click("form[action$='/approve'] button")
    await page.wait_for_load_state("load")
    assert "De doorverwijzing is goedgekeurd en kan worden verstuurd." in await page.content()
    await page.click("form[action$='/send'] button")
    await page.wait_for_load_state("load")
    assert "De doorverwijzing is naar de partner verstuurd." in await page.content()

    await propose_to(page, "Veilig Thuis Utrecht", "acute", "safety-child")
    assert await page.locator("form.meldcode").is_visible()
    await page.click("form[action$='/send'] button")
    await page.wait_for_load_state("load")
    assert "geen toestemming gegeven" in await page.content()
    await page.click("form.meldcode button")
    await page.wait_for_load_state("load")
    assert "De doorbreking volgens de Meldcode is vastgelegd." in await page.content()
    await page.click("form[action$='/send'] button")
    await page.wait_for_load_state("load")
    assert "Doorbreking volgens de Meldcode" in await page.content()
    await shot(page, "08-referrals-coordinator")
    await page.click("details.close-case summary")
    await page.check("input[name=outcome_codes][value=referred-on]")
    await page.click("details.close-case button")
    await page.wait_for_load_state("load")
    assert "Het dossier is gesloten." in await page.content()
    assert await page.locator("a.button.primary", has_text="Bezoek vastleggen").count() == 0

    # Her reports: a suppressed table, charts and a CSV download, proxied from reporting.
    await page.goto(f"{base}/reports")
    assert await page.locator("main table").count() == 1
    await page.wait_for_load_state("networkidle")
    widths = await page.eval_on_selector_all("figure img", "els => els.map(e => e.naturalWidth)")
    assert len(widths) == 3
    assert all(w > 0 for w in widths), "a chart did not load"
    await shot(page, "09-reports")
    csv = await page.request.get(f"{base}/reports/download/families.csv?breakdown=wijk")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    chart = await page.request.get(f"{base}/reports/charts/families-per-wijk.svg")
    assert chart.status == 200
    assert chart.headers["content-type"] == "image/svg+xml"
    await context.close()

    # The admin manages users and partners; the operations page shows health, no personal data.
    context = await new_phone(browser)
    page = await context.new_page()
    await log_in(page, base, "demo-admin", passwords["demo-admin"])
    assert page.url.endswith("/admin/users")
    await shot(page, "10-users")
    await page.goto(f"{base}/admin/partners")
    await page.fill("#partner-name", "Jeugdzorg Utrecht")
    await page.select_option("#partner-kind", "youth-care")
    await page.click("form[action='/admin/partners'] button.primary")
    await page.wait_for_load_state("load")
    assert "The partner is registered." in await page.content()
    assert "Jeugdzorg Utrecht" in await page.content()
    await shot(page, "11-partners")
    await context.close()

    # The operator: health, dead letters and delivery failures, without personal data.
    context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="nl-NL")
    page = await context.new_page()
    await log_in(page, base, "demo-operator", passwords["demo-operator"])
    await page.goto(f"{base}/operator")
    operations = await page.content()
    assert operations.count(">ready<") == 4
    assert "Fatima" not in operations
    # Both lists come from the services (in the operator's language, English here).
    assert "Dead letters" in operations
    assert "not available yet" not in operations
    assert "does not answer" not in operations
    await shot(page, "12-operator")
    await context.close()

    # One trace from the page request into the service; no personal value in the gateway's log.
    logs = stack.data_dir / "logs"
    gateway_calls = trace_ids(logs / "gateway.log", "service_call", service="cases", method="POST")
    assert trace_ids(logs / "cases.log", "visit_logged") & gateway_calls
    gateway_log = (logs / "gateway.log").read_text(encoding="utf-8")
    for planted in ("Fatima", "Yasmine", passwords["demo-vertrouwenspersoon"]):
        assert planted not in gateway_log
    # The birth year as a value of its own, not as digits inside a hex id or a timestamp.
    assert not re.search(r"(?<![0-9a-fA-F])1986(?![0-9a-fA-F])", gateway_log)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    report = {"viewport": "390x844", "pages": metrics.pages}
    (ARTIFACTS / "gateway-metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print("gateway page metrics:", json.dumps(report))  # noqa: T201 - the figures are the output
    for name in ("caseload", "visit"):
        assert metrics.pages[name]["weight_kb"] < 100, "pages must stay small for phones"
