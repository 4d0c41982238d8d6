"""Offline visit capture in headless Debian Chromium (Playwright) on the full embedded stack.

A trusted person opens her caseload, loses the connection, logs two visits, reloads, gets the
connection back and sees them sent; cases holds exactly those two. Logging out leaves nothing
in IndexedDB or Cache Storage. The size of what the device keeps and the time to send ten
queued visits are written to `artifacts/offline-metrics.json` (and printed): figures to report,
not asserted against a limit.

Playwright's `set_offline` does not reach a service worker's own fetches (microsoft/playwright
#2311), so while "offline" the test also aborts every request a service worker makes (routing
service worker requests needs PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS=1). Without that a
kept page would still be fetched from the network and the test would not show it was kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_gateway.accounts import create_user, find_by_username
from alamal_runtime.auth import Role, mint_token
from alamal_runtime.store import create_store
from alamal_stack.runner import EmbeddedStack
from alamal_stack.services import SERVICES, store_url

from .test_browser import (
    ARTIFACTS,
    LAUNCH_ARGS,
    Walk,
    _require_chromium,
    check,
    demo_passwords,
    log_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TRUSTED = "demo-vertrouwenspersoon"
NOTES = ("Offline notitie een: moeder werkt 's avonds", "Offline notitie twee: school belde")
DB = "alamal-offline"


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedStack]:
    """The whole platform as `./alamal run --demo` starts it."""
    _require_chromium()
    data = tmp_path_factory.mktemp("offline-stack")
    async with EmbeddedStack(
        data, base_port=0, ready_timeout=240, extra_env={"GATEWAY_DEMO_USERS": "1"}
    ) as running:
        yield running


async def user_id(stack: EmbeddedStack, username: str) -> str:
    """A demo user's id, read from the gateway's own store (test set-up only)."""
    (spec,) = [s for s in SERVICES if s.name == "gateway"]
    store = create_store(store_url(spec, stack.data_dir), default_database="gateway")
    await store.open()
    try:
        user = await find_by_username(store, username)
    finally:
        await store.close()
    assert user is not None
    return user.id


async def add_trusted_person(stack: EmbeddedStack, username: str, password: str) -> None:
    """A second trusted person of the same wijk, added to the gateway's store (set-up only)."""
    (spec,) = [s for s in SERVICES if s.name == "gateway"]
    store = create_store(store_url(spec, stack.data_dir), default_database="gateway")
    await store.open()
    try:
        await create_user(
            store,
            username=username,
            password=password,
            role=Role.TRUSTED_PERSON,
            wijken=("overvecht",),
            display_name="Youssef",
        )
    finally:
        await store.close()


