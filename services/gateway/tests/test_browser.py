"""Headless Chromium on the full embedded stack: the staff flows as a user clicks through them.

Screenshots go to `artifacts/screenshots/`, page weights and server times of the caseload and
visit pages to `artifacts/gateway-metrics.json` (and are printed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]


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


@pytest.fixture(scope="module", params=["sqlite", "mongodb"])
async def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[EmbeddedStack]:
    """The whole platform as `./alamal run` starts it, with the dev demo users: on SQLite, then
    on MongoDB (`--store mongodb`: a mongoeco server per service)."""
    _require_chromium()
    data = tmp_path_factory.mktemp(f"stack-{request.param}")
    async with EmbeddedStack(
        data,
        base_port=0,
        ready_timeout=240,
        extra_env={"GATEWAY_DEMO_USERS": "1"},
        store=request.param,
    ) as running:
        yield running


async def unreadable_record(stack: EmbeddedStack, value: bytes) -> str:
    """Publish a record no consumer can read to intake's registrations; `topic:part:offset`."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = await producer.send_and_wait("intake.family-registered.v1", value=value, key=b"x")
    finally:
        await producer.stop()
    return f"intake.family-registered.v1:{sent.partition}:{sent.offset}"


def ops_tool(*args: str) -> str:
    """What `alamal-ops` prints (run in-process, wide, without colours)."""
    import io

    from rich.console import Console

    from alamal_ops.cli import main

    out = io.StringIO()
    assert main(["--no-progress", *args], console=Console(file=out, width=250)) == 0, out.getvalue()
    return out.getvalue()


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


LANGS = ("nl", "en", "ar")
FAMILY = {"nl": "Fatima", "en": "Amina", "ar": "ليلى"}
SERIOUS = ("critical", "serious")
TAP_TARGETS = """() => [...document.querySelectorAll(
  'main button, main a.button, header button, header select, main select,'
  + ' main input:not([type=hidden]):not([type=radio]):not([type=checkbox]), main label.tile,'
  + ' main label.check')]
  .filter(e => e.offsetParent !== null && !e.closest('.sr-only'))
  .map(e => [e.outerHTML.slice(0, 70), e.getBoundingClientRect()])
  .filter(([_, r]) => r.width < 44 || r.height < 44)
  .map(([html, r]) => `${html} (${Math.round(r.width)}x${Math.round(r.height)})`)"""
"""The main actions' tap targets (buttons, fields, choices): at least 44 x 44 CSS px."""
CHART_TEXT = """() => Math.min(...[...document.querySelectorAll('.chart-figure, .chart-figure *')]
  .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
  .map(e => parseFloat(getComputedStyle(e).fontSize)))"""


@dataclass
class Walk:
    """What the walk measured: axe counts per page and language, screenshots taken."""

    axe: dict[str, dict[str, int]] = field(default_factory=dict)
    shots: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screens: dict[str, float] = field(default_factory=dict)


