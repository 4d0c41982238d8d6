"""End to end on the embedded stack (SQLite): a family's data seen whole, then erased from every
byte the platform keeps, and the scan shown to catch a service that does not do its part.

1. A family with a unique value planted in every field that can hold personal data runs its
   whole casework (a referral reaches the partner as a signed webhook and is accepted, reports
   count it). The privacy officer downloads the export at the gateway: every planted value is
   in the JSON and in the Dutch document. She requests the erasure; a coordinator approves it.
   Every service confirms; the partner gets `referral.erasure-requested` and the partner API
   answers 410. Then every byte of every store file (WAL included), every log, every topic,
   the partner API's answers and the webhook receiver's log are scanned: no planted value.
   Intake and cases seal personal fields at rest, so their stores are also read document by
   document with the services' own keys: no planted value there either, while a family that
   was not erased is found (the scan does see data); the erased family's data key is gone.
2. Cases is down during an erasure: the request waits (the status page and the operator's
   alert say so) and the scan still finds that family in cases' store; an export asked for
   meanwhile fails naming cases (never a silently partial bundle); once cases is back the
   erasure completes and the scan finds nothing.
3. Cases is replaced by a build that confirms erasures without erasing: the status says
   "erased everywhere", but the scan finds the values in cases' store (read with its keys).

Measured figures go to `artifacts/erasure-e2e.json`.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_notifications.receiver import Receiver
from alamal_runtime.auth import Role
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.runner import EmbeddedStack
from tests.e2e.erasure_flow import (
    HOOK,
    GatewaySession,
    Planted,
    Scan,
    bearer,
    casework,
    demo_passwords,
    eventually,
    ok,
    receiver_log,
    register_partner,
    scan_files,
    scan_topics,
    scan_unsealed,
    seconds_between,
    unzip,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
ALERT_SECONDS = 3
ERASURE = {"reason": "family-request", "basis": "consent-withdrawn"}


async def erase_at_intake(http: httpx.AsyncClient, stack: EmbeddedStack, family_id: str) -> str:
    """Request (privacy officer) and approve (another one) an erasure through intake's API."""
    intake = stack.urls["intake"]
    _, officer = bearer(stack, Role.PRIVACY_OFFICER, set())
    _, second = bearer(stack, Role.PRIVACY_OFFICER, set())
    request = ok(
        await http.post(
            f"{intake}/privacy/erasures", json={"family_id": family_id, **ERASURE}, headers=officer
        )
    )
    ok(await http.post(f"{intake}/privacy/erasures/{request['id']}/approve", headers=second))
    request_id: str = request["id"]
    return request_id


async def tombstone(
    http: httpx.AsyncClient, stack: EmbeddedStack, request_id: str
) -> dict[str, Any]:
    """The erasure request as intake keeps it (the privacy officer's view)."""
    _, officer = bearer(stack, Role.PRIVACY_OFFICER, set())
    found: dict[str, Any] = ok(
        await http.get(f"{stack.urls['intake']}/privacy/erasures/{request_id}", headers=officer)
    )
    return found


async def everything_scanned(
    stack: EmbeddedStack, receiver: Receiver, tmp_path: Path, planted: list[str]
) -> Scan:
    """Stores, logs, topics and the receiver's log, scanned for `planted`."""
    scan = Scan()
    log = tmp_path / "webhook-receiver.log"
    receiver_log(receiver, log)
    scan.look("webhook receiver log", log.read_bytes(), planted)
    scan_files(scan, stack.data_dir, planted)
    await scan_topics(scan, stack.bootstrap, planted)
    return scan


async def unsealed(stack: EmbeddedStack, services: list[str], values: list[str]) -> Scan:
    """The stores of stopped sealing services, every document read with the service's keys."""
    scan = Scan()
    for service in services:
        path = stack.data_dir / service / f"{service}.sqlite3"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as raw:
            rows = raw.execute("SELECT DISTINCT collection FROM documents").fetchall()
        raw.close()
        collections = sorted(name for (name,) in rows)
        await scan_unsealed(scan, stack, service, SqliteStore(path), collections, values)
    return scan