class Casework:
    """Intake and cases called directly as the trusted person (to set up and to check)."""

    def __init__(self, stack: EmbeddedStack, trusted_id: str) -> None:
        private = Path(stack.keys.signing).read_text(encoding="ascii")
        token = mint_token(
            private, user_id=trusted_id, role=Role.TRUSTED_PERSON, wijken={"overvecht"}
        )
        self.headers = {"Authorization": f"Bearer {token}"}
        self.urls = stack.urls
        self.trusted_id = trusted_id
        self.private_key = private

    async def family_with_case(self, first_name: str) -> dict[str, Any]:
        """Register a family for her and wait for its case."""
        body = {
            "members": [{"role": "mother", "birth_year": 1986, "first_name": first_name}],
            "wijk": "overvecht",
            "languages": ["ar", "nl"],
            "intake_source": "school",
            "trusted_person_id": self.trusted_id,
            "consents": [{"purpose": "care", "granted": True}],
        }
        async with httpx.AsyncClient(timeout=20) as http:
            made = await http.post(
                f"{self.urls['intake']}/families", json=body, headers=self.headers
            )
            assert made.status_code == 201, made.text
            family_id = made.json()["id"]
            deadline = time.monotonic() + 45
            while time.monotonic() < deadline:
                cases = await http.get(
                    f"{self.urls['cases']}/cases",
                    params={"family_id": family_id},
                    headers=self.headers,
                )
                if cases.json():
                    case: dict[str, Any] = cases.json()[0]
                    return case
                await asyncio.sleep(0.2)
        raise AssertionError("the family's case did not open in time")

    async def close(self, case_id: str, private_key: str) -> None:
        """Close the case as a coordinator of the wijk would."""
        token = mint_token(
            private_key, user_id=str(uuid.uuid4()), role=Role.COORDINATOR, wijken={"overvecht"}
        )
        async with httpx.AsyncClient(timeout=20) as http:
            closed = await http.post(
                f"{self.urls['cases']}/cases/{case_id}/close",
                json={"outcome_codes": ["moved"]},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert closed.status_code == 200, closed.text

    async def visits(self, case_id: str) -> list[dict[str, Any]]:
        """Every visit on the case."""
        async with httpx.AsyncClient(timeout=20) as http:
            listed = await http.get(
                f"{self.urls['cases']}/cases/{case_id}/visits",
                params={"limit": 200},
                headers=self.headers,
            )
        assert listed.status_code == 200, listed.text
        results: list[dict[str, Any]] = listed.json()["results"]
        return results


@pytest.fixture(scope="module")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium through Playwright, with service worker requests routable."""
    from playwright.async_api import async_playwright

    # Read once, when Playwright's driver starts: the other browser tests keep the default.
    os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"] = "1"
    try:
        manager = async_playwright()
        pw = await manager.__aenter__()
    finally:
        del os.environ["PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS"]
    try:
        browser = await pw.chromium.launch(
            executable_path="/usr/bin/chromium", args=LAUNCH_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()
    finally:
        await manager.__aexit__(None, None, None)


class Connection:
    """Takes a browser context off the network and back, its service worker included."""

    def __init__(self, context: Any) -> None:
        self.context = context

    @staticmethod
    async def _cut_service_worker(route: Any) -> None:
        if route.request.service_worker is not None:
            await route.abort("internetdisconnected")
        else:
            await route.fallback()

    async def off(self) -> None:
        """No network for the pages nor for their service worker."""
        await self.context.set_offline(True)
        await self.context.route("**/*", self._cut_service_worker)

    async def on(self) -> None:
        """The network is back."""
        await self.context.unroute("**/*", self._cut_service_worker)
        await self.context.set_offline(False)


async def ready(page: Any) -> None:
    """Wait until the offline layer has started on the page (kept pages fetched)."""
    await page.wait_for_selector("#offline[data-state='ready']", state="attached")


async def waiting(page: Any) -> int:
    """The count of visits waiting to send, as the page shows it."""
    return int(await page.get_attribute("#offline", "data-waiting") or 0)


async def log_visit_offline(
    page: Any, case_id: str, kind: str, topic: str, note: str, on: str | None = None
) -> None:
    """Open the kept visit form and save a visit (it lands in the device's queue)."""
    await page.goto(f"/cases/{case_id}/visits/new")
    await ready(page)
    if on is not None:
        await page.fill("#occurred_on", on)
    await page.check(f"input[name=kind][value={kind}]")
    await page.check(f"input[name=topic_codes][value={topic}]")
    await page.click("details summary")
    await page.fill("#strength", "Zoekt zelf hulp")
    await page.fill("#private_note", note)
    async with page.expect_navigation(wait_until="load"):
        await page.click("button.primary.big")
    assert "notice=visit-queued" in page.url
    await ready(page)


DEVICE_STATE = """async () => {
  const names = (await indexedDB.databases()).map((d) => d.name);
  let queue = [];
  if (names.includes('alamal-offline')) {
    queue = await new Promise((resolve, reject) => {
      const opening = indexedDB.open('alamal-offline');
      opening.onsuccess = () => {
        const db = opening.result;
        if (!db.objectStoreNames.contains('queue')) { db.close(); resolve([]); return; }
        const all = db.transaction('queue').objectStore('queue').getAll();
        all.onsuccess = () => { db.close(); resolve(all.result); };
        all.onerror = () => reject(all.error);
      };
      opening.onerror = () => reject(opening.error);
    });
  }
  const caches_ = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    const entries = {};
    for (const request of await cache.keys()) {
      const body = await (await cache.match(request)).blob();
      entries[new URL(request.url).pathname] = body.size;
    }
    caches_[name] = entries;
  }
  return { databases: names, queue: JSON.parse(JSON.stringify(queue)), caches: caches_ };
}"""


OFFLINE_TARGETS = """() => [...document.querySelectorAll('#offline button, #offline a')]
  .filter(e => e.offsetParent !== null)
  .map(e => [e.outerHTML.slice(0, 70), e.getBoundingClientRect()])
  .filter(([_, r]) => r.width < 44 || r.height < 44)
  .map(([html, r]) => `${html} (${Math.round(r.width)}x${Math.round(r.height)})`)"""
"""The offline region's buttons and links: at least 44 x 44 CSS px (it sits outside <main>)."""


async def accessible(page: Any, walk: Walk, name: str) -> None:
    """axe-core (0 critical, 0 serious) and tap targets, the offline region's included."""
    await check(page, walk, f"offline-{name}")
    small = await page.evaluate(OFFLINE_TARGETS)
    walk.problems.extend(f"offline-{name}: tap target under 44x44 px: {t}" for t in small)


async def device(page: Any) -> dict[str, Any]:
    """What the device holds, read through the page: IndexedDB and Cache Storage."""
    state: dict[str, Any] = await page.evaluate(DEVICE_STATE)
    return state


async def test_visits_logged_offline_are_sent_once_the_connection_returns(
    stack: EmbeddedStack, chromium: Any
) -> None:
    trusted_id = await user_id(stack, TRUSTED)
    casework = Casework(stack, trusted_id)
    case = await casework.family_with_case("Khadija")
    other = await casework.family_with_case("Latifa")
    base = stack.urls["gateway"]
    context = await chromium.new_context(
        base_url=base, viewport={"width": 390, "height": 844}, locale="nl-NL"
    )
    context.set_default_timeout(20_000)
    connection = Connection(context)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    walk = Walk()
    await log_in(page, base, TRUSTED, demo_passwords(stack)[TRUSTED])

    # Online: the caseload, with the pages a living room needs kept on the device.
    await page.goto("/caseload")
    await ready(page)
    kept = await device(page)
    pages = next(v for k, v in kept["caches"].items() if k == "alamal-pages")
    assert "/caseload" in pages
    assert f"/cases/{case['id']}/visits/new" in pages

    # Offline: two visits, each saved on the device with a key made there.
    await connection.off()
    await log_visit_offline(page, case["id"], "home-visit", "school", NOTES[0])
    await log_visit_offline(page, case["id"], "phone", "money", NOTES[1])
    assert await waiting(page) == 2
    assert "2 bezoeken wachten op verzending" in await page.inner_text("#offline")
    await accessible(page, walk, "queued")
    queued = (await device(page))["queue"]
    assert len(queued) == 2
    assert len({item["key"] for item in queued}) == 2
    for item in queued:
        assert all(note not in json.dumps(item) for note in NOTES), "the note is sealed"
        assert "Zoekt zelf hulp" not in json.dumps(item), "the strength is sealed"

    # A reload without a connection: the kept page, the queue still there.
    await page.reload()
    await ready(page)
    assert await waiting(page) == 2
    assert "2 bezoeken wachten op verzending" in await page.inner_text("#offline")

    # The connection returns: the queue is sent, once.
    await connection.on()
    await page.wait_for_selector("#offline[data-waiting='0']", state="attached", timeout=30_000)
    assert "verstuurd" in await page.inner_text("#offline")
    visits = await casework.visits(case["id"])
    assert len(visits) == 2
    by_note = {v["private_note"]: v for v in visits}
    assert set(by_note) == set(NOTES)
    assert (by_note[NOTES[0]]["kind"], by_note[NOTES[0]]["topic_codes"]) == (
        "home-visit",
        ["school"],
    )
    assert (by_note[NOTES[1]]["kind"], by_note[NOTES[1]]["topic_codes"]) == ("phone", ["money"])
    for visit in visits:
        assert visit["strengths_observed"] == ["Zoekt zelf hulp"]
        assert visit["trusted_person_id"] == trusted_id
        assert visit["duration_minutes"] == 60
    await page.reload()
    await ready(page)
    assert len(await casework.visits(case["id"])) == 2, "a later page load sends nothing again"

    metrics = await ten_visits(page, connection, casework, case["id"])
    metrics["kept_after_caseload"] = kept["caches"]
    await refused_and_held(page, connection, casework, case["id"], other["id"], walk)
    await expired_while_offline(page, connection, casework, case["id"], stack, walk)

    # Logging out leaves nothing on the device.
    async with page.expect_navigation(wait_until="load"):
        await page.click("form[action='/logout'] button")
    await ready(page)
    left = await device(page)
    assert left["caches"] == {}
    assert DB not in left["databases"]
    assert left["queue"] == []
    assert errors == [], "no script error on any page"
    assert not walk.problems, "\n".join(walk.problems)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "offline-metrics.json").write_text(json.dumps(metrics, indent=2))
    print(json.dumps({k: v for k, v in metrics.items() if k != "kept_after_caseload"}))  # noqa: T201
    await context.close()


async def ten_visits(
    page: Any, connection: Connection, casework: Casework, case_id: str
) -> dict[str, Any]:
    """Queue ten visits offline, then time how long sending them takes once online."""
    await connection.off()
    for n in range(10):
        await log_visit_offline(page, case_id, "phone", "health", f"Tien {n}")
    assert await waiting(page) == 10
    kept = (await device(page))["caches"]
    await connection.on()
    started = time.perf_counter()
    await page.wait_for_selector("#offline[data-waiting='0']", state="attached", timeout=60_000)
    sync_ms = (time.perf_counter() - started) * 1000
    assert len(await casework.visits(case_id)) == 12
    sizes = {name: sum(entries.values()) for name, entries in kept.items()}
    return {
        "sync_ten_visits_ms": round(sync_ms),
        "kept_bytes": sizes,
        "kept_total_kb": round(sum(sizes.values()) / 1024, 1),
    }


async def expired_while_offline(
    page: Any,
    connection: Connection,
    casework: Casework,
    case_id: str,
    stack: EmbeddedStack,
    walk: Walk,
) -> None:
    """Her session ends while a visit waits offline: the visit stays sealed on the device,
    another trusted person logging in there neither sees nor sends it, and it is sent once
    she logs in again."""
    note = "Opgeslagen terwijl de sessie verliep"
    other_password = f"tweede-{uuid.uuid4().hex}"
    await add_trusted_person(stack, "tweede-vertrouwenspersoon", other_password)
    before = len(await casework.visits(case_id))
    await connection.off()
    await log_visit_offline(page, case_id, "home-visit", "school", note)
    assert await waiting(page) == 1
    await page.context.clear_cookies()  # the session is gone (expired) while offline
    await connection.on()
    # Right after the connection returns the service worker's own fetches may still fail for a
    # moment (it then serves the kept caseload): ask again until the server answers.
    deadline = time.monotonic() + 60
    while True:
        await page.goto("/caseload")
        if "/login" in page.url or time.monotonic() > deadline:
            break
        await page.wait_for_timeout(500)
    assert "/login" in page.url, f"the ended session leads to the login page, not {page.url}"
    await ready(page)
    assert "wachten tot degene die ze opsloeg weer inlogt" in await page.inner_text("#offline")
    await accessible(page, walk, "login-others")
    kept = await device(page)
    assert "alamal-pages" not in kept["caches"], "the login page forgets the kept pages"
    assert len([item for item in kept["queue"] if item.get("state") == "waiting"]) == 1
    assert note not in json.dumps(kept["queue"]), "still sealed"

    # Another trusted person on the same device: not her visit, not shown, not sent.
    await log_in(page, stack.urls["gateway"], "tweede-vertrouwenspersoon", other_password)
    await page.goto("/caseload")
    await ready(page)
    assert await waiting(page) == 0
    assert note not in await page.content()
    async with page.expect_navigation(wait_until="load"):
        await page.click("form[action='/logout'] button")
    await ready(page)
    assert len(await casework.visits(case_id)) == before, "nobody else sent it"
    assert len((await device(page))["queue"]) >= 1, "his logout leaves her visit"

    # She logs in again: the visit goes out, once, with its note.
    await log_in(page, stack.urls["gateway"], TRUSTED, demo_passwords(stack)[TRUSTED])
    await page.goto("/caseload")
    await ready(page)
    await page.wait_for_selector("#offline[data-waiting='0']", state="attached", timeout=30_000)
    after = await casework.visits(case_id)
    assert len(after) == before + 1
    assert [v["private_note"] for v in after].count(note) == 1


async def refused_and_held(
    page: Any, connection: Connection, casework: Casework, case_id: str, other_case: str, walk: Walk
) -> None:
    """A visit cases refuses (a date in the future) and one for a case closed meanwhile: both
    are kept and said in words, neither is dropped."""
    await connection.off()
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    await log_visit_offline(page, case_id, "phone", "school", "Verkeerde datum", on=tomorrow)
    await log_visit_offline(page, other_case, "home-visit", "money", "Na de sluiting")
    await casework.close(other_case, casework.private_key)
    await connection.on()
    await page.wait_for_selector("#offline[data-waiting='0']", state="attached", timeout=30_000)
    status = await page.inner_text("#offline")
    assert "Niet verstuurd: verbeter het alsjeblieft." in status
    assert "Datum: Controleer deze waarde." in status
    assert "intussen gesloten" in status
    assert await page.locator("#offline a[href='/visits/held']").count() == 1
    assert await page.locator("#offline a[href*='?queued=']").count() == 1
    await accessible(page, walk, "refused-and-held")
    page.once("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await page.click("#offline li:has(a[href*='?queued=']) button")
    await page.wait_for_selector("#offline a[href*='?queued=']", state="detached")
    held = await casework.visits(other_case)
    assert held == [], "a held visit waits for the coordinator, it is not on the case"
    await page.goto("/visits/held")
    await ready(page)
    assert "Na de sluiting" in await page.inner_text("main")
    await accessible(page, walk, "held")
