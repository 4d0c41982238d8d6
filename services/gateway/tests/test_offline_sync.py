"""The offline layer's server side, in front of the real services (integration).

A device's queued visit is sealed here as the page script seals it (AES-GCM under the key the
gateway hands out, bound to the visit's key and case), then sent to `/offline/visits`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alamal_gateway.accounts import User, update_user
from alamal_gateway.web.casework import today
from alamal_runtime.auth import Role

from .conftest import csrf_of
from .live import Platform, add_user, platform

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@dataclass
class World:
    """The platform, its users, and one open and one closed case of Samira's."""

    p: Platform
    cases: dict[str, str] = field(default_factory=dict)
    families: dict[str, str] = field(default_factory=dict)


async def _family_case(p: Platform, tp: User, name: str) -> tuple[str, str]:
    created = await p.call(
        tp,
        "intake",
        "POST",
        "/families",
        json={
            "members": [{"role": "mother", "first_name": name, "birth_year": 1988}],
            "wijk": "overvecht",
            "languages": ["nl"],
            "intake_source": "school",
            "consents": [{"purpose": "care", "granted": True}],
        },
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        cases = await p.call(tp, "cases", "GET", "/cases", params={"family_id": created["id"]})
        if cases:
            return str(created["id"]), str(cases[0]["id"])
        await asyncio.sleep(0.1)
    raise AssertionError("the case did not open")


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[World]:
    async with platform(tmp_path_factory.mktemp("sync"), kafka_bootstrap, token_keys) as p:
        w = World(p)
        tp = await add_user(p, "samira", Role.TRUSTED_PERSON, wijken=("overvecht",))
        await add_user(p, "youssef", Role.TRUSTED_PERSON, wijken=("overvecht",))
        coord = await add_user(p, "hanan", Role.COORDINATOR, wijken=("overvecht",))
        for key, name in (("open", "Fatima"), ("closed", "Khadija")):
            w.families[key], w.cases[key] = await _family_case(p, tp, name)
        await p.call(
            coord,
            "cases",
            "POST",
            f"/cases/{w.cases['closed']}/close",
            json={"outcome_codes": ["moved"]},
        )
        yield w


def b64(data: bytes) -> str:
    """Unpadded base64url, as the page script writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def device_key(client: httpx.AsyncClient) -> tuple[str, bytes]:
    """The session's key as the page fetches it once."""
    answer = await client.get("/offline/key")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    data = answer.json()
    raw = base64.urlsafe_b64decode(data["key"] + "=" * (-len(data["key"]) % 4))
    return str(data["key_id"]), raw


def queued(
    key: tuple[str, bytes], case_id: str, *, note: str, occurred_on: str | None = None
) -> dict[str, Any]:
    """A queued visit as the page script sends it, its private part sealed."""
    key_id, raw = key
    idempotency_key = str(uuid.uuid4())
    iv = os.urandom(12)
    aad = f"alamal-visit|{idempotency_key}|{case_id}".encode()
    secret = json.dumps({"strength": "Vraagt zelf hulp", "private_note": note}).encode()
    return {
        "idempotency_key": idempotency_key,
        "case_id": case_id,
        "key_id": key_id,
        "captured_at": (datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
        "fields": {
            "kind": "home-visit",
            "occurred_on": occurred_on or today().isoformat(),
            "duration_minutes": "45",
            "topic_codes": ["school"],
            "follow_up": "7",
        },
        "sealed": {"iv": b64(iv), "data": b64(AESGCM(raw).encrypt(iv, secret, aad))},
    }


async def send(client: httpx.AsyncClient, item: dict[str, Any], token: str) -> httpx.Response:
    """POST a queued visit with the page's CSRF token."""
    return await client.post("/offline/visits", json=item, headers={"X-CSRF-Token": token})


async def token_of(client: httpx.AsyncClient) -> str:
    """The session's CSRF token, as the page carries it."""
    return csrf_of((await client.get("/caseload")).text)


async def visits(w: World, case: str) -> list[dict[str, Any]]:
    """The case's visits as cases holds them."""
    page = await w.p.call(w.p.users["hanan"], "cases", "GET", f"/cases/{w.cases[case]}/visits")
    found: list[dict[str, Any]] = page["results"]
    return found


async def test_a_queued_visit_is_sent_once_with_its_note_opened_by_the_gateway(
    world: World,
) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        key, token = await device_key(client), await token_of(client)
        item = queued(key, world.cases["open"], note="Notitie uit de huiskamer")
        first = await send(client, item, token)
        again = await send(client, item, token)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json() == {
        "state": "sent",
        "next": f"/families/{world.families['open']}?notice=visit-logged",
    }
    notes = [
        v for v in await visits(world, "open") if v["private_note"] == "Notitie uit de huiskamer"
    ]
    assert len(notes) == 1
    (visit,) = notes
    assert visit["strengths_observed"] == ["Vraagt zelf hulp"]
    assert visit["follow_up_on"] == (today() + timedelta(days=7)).isoformat()


async def test_another_user_cannot_send_or_read_a_queued_visit(world: World) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        item = queued(await device_key(client), world.cases["open"], note="Alleen voor Samira")
    async with world.p.session(world.p.users["youssef"]) as other:
        answer = await send(other, item, await token_of(other))
    assert answer.status_code == 400
    assert answer.json()["state"] == "unreadable"
    assert "Alleen voor Samira" not in answer.text
    assert all(v["private_note"] != "Alleen voor Samira" for v in await visits(world, "open"))


async def test_a_seal_cannot_move_to_another_visit(world: World) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        item = queued(await device_key(client), world.cases["open"], note="Verplaatst")
        item["idempotency_key"] = str(uuid.uuid4())
        answer = await send(client, item, await token_of(client))
    assert (answer.status_code, answer.json()["state"]) == (400, "unreadable")


async def test_a_visit_cases_refuses_comes_back_with_the_field_in_words(world: World) -> None:
    user = world.p.users["samira"]
    await update_user(world.p.gateway.state.store, user.id, language="ar")
    try:
        async with world.p.session(user) as client:
            future = (today() + timedelta(days=3)).isoformat()
            item = queued(
                await device_key(client), world.cases["open"], note="Te vroeg", occurred_on=future
            )
            answer = await send(client, item, await token_of(client))
    finally:
        await update_user(world.p.gateway.state.store, user.id, language="nl")
    assert answer.status_code == 422
    assert answer.json()["state"] == "invalid"
    (words,) = answer.json()["errors"].values()
    assert re.search(r"[\u0600-\u06ff]", words), "said in the user's language"
    assert list(answer.json()["errors"]) == ["occurred_on"]


async def test_a_visit_for_a_closed_case_is_held_shown_to_her_and_decided_by_the_coordinator(
    world: World,
) -> None:
    note = "Gebeld na de sluiting"
    async with world.p.session(world.p.users["samira"]) as client:
        item = queued(await device_key(client), world.cases["closed"], note=note)
        answer = await send(client, item, await token_of(client))
        assert answer.status_code == 202, answer.text
        assert answer.json()["state"] == "held"
        assert answer.json()["reason"] == "case-closed"
        assert "gesloten" in answer.json()["message"]
        own = (await client.get("/visits/held")).text
        assert note.replace("'", "&#39;") in own
        assert "Wacht op je coördinator" in own
        assert 'action="/held-visits/' not in own, "she does not decide herself"
    async with world.p.session(world.p.users["hanan"]) as coordinator:
        team = await coordinator.get("/team")
        assert note in team.text
        held_id = re.findall(r'action="/held-visits/([0-9a-f-]{36})/decision"', team.text)
        assert len(held_id) == 1
        decided = await coordinator.post(
            f"/held-visits/{held_id[0]}/decision",
            data={"csrf_token": csrf_of(team.text), "decision": "log", "back": "team"},
        )
        assert decided.status_code == 303
        assert decided.headers["location"] == "/team?notice=held-logged"
        assert note not in (await coordinator.get("/team")).text
    (visit,) = [v for v in await visits(world, "closed") if v["private_note"] == note]
    assert visit["trusted_person_id"] == world.p.users["samira"].id


async def test_the_sync_asks_for_a_session_and_the_page_s_token(world: World) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        item = queued(await device_key(client), world.cases["open"], note="Zonder token")
        forged = await send(client, item, "not-the-token")
        assert (forged.status_code, forged.json()["state"]) == (403, "forbidden")
        await client.post("/logout", data={"csrf_token": await token_of(client)})
        gone = await send(client, item, "whatever")
        assert (gone.status_code, gone.json()["state"]) == (401, "login")
    async with world.p.session(world.p.users["hanan"]) as coordinator:
        assert (await coordinator.get("/offline/key")).status_code == 403


async def test_the_form_without_script_logs_one_visit_when_posted_twice(world: World) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        form = (await client.get(f"/cases/{world.cases['open']}/visits/new")).text
        key = re.search(r'name="idempotency_key" value="([^"]+)"', form)
        assert key is not None
        data = {
            "csrf_token": csrf_of(form),
            "family_id": world.families["open"],
            "idempotency_key": key.group(1),
            "kind": "phone",
            "occurred_on": today().isoformat(),
            "duration_minutes": "15",
            "follow_up": "0",
            "strength": "",
            "private_note": "Twee keer op opslaan gedrukt",
        }
        for _ in range(2):
            answer = await client.post(f"/cases/{world.cases['open']}/visits/new", data=data)
            assert answer.status_code == 303
    same = [v for v in await visits(world, "open") if v["private_note"] == data["private_note"]]
    assert len(same) == 1


async def test_only_a_trusted_person_s_own_pages_may_be_kept_on_a_device(world: World) -> None:
    open_case, family = world.cases["open"], world.families["open"]
    async with world.p.session(world.p.users["samira"]) as client:
        caseload = await client.get("/caseload")
        assert caseload.headers["x-offline"] == "keep"
        assert 'data-owner="' in caseload.text
        assert re.search(r'data-owner="[0-9a-f]{32}"', caseload.text)
        for path in (f"/cases/{open_case}/visits/new", f"/families/{family}/summary"):
            assert (await client.get(path)).headers.get("x-offline") == "keep", path
        for path in (
            "/caseload?q=fa",
            f"/families/{family}",
            f"/families/{family}/summary?notes=true",
        ):
            assert "x-offline" not in (await client.get(path)).headers, path
    async with world.p.session(world.p.users["hanan"]) as coordinator:
        page = await coordinator.get("/caseload")
        assert "x-offline" not in page.headers
        assert 'data-owner=""' in page.text


async def test_the_service_worker_and_the_manifest_are_served_by_the_gateway(
    world: World,
) -> None:
    async with world.p.session(world.p.users["samira"]) as client:
        worker = await client.get("/sw.js")
        manifest = await client.get("/static/manifest.webmanifest")
        notice = await client.get("/offline")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/"
    assert "__VERSION__" not in worker.text
    assert "__MAX_AGE__" not in worker.text
    assert "'self'" in worker.headers["content-security-policy"]
    app = manifest.json()
    assert (app["lang"], app["start_url"], app["display"]) == ("nl", "/caseload", "standalone")
    assert {i["sizes"] for i in app["icons"]} >= {"192x192", "512x512"}
    assert notice.status_code == 200
    assert "Geen verbinding" in notice.text
    assert "csrf_token" not in notice.text


async def test_a_visit_sealed_in_a_session_that_ended_is_sent_after_she_logs_in_again(
    world: World,
) -> None:
    async with world.p.session(world.p.users["samira"]) as before:
        first_key = await device_key(before)
        item = queued(first_key, world.cases["open"], note="Van voor het verlopen")
        await before.post("/logout", data={"csrf_token": await token_of(before)})
    async with world.p.session(world.p.users["samira"]) as after:
        assert (await device_key(after))[0] != first_key[0], "each session has its own key"
        answer = await send(after, item, await token_of(after))
    assert answer.status_code == 201, answer.text
    assert [v for v in await visits(world, "open") if v["private_note"] == "Van voor het verlopen"]