async def check(page: Any, walk: Walk, name: str) -> None:
    """axe-core on the page as it is now (0 critical and 0 serious allowed), then a screenshot."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    counts: dict[str, int] = {}
    for violation in results.response["violations"]:
        impact = str(violation.get("impact") or "minor")
        counts[impact] = counts.get(impact, 0) + len(violation["nodes"])
        if impact in SERIOUS:
            targets = [n["target"] for n in violation["nodes"]][:3]
            walk.problems.append(f"{name}: {violation['id']} ({impact}) {targets}")
    walk.axe[name] = counts
    small = await page.evaluate(TAP_TARGETS)
    walk.problems.extend(f"{name}: tap target under 44x44 px: {target}" for target in small)
    await shot(page, name)
    walk.shots.append(f"{name}.png")


SCREENS = "() => document.documentElement.scrollHeight / window.innerHeight"
MAX_SCREENS = 2.1
"""Registration fits in about two phone screens (issue 12, item 7)."""


async def screens(page: Any, walk: Walk, name: str, *, asserted: bool = True) -> None:
    """How many phone screens the page is high (document height / viewport height)."""
    height = round(float(await page.evaluate(SCREENS)), 2)
    walk.screens[name] = height
    if asserted and height > MAX_SCREENS:
        walk.problems.append(f"{name}: {height} phone screens high (at most {MAX_SCREENS})")


async def switch_language(page: Any, base: str, language: str) -> None:
    """Use the switch in the header; the choice is kept on the user."""
    await page.goto(f"{base}/caseload" if "/admin" not in page.url else page.url)
    await page.select_option("#language", language)
    await page.click("form[action='/language'] button")
    await page.wait_for_load_state("load")
    assert await page.get_attribute("html", "lang") == language


async def submit(page: Any, selector: str) -> None:
    """Click a submit button and wait for the answer page."""
    async with page.expect_navigation(wait_until="load"):
        await page.click(selector)


async def wait_for_case(page: Any, within: float = 45.0) -> None:
    """Reload the family page until the case (opened from intake's event) shows up."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await page.locator("a[href$='/visits/new']").count():
            return
        await page.wait_for_timeout(300)
        await page.reload()
    raise AssertionError("the family's case did not open in time")


async def trusted_person_day(page: Any, base: str, language: str, walk: Walk) -> str:
    """Register a family, find it, log a visit, update the plan, change consent, refer to a
    partner chosen by name, read the timeline and see the agenda. Returns the family URL."""
    name = FAMILY[language]
    await page.goto(f"{base}/families/new")
    await screens(page, walk, f"{language}-register")
    await check(page, walk, f"{language}-tp-register")
    await page.select_option("#m0_role", "mother")
    await page.fill("#m0_first_name", name)
    await page.fill("#m0_birth_year", "1986")
    await submit(page, "#add-member")  # one person at a time, no JavaScript needed
    # She is kept as one line (with a button to change her), the next person's fields open.
    assert await page.input_value("input[type=hidden][name=m0_first_name]") == name
    assert await page.inner_text("li.person bdi") == name
    await screens(page, walk, f"{language}-register-one-added")
    await check(page, walk, f"{language}-tp-register-one-added")
    await page.select_option("#m1_role", "child")
    await page.fill("#m1_first_name", "Yasmine")
    await page.fill("#m1_birth_year", "2016")
    await page.select_option("#intake_source", "school")
    await page.check("input[name=languages][value=ar]")
    await page.check("input[name=consent_care][value=yes]")
    await page.check("input[name=consent_reporting][value=yes]")
    await page.check("input[name=share][value=share-youth-care]")
    await submit(page, "form[action='/families/new'] button.primary")
    assert "/families/" in page.url
    family_url = page.url.split("?")[0]
    await wait_for_case(page)

    # Find the family by a part of the name.
    await page.goto(f"{base}/caseload?q={name[:3]}")
    await check(page, walk, f"{language}-tp-find")
    await page.click(f"#find-title ~ ul.cards a[href='{family_url.removeprefix(base)}']")
    await page.wait_for_load_state("load")
    assert page.url.split("?")[0] == family_url

    # Log a visit with a note and a strength seen, follow up in a week.
    await page.click("a[href$='/visits/new']")
    await page.wait_for_load_state("load")
    await check(page, walk, f"{language}-tp-visit")
    await page.check("input[name=topic_codes][value=school]")
    await page.check("input[name=follow_up][value='7']")
    await page.click("details summary")
    await page.fill("#strength", "Moeder zoekt zelf hulp")
    await page.fill("#private_note", f"Notitie {language}: vader werkt 's nachts")
    await submit(page, "button.primary.big")
    assert "notice=visit-logged" in page.url

    # The plan: a strength, a goal, then progress on it.
    await page.fill("input[name=strength]", "Warm contact met school")
    await submit(page, "form[action$='/plan/strengths'] button")
    await page.select_option("select[name=area]", "school")
    await page.fill("input[name=description]", "Yasmine elke dag op tijd")
    await submit(page, "form[action$='/plan/goals'] button")
    await page.select_option("form[action*='/plan/goals/'] select[name=status]", "in-progress")
    await page.fill("form[action*='/plan/goals/'] input[name=note]", "Twee weken gelukt")
    await submit(page, "form[action*='/plan/goals/'] button")
    assert "notice=plan-saved" in page.url

    # The family now also agrees to sharing with the police: a new answer, history kept.
    await page.click("#consent-title ~ details summary")
    await page.select_option("#consent-purpose", "share-police")
    await page.check("form[action$='/consents'] input[name=granted][value=yes]")
    await submit(page, "form[action$='/consents'] button")
    assert "notice=consent-recorded" in page.url
    # The timeline: the answers given at registration as one entry, the change as its own.
    assert await page.locator("li.tl-consent-registration").count() == 1
    assert await page.locator("li.tl-consent").count() == 1

    # Refer to a partner chosen by its name.
    await page.click("a[href$='/referrals/new']")
    await page.wait_for_load_state("load")
    await check(page, walk, f"{language}-tp-referral")
    value = await page.eval_on_selector(
        "#partner_id",
        "s => [...s.options].find(o => o.textContent.includes('Jeugdzorg Utrecht')).value",
    )
    await page.select_option("#partner_id", value)
    await page.check("input[name=urgency][value=routine]")
    await page.check("input[name=reason_codes][value=parenting-support]")
    await submit(page, "form[action$='/referrals/new'] button.primary")
    assert "notice=referral-proposed" in page.url

    # Read what was written: the timeline holds the visit's note and the goal's progress.
    content = await page.content()
    for written in (f"Notitie {language}", "Twee weken gelukt", "Jeugdzorg Utrecht"):
        assert written in content, written
    await check(page, walk, f"{language}-tp-family")
    await page.goto(f"{family_url}/summary")
    assert f"Notitie {language}" not in await page.content()
    await check(page, walk, f"{language}-tp-summary")
    # On paper: no menu, buttons or hints for the screen; the family, its plan and timeline.
    await page.emulate_media(media="print")
    for screen_only in ("header.top", "p.no-print", "p.hint.no-print"):
        assert not await page.locator(screen_only).first.is_visible(), screen_only
    for printed in ("article.summary h1", "article.summary .timeline"):
        assert await page.locator(printed).first.is_visible(), printed
    await page.emulate_media(media="screen")
    await page.goto(f"{family_url}/edit")
    await check(page, walk, f"{language}-tp-edit")

    # Her agenda shows the follow-up planned for next week.
    await page.goto(f"{base}/agenda")
    assert family_url.removeprefix(base) in await page.content()
    await check(page, walk, f"{language}-tp-agenda")
    await page.goto(f"{base}/caseload")
    await check(page, walk, f"{language}-tp-caseload")
    return family_url


async def coordinator_day(
    page: Any, base: str, language: str, walk: Walk, family_url: str, second_tp: str
) -> None:
    """Approve from the inbox, see each trusted person's caseload, reassign the family."""
    family_path = family_url.removeprefix(base)
    # Her registration form also asks for the trusted person (and her menu is longer): measured,
    # reported, not held to the trusted person's limit.
    await page.goto(f"{base}/families/new")
    await screens(page, walk, f"{language}-register-coordinator", asserted=False)
    await page.goto(f"{base}/team")
    await check(page, walk, f"{language}-coord-team")
    await submit(page, f"#inbox-title ~ ul a.button[href^='{family_path}']")
    await submit(page, "form[action$='/approve'] button")
    assert "notice=referral-approved" in page.url
    await page.goto(f"{base}/team")
    assert family_path not in await page.inner_html("#inbox-title + ul")
    await page.click("#loads-title ~ ul a[href^='/team/'] >> nth=0")
    await page.wait_for_load_state("load")
    await check(page, walk, f"{language}-coord-holder")
    await page.goto(family_url)
    await page.select_option("#new-tp", label=second_tp)
    await submit(page, "form[action$='/assignment'] button")
    assert "notice=reassigned" in page.url
    await check(page, walk, f"{language}-coord-family")
    await page.goto(f"{base}/reports")
    smallest = await page.evaluate(CHART_TEXT)
    assert smallest >= 12, f"chart text of {smallest}px at 390 px wide"
    assert await page.locator(".chart-figure").count() == 3
    await check(page, walk, f"{language}-coord-reports")
    await page.goto(f"{base}/caseload")
    await check(page, walk, f"{language}-coord-caseload")


async def test_staff_days_in_every_language(stack: EmbeddedStack, browser: Any) -> None:
    """The "Done when" flows of issue 12 in nl, en and ar, with axe-core on every page."""
    base = stack.urls["gateway"]
    passwords = demo_passwords(stack)
    walk, metrics = Walk(), Metrics()

    # The admin registers a partner and a second trusted person (to reassign to).
    admin_ctx = await new_phone(browser)
    admin = await admin_ctx.new_page()
    await log_in(admin, base, "demo-admin", passwords["demo-admin"])
    await admin.goto(f"{base}/admin/partners")
    await admin.fill("#partner-name", "Jeugdzorg Utrecht")
    await admin.select_option("#partner-kind", "youth-care")
    await submit(admin, "form[action='/admin/partners'] button.primary")
    await admin.goto(f"{base}/admin/users")
    await admin.fill("#new-username", "demo-tweede")
    await admin.fill("#new-name", "Youssef")
    await admin.select_option("#new-role", "trusted_person")
    await admin.select_option("#new-wijken", ["overvecht"])
    await admin.fill("#new-password", "a second long password")
    await submit(admin, "form[action='/admin/users'] button.primary")
    assert "notice=user-created" in admin.url

    tp_ctx, coord_ctx = await new_phone(browser), await new_phone(browser)
    tp, coord = await tp_ctx.new_page(), await coord_ctx.new_page()
    await log_in(tp, base, "demo-vertrouwenspersoon", passwords["demo-vertrouwenspersoon"])
    await log_in(coord, base, "demo-coordinator", passwords["demo-coordinator"])
    operator_ctx = await new_phone(browser)
    operator = await operator_ctx.new_page()
    await log_in(operator, base, "demo-operator", passwords["demo-operator"])
    privacy_ctx = await new_phone(browser)
    privacy = await privacy_ctx.new_page()
    await log_in(privacy, base, "demo-privacy", passwords["demo-privacy"])

    # The pages' words and axe's verdicts are the gateway's own, whatever the store: on MongoDB
    # the day runs in Dutch only (the staff's default), which keeps CI's time within budget.
    languages = LANGS if stack.store == "sqlite" else ("nl",)
    for language in languages:
        for page in (tp, coord, admin, operator):
            await switch_language(page, base, language)
        family_url = await trusted_person_day(tp, base, language, walk)
        await coordinator_day(coord, base, language, walk, family_url, "Youssef")
        for path, name in (("/admin/users", "users"), ("/admin/partners", "partners")):
            await admin.goto(f"{base}{path}")
            await check(admin, walk, f"{language}-admin-{name}")
        await operator.goto(f"{base}/operator")
        operations = await operator.content()
        assert FAMILY[language] not in operations
        await check(operator, walk, f"{language}-operator")
        await tp.goto(f"{base}/login")
        await check(tp, walk, f"{language}-login")
        # The privacy officer's retention page: the deletion log and the dry run.
        await privacy.goto(f"{base}/retention")
        await privacy.select_option("#language", language)
        await submit(privacy, "form[action='/language'] button")
        assert await privacy.get_attribute("html", "lang") == language
        assert await privacy.locator("#rules-table").count() == 1
        await check(privacy, walk, f"{language}-retention")
        await privacy.goto(f"{base}/retention/run")
        await check(privacy, walk, f"{language}-retention-run")
        # Her page of the family the trusted person registered: who it is, export and erasure.
        await privacy.goto(f"{base}/privacy?name={FAMILY[language][:3]}")
        await check(privacy, walk, f"{language}-privacy-search")
        family_id = family_url.rstrip("/").rsplit("/", 1)[-1]
        await privacy.goto(f"{base}/privacy/families/{family_id}")
        assert await privacy.locator("form[action$='/erasure']").count() == 1
        await check(privacy, walk, f"{language}-privacy-family")

    # A record nobody can read reaches cases and reporting: each dead-letters it under one name,
    # the same on this page, in the services' API and in alamal-ops; the operator closes one.
    letter = await unreadable_record(stack, f'{{"first_name": "{FAMILY["nl"]}"}}'.encode())
    card = f"li[data-letter='cases:{letter}']"
    for _ in range(150):
        await operator.goto(f"{base}/operator")
        if await operator.locator(f"li[data-letter$=':{letter}']").count() >= 2:
            break
        await operator.wait_for_timeout(200)
    assert await operator.locator(card).get_attribute("data-state") == "open"
    assert FAMILY["nl"] not in await operator.content()
    await operator.select_option(f"{card} select[name=reason]", "test-data")
    await submit(operator, f"{card} form[action$='/resolve'] button")
    assert "notice=letter-resolved" in operator.url
    assert await operator.locator(card).get_attribute("data-state") == "resolved"
    await check(operator, walk, "operator-dead-letters")
    # A trace id from an error answer: without a trace UI the page says where to look instead.
    await switch_language(operator, base, "en")
    await operator.goto(f"{base}/operator")
    await operator.fill("#trace-id", "ab" * 16)
    await submit(operator, "form[action='/operator'] button")
    assert "look the trace id up in the services' logs" in await operator.content()
    listing = await asyncio.to_thread(
        ops_tool, "--data-dir", str(stack.data_dir), "dead-letters", "list"
    )
    assert f"cases:{letter}" in listing
    assert f"reporting:{letter}" in listing
    assert "resolved (test-data)" in listing
    assert FAMILY["nl"] not in listing

    # Page weights and server times (Dutch, the staff's default), as the last note had them.
    for path, name in (("/caseload", "caseload"), ("/agenda", "agenda")):
        await measured_goto(tp, f"{base}{path}", metrics, name)
    await coord.goto(f"{base}/caseload?q=Fat")
    family_path = await coord.get_attribute("#find-title ~ ul.cards a", "href")
    await measured_goto(coord, f"{base}{family_path}", metrics, "family")
    await measured_goto(tp, f"{base}/families/new", metrics, "register")
    for path, name in (("/team", "team"), ("/reports", "reports")):
        await measured_goto(coord, f"{base}{path}", metrics, name)
    await measured_goto(operator, f"{base}/operator", metrics, "operator")
    for ctx in (tp_ctx, coord_ctx, admin_ctx, operator_ctx, privacy_ctx):
        await ctx.close()

    # One trace from the page request into the service; no personal value in the gateway's log.
    logs = stack.data_dir / "logs"
    gateway_calls = trace_ids(logs / "gateway.log", "service_call", service="cases", method="POST")
    assert trace_ids(logs / "cases.log", "visit_logged") & gateway_calls
    gateway_log = (logs / "gateway.log").read_text(encoding="utf-8")
    for planted in (*FAMILY.values(), "Yasmine", passwords["demo-vertrouwenspersoon"]):
        assert planted not in gateway_log

    report = {
        "viewport": "390x844",
        "pages": metrics.pages,
        "axe": walk.axe,
        "screenshots": walk.shots,
        "screens_high": walk.screens,
    }
    if stack.store == "sqlite":  # the reference figures; the MongoDB run checks the same limits
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "gateway-metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"gateway page metrics ({stack.store}):", json.dumps(report))  # noqa: T201 - the figures
    assert len(walk.screens) == 3 * len(languages)
    assert not walk.problems, "axe, tap targets or page heights:\n" + "\n".join(walk.problems)
    for name in ("caseload", "family", "register"):
        assert metrics.pages[name]["weight_kb"] < 100, "pages must stay small for phones"


async def test_urgent_referrals_meldcode_closing_and_downloads(
    stack: EmbeddedStack, browser: Any
) -> None:
    """In Dutch: an urgent referral sent at once, the Meldcode override for Veilig Thuis,
    closing a case, a report download, and another's family shown as not found."""
    base = stack.urls["gateway"]
    passwords = demo_passwords(stack)
    walk = Walk()
    admin_ctx = await new_phone(browser)
    admin = await admin_ctx.new_page()
    await log_in(admin, base, "demo-admin", passwords["demo-admin"])
    await switch_language(admin, base, "nl")
    await admin.goto(f"{base}/admin/partners")
    await admin.fill("#partner-name", "Veilig Thuis Utrecht")
    await admin.select_option("#partner-kind", "veilig-thuis")
    await submit(admin, "form[action='/admin/partners'] button.primary")
    await admin_ctx.close()

    context = await new_phone(browser)
    page = await context.new_page()
    await log_in(page, base, "demo-coordinator", passwords["demo-coordinator"])
    await switch_language(page, base, "nl")
    await page.goto(f"{base}/caseload?q=Fatima")
    await page.click("#find-title ~ ul.cards a")
    await page.wait_for_load_state("load")
    family_url = page.url.split("?")[0]

    async def refer(partner: str, urgency: str, reason: str) -> None:
        await page.goto(family_url)
        await page.click("a[href$='/referrals/new']")
        await page.wait_for_load_state("load")
        value = await page.eval_on_selector(
            "#partner_id",
            f"s => [...s.options].find(o => o.textContent.includes('{partner}')).value",
        )
        await page.select_option("#partner_id", value)
        await page.check(f"input[name=urgency][value={urgency}]")
        await page.check(f"input[name=reason_codes][value={reason}]")
        await submit(page, "form[action$='/referrals/new'] button.primary")
        assert "notice=referral-proposed" in page.url

    # Urgent, with consent for youth care: sent at once.
    await refer("Jeugdzorg Utrecht", "urgent", "parenting-support")
    await submit(page, "form[action$='/send'] button >> nth=0")
    assert "notice=referral-sent" in page.url

    # Acute to Veilig Thuis without consent: refused, until the Meldcode override.
    await refer("Veilig Thuis Utrecht", "acute", "safety-child")
    assert await page.locator("form.meldcode").is_visible()
    await submit(page, "form[action$='/send'] button >> nth=-1")
    assert "notice=consent-missing" in page.url
    await submit(page, "form.meldcode button")
    assert "notice=override-recorded" in page.url
    await submit(page, "form[action$='/send'] button >> nth=-1")
    assert "notice=referral-sent" in page.url
    assert "Doorbreking volgens de Meldcode" in await page.content()
    await check(page, walk, "nl-coord-meldcode")

    # Closing the case: nothing more can be logged on it.
    await page.click("details.close-case summary")
    await page.check("input[name=outcome_codes][value=referred-on]")
    await submit(page, "details.close-case button")
    assert "notice=case-closed" in page.url
    assert await page.locator("a[href$='/visits/new']").count() == 0
    await check(page, walk, "nl-coord-closed")

    # A report as CSV, proxied from reporting.
    csv = await page.request.get(f"{base}/reports/download/families.csv?breakdown=wijk")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")

    # A family that is not hers (or does not exist) is simply not found.
    response = await page.goto(f"{base}/families/00000000-0000-4000-8000-000000000000")
    assert response is not None
    assert response.status == 404
    await context.close()
    assert not walk.problems, "\n".join(walk.problems)