async def test_an_erased_family_is_gone_from_every_byte(tmp_path: Path, receiver: Receiver) -> None:
    extra = {
        "GATEWAY_DEMO_USERS": "1",
        "INTAKE_ERASURE_CONFIRM_WITHIN_SECONDS": str(ALERT_SECONDS),
        "INTAKE_ERASURE_CHECK_SECONDS": "0.5",
        "PYTHONPATH": str(Path(__file__).parent),
    }
    async with (
        EmbeddedStack(tmp_path / "stack", base_port=0, ready_timeout=240, extra_env=extra) as stack,
        httpx.AsyncClient(timeout=30) as http,
    ):
        partner = await register_partner(http, stack, receiver)
        family = await casework(http, stack, Planted(), partner=partner, receiver=receiver)
        kept = await casework(http, stack, Planted())
        planted = list(family.planted.values.values())
        _, officer_api = bearer(stack, Role.PRIVACY_OFFICER, set())

        async def reported() -> bool | None:
            export = ok(
                await http.get(
                    f"{stack.urls['reporting']}/privacy/families/{family.id}/export",
                    headers=officer_api,
                )
            )
            return True if export["sections"]["rp-visits"] else None

        await eventually(reported, what="the family's facts in reporting")

        # The export, downloaded once at the gateway: every planted value in both files.
        passwords = demo_passwords(stack)
        officer = GatewaySession(http, stack.urls["gateway"])
        await officer.log_in("demo-privacy", passwords["demo-privacy"])
        page = f"/privacy/families/{family.id}"
        download = await officer.post_form(page, f"{page}/export")
        assert download.status_code == 200, download.text
        assert download.headers["content-type"] == "application/zip"
        assert download.headers["cache-control"] == "no-store"
        files = unzip(download.content)
        document = files[f"gezin-{family.id}.html"]
        bundle = json.loads(files[f"gezin-{family.id}.json"])
        assert set(bundle["services"]) == {"intake", "cases", "notifications", "reporting"}
        assert [v for v in planted if v not in files[f"gezin-{family.id}.json"]] == []
        assert [v for v in planted if v not in document] == []
        assert "1984" in document
        assert "2016" in document
        assert document.startswith("<!doctype html>")
        assert 'lang="nl"' in document
        notifications_part = bundle["services"]["notifications"]["sections"]["referrals"]
        assert [r["partner"]["name"] for r in notifications_part] == ["Jeugdzorg Utrecht"]

        # The erasure: requested by the privacy officer, approved by a coordinator.
        requested = await officer.post_form(page, f"{page}/erasure", ERASURE)
        assert requested.status_code == 303, requested.text
        request_id = requested.headers["location"].split("/")[-1].split("?")[0]
        coordinator = GatewaySession(http, stack.urls["gateway"])
        await coordinator.log_in("demo-coordinator", passwords["demo-coordinator"])
        status_page = f"/privacy/erasures/{request_id}"
        approved = await coordinator.post_form(status_page, f"{status_page}/approve")
        assert approved.status_code == 303, approved.text

        async def erased() -> dict[str, Any] | None:
            found = await tombstone(http, stack, request_id)
            return found if found["state"] == "erased" else None

        done = await eventually(erased, what="every service's confirmation")
        approval_to_last = seconds_between(done["decided_at"], done["completed_at"])
        shown = await officer.request("GET", status_page)
        assert shown.text.count("Bevestigd") == 4, shown.text  # per service: confirmed

        # The partner was told, and its API answers 410 Gone.
        def told() -> bool:
            return any(
                b"referral.erasure-requested" in r.body and family.referral_id.encode() in r.body  # type: ignore[union-attr]
                for r in receiver.at(HOOK)
            )

        assert await receiver.wait_until(told, within=60)
        assert all(r.verifies(partner.secret) for r in receiver.at(HOOK))
        details = f"{stack.urls['notifications']}/partner/v1/referrals/{family.referral_id}"
        gone = await http.get(details, auth=partner.auth)
        assert gone.status_code == 410

        # Every byte: nothing of the erased family (the stores read with their keys follow).
        scan = await everything_scanned(stack, receiver, tmp_path, planted)
        scan.look("partner API answer", gone.content, planted)
        assert scan.hits == {}
        first_scan = dataclasses.replace(scan)

        # 2. Cases is down during an erasure: the request waits, then completes.
        down = await casework(http, stack, Planted())
        stack.kill("cases")
        waiting_id = await erase_at_intake(http, stack, down.id)

        async def overdue() -> dict[str, Any] | None:
            found = await tombstone(http, stack, waiting_id)
            late = [s["service"] for s in found["services"] if s["overdue"]]
            return found if late == ["cases"] else None

        late = await eventually(overdue, what="the overdue alert for cases")
        assert late["state"] == "erasing"
        _, operator = bearer(stack, Role.OPERATOR, set())
        health = ok(await http.get(f"{stack.urls['intake']}/ops/erasures", headers=operator))
        assert {
            "request_id": waiting_id,
            "approved_at": late["decided_at"],
            "waiting_for": ["cases"],
        } in health["overdue"]
        operator_ui = GatewaySession(http, stack.urls["gateway"])
        await operator_ui.log_in("demo-operator", passwords["demo-operator"])
        operations = await operator_ui.request("GET", "/operator")
        assert operations.status_code == 200
        assert waiting_id in operations.text  # the operator page names the late erasure
        # While cases is down no export is made at all (never a silently partial one).
        kept_page = f"/privacy/families/{kept.id}"
        refused = await officer.post_form(kept_page, f"{kept_page}/export")
        assert refused.status_code == 503
        assert refused.headers["content-type"].startswith("text/html")
        assert "Gaf geen antwoord: Begeleiding</p>" in refused.text  # cases, by its Dutch name
        waiting = await unsealed(stack, ["cases"], kept_values(down))
        assert waiting.hits, "cases, down, still holds the family it has not erased yet"
        await stack.restart("cases")

        async def completed() -> dict[str, Any] | None:
            found = await tombstone(http, stack, waiting_id)
            return found if found["state"] == "erased" else None

        await eventually(completed, what="cases' confirmation after its restart")
        after = await everything_scanned(
            stack, receiver, tmp_path, list(down.planted.values.values())
        )
        assert after.hits == {}

        # 3. A cases that confirms without erasing: the status says erased, the scan disagrees.
        skipping = await casework(http, stack, Planted())
        cases = stack.services["cases"]
        cases.spec = dataclasses.replace(cases.spec, module="skipping_cases")
        await stack.restart("cases")
        skipped_id = await erase_at_intake(http, stack, skipping.id)

        async def all_confirmed() -> dict[str, Any] | None:
            found = await tombstone(http, stack, skipped_id)
            return found if found["state"] == "erased" else None

        await eventually(all_confirmed, what="the confirmations of a skipping cases")
        await stack.services["cases"].stop()
        caught = await unsealed(stack, ["cases"], kept_values(skipping))
        assert caught.hits, "the scan must find what a skipping service left"
        assert all(w.startswith("cases store") for ws in caught.hits.values() for w in ws)

        # The sealing stores read with their own keys: nothing of the erased families, and
        # the family that was not erased is there (the scan does see data).
        await stack.services["intake"].stop()
        erased_values = planted + kept_values(down)
        final = await unsealed(stack, ["intake", "cases"], erased_values + kept_values(kept))
        assert {v: w for v, w in final.hits.items() if v in erased_values} == {}
        found_kept = [w for v in kept_values(kept) for w in final.hits.get(v, [])]
        assert any(w.startswith("intake store, unsealed: families") for w in found_kept)
        assert any(w.startswith("cases store, unsealed: visits") for w in found_kept)
        first_scan.bytes_scanned += final.bytes_scanned
        first_scan.places += final.places

    figures = {
        "planted_values": len(planted),
        "bytes_scanned": first_scan.bytes_scanned,
        "places_scanned": first_scan.places,
        "approval_to_last_confirmation_seconds": round(approval_to_last, 3),
    }
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "erasure-e2e.json").write_text(json.dumps(figures, indent=2) + "\n")
    sys.stdout.write(f"erasure e2e (sqlite): {json.dumps(figures)}\n")


def kept_values(family: Any) -> list[str]:
    """The planted values of a family that is not erased."""
    return list(family.planted.values.values())
