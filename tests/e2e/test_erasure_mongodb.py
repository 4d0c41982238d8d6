"""End to end: the same erasure on the MongoDB backend, over the wire (the `mongoeco` server).

Every service's store is a database on a mongoeco server of its own (mongoeco fails any
transaction while another commits, whatever the database: one server per service process
keeps that to the conflicts a real replica set would report). A family with a unique value in
every personal field runs its casework with a referral to a partner; its export (at the
gateway) holds every planted value; it is erased (four eyes); then every document of every
database, every log, every topic and the webhook receiver's log are scanned: no planted value;
intake's and cases' databases are also read with their own keys (they seal personal fields):
no planted value, while a family that was not erased is found. What MongoDB itself keeps on
disk after a delete (until compaction) is described in deploy/README.md.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bson
import httpx
import pytest
from pymongo import AsyncMongoClient

from alamal_notifications.receiver import Receiver
from alamal_runtime.auth import Role
from alamal_runtime.store.mongo import MongoStore
from alamal_stack.mongoeco_server import MongoecoServer
from alamal_stack.runner import EmbeddedStack
from alamal_stack.services import SERVICES
from tests.e2e.erasure_flow import (
    SEALING,
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


@pytest.fixture
def mongoeco() -> Iterator[dict[str, str]]:
    """One mongoeco wire server per service, for this test only (the data dies with them)."""
    servers = {s.name: MongoecoServer() for s in SERVICES}
    try:
        yield {name: server.start() for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()


def store_urls(uris: dict[str, str]) -> dict[str, str]:
    """Every service's STORE_URL: its own database on its own server."""
    return {
        f"{s.env_prefix}STORE_URL": uris[s.name].split("/?", 1)[0].rstrip("/")
        + f"/alamal_{s.name}?directConnection=true"
        for s in SERVICES
    }


async def scan_databases(scan: Scan, uri: str, planted: list[str]) -> None:
    """Every document of every collection of every database, as BSON bytes."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        for name in await client.list_database_names():
            database = client[name]
            for collection in await database.list_collection_names():
                docs = await database[collection].find({}).to_list()
                data = b"".join(bson.encode(doc) for doc in docs)
                scan.look(f"mongodb {name}.{collection}", data, planted)
    finally:
        await client.close()


async def collections_of(uri: str, service: str) -> list[str]:
    """The document collections of a service's database (not the store's own `_...` ones)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        names = await client[f"alamal_{service}"].list_collection_names()
    finally:
        await client.close()
    return sorted(n for n in names if not n.startswith("_"))


async def test_an_erased_family_is_gone_from_every_database(
    tmp_path: Path, receiver: Receiver, mongoeco: dict[str, str]
) -> None:
    extra = {"GATEWAY_DEMO_USERS": "1", **store_urls(mongoeco)}
    async with (
        EmbeddedStack(tmp_path / "stack", base_port=0, ready_timeout=240, extra_env=extra) as stack,
        httpx.AsyncClient(timeout=60) as http,
    ):
        assert not list(stack.data_dir.rglob("*.sqlite3")), "every store is on MongoDB"
        partner = await register_partner(http, stack, receiver)
        family = await casework(http, stack, Planted(), partner=partner, receiver=receiver)
        kept = await casework(http, stack, Planted())
        planted = list(family.planted.values.values())
        kept_values = list(kept.planted.values.values())
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
        officer = GatewaySession(http, stack.urls["gateway"])
        await officer.log_in("demo-privacy", demo_passwords(stack)["demo-privacy"])
        page = f"/privacy/families/{family.id}"
        download = await officer.post_form(page, f"{page}/export")
        assert download.status_code == 200, download.text
        files = unzip(download.content)
        for text in files.values():
            assert [v for v in planted if v not in text] == []

        intake = stack.urls["intake"]
        _, second = bearer(stack, Role.PRIVACY_OFFICER, set())
        request = ok(
            await http.post(
                f"{intake}/privacy/erasures",
                json={"family_id": family.id, "reason": "family-request", "basis": "objection"},
                headers=officer_api,
            )
        )
        ok(await http.post(f"{intake}/privacy/erasures/{request['id']}/approve", headers=second))

        async def erased() -> dict[str, Any] | None:
            found = ok(
                await http.get(f"{intake}/privacy/erasures/{request['id']}", headers=officer_api)
            )
            return found if found["state"] == "erased" else None

        done = await eventually(erased, within=120, what="every service's confirmation")
        details = f"{stack.urls['notifications']}/partner/v1/referrals/{family.referral_id}"
        assert (await http.get(details, auth=partner.auth)).status_code == 410

        scan = Scan()
        for uri in mongoeco.values():
            await scan_databases(scan, uri, planted + kept_values)
        log = tmp_path / "webhook-receiver.log"
        receiver_log(receiver, log)
        scan.look("webhook receiver log", log.read_bytes(), planted)
        scan_files(scan, stack.data_dir, planted)
        await scan_topics(scan, stack.bootstrap, planted)
        assert {v: w for v, w in scan.hits.items() if v in planted} == {}
        # Intake and cases seal personal fields: read their databases with their own keys.
        for service in SEALING:
            await stack.services[service].stop()
            inner = MongoStore(store_urls(mongoeco)[f"{service.upper()}_STORE_URL"])
            await scan_unsealed(
                scan,
                stack,
                service,
                inner,
                await collections_of(mongoeco[service], service),
                planted + kept_values,
            )
        assert {v: w for v, w in scan.hits.items() if v in planted} == {}
        found_kept = [w for v in kept_values for w in scan.hits.get(v, [])]
        assert any(w.startswith("intake store, unsealed: families") for w in found_kept)
        assert any(w.startswith("cases store, unsealed: visits") for w in found_kept)

    figures = {
        "planted_values": len(planted),
        "bytes_scanned": scan.bytes_scanned,
        "places_scanned": scan.places,
        "approval_to_last_confirmation_seconds": round(
            seconds_between(done["decided_at"], done["completed_at"]), 3
        ),
    }
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "erasure-e2e-mongodb.json").write_text(json.dumps(figures, indent=2) + "\n")
    sys.stdout.write(f"erasure e2e (mongodb): {json.dumps(figures)}\n")
