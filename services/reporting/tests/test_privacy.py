"""Reporting's part of a family's AVG rights on the real broker and SQLite: the export, the
erasure (reports change, a rebuild from the topics does not bring the family back, a late
event neither), confirmed once (integration).

The families here live in their own year, so the other modules' reports (which read the same
session broker) never count them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_contracts.codes import Wijk
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import (
    Event,
    FamilyErasureRequested,
    ReportingFamilyErased,
    VisitLogged,
)
from alamal_contracts.topics import REPORTING_FAMILY_ERASED
from alamal_reporting.ledger import LEDGER
from alamal_reporting.privacy import facts_of_family
from alamal_reporting.rebuild import rebuild
from alamal_runtime.auth import Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.kafka_testing import read_topic_until

from .conftest import Producer
from .flow import YEAR, Flow, family, new_id

pytestmark = pytest.mark.integration

type Headers = Callable[..., dict[str, str]]
SHIFT = 7
"""This module's families live in YEAR + SHIFT."""
PERIOD = {"from": f"{YEAR + SHIFT}-01-01", "to": f"{YEAR + SHIFT}-12-31"}


def shifted(event: Event) -> Event:
    """The event with every date and instant moved SHIFT years on."""
    changes: dict[str, Any] = {}
    for name in type(event).model_fields:
        value = getattr(event, name)
        if isinstance(value, datetime | date):
            changes[name] = value.replace(year=value.year + SHIFT)
    return event.model_copy(update=changes)


async def families_in_zuid(client: httpx.AsyncClient, funder: dict[str, str]) -> Any:
    """The families report's zuid cell for this module's year."""
    response = await client.get(
        "/reports/families", params={"breakdown": "wijk", **PERIOD}, headers=funder
    )
    assert response.status_code == 200, response.text
    rows = {row["label"]: row["cells"][0] for row in response.json()["rows"]}
    return rows.get("zuid")


async def eventually(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """Poll `read()` until `done` holds; fail after 30 s."""
    deadline = time.monotonic() + 30
    while True:
        value = await read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after 30 s")
        await asyncio.sleep(0.2)


async def ledger_of(store: Store, family_id: str) -> int:
    """How many ledger entries (handled events) the store keeps about the family."""
    return len(await store.find(LEDGER, {"family_id": family_id}, limit=10_000))


async def test_erasure_removes_the_facts_for_good(
    client: httpx.AsyncClient,
    producer: Producer,
    reporting_store: Store,
    kafka_bootstrap: str,
    auth: Headers,
    tmp_path: Path,
) -> None:
    flow = Flow()
    family_ids = [family(flow, wijk=Wijk.ZUID, referral=True) for _ in range(6)]
    for event_id, event in flow.events:
        await producer.publish(event_id, shifted(event))
    await producer.flush()
    funder = auth(Role.FUNDER)
    assert await eventually(lambda: families_in_zuid(client, funder), lambda n: n == 6) == 6
    erased = family_ids[0]

    officer = auth(Role.PRIVACY_OFFICER)

    async def export() -> dict[str, Any]:
        response = await client.get(f"/privacy/families/{erased}/export", headers=officer)
        assert response.status_code == 200, response.text
        sections: dict[str, Any] = response.json()["sections"]
        return sections

    expected = {"rp-families": 1, "rp-cases": 1, "rp-visits": 2, "rp-referrals": 1, "rp-goals": 1}
    sections = await eventually(
        export, lambda s: {name: len(s[name]) for name in expected} == expected
    )
    assert list(sections["rp-families"]) == [erased]
    for role in (Role.FUNDER, Role.COORDINATOR, Role.ADMIN):
        refused = await client.get(f"/privacy/families/{erased}/export", headers=auth(role))
        assert refused.status_code == 403
    assert await ledger_of(reporting_store, erased) > 0  # the events merged, by id

    request_id = str(uuid.uuid4())
    requested = FamilyErasureRequested(family_id=erased, request_id=request_id)
    first = new_id()
    await producer.publish(first, requested)
    await producer.publish(first, requested)  # redelivered
    await producer.publish(new_id(), requested)  # sent again: done already
    await producer.flush()
    key = erased.encode()
    await read_topic_until(
        kafka_bootstrap, REPORTING_FAMILY_ERASED, lambda rs: any(r.key == key for r in rs)
    )
    assert await eventually(lambda: families_in_zuid(client, funder), lambda n: n == 5) == 5
    found = await facts_of_family(reporting_store, erased)
    assert all(docs == {} for docs in found.values())
    assert await ledger_of(reporting_store, erased) == 0
    await asyncio.sleep(1.0)  # room for a (wrong) second confirmation
    records = await read_topic_until(
        kafka_bootstrap, REPORTING_FAMILY_ERASED, lambda _: False, within=1.0
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1
    confirmed = from_kafka(ours[0].value, ours[0].headers, expect=ReportingFamilyErased).data
    assert confirmed.request_id == request_id

    # A late event about the family is skipped.
    visit = next(e for _, e in flow.events if isinstance(e, VisitLogged) and e.family_id == erased)
    await producer.publish(new_id(), shifted(visit.model_copy(update={"visit_id": new_id()})))
    await producer.flush()
    await asyncio.sleep(1.5)
    assert all(docs == {} for docs in (await facts_of_family(reporting_store, erased)).values())

    # A rebuild from the topics (the erasure is part of the replay) does not bring it back.
    rebuilt = SqliteStore(tmp_path / "rebuilt.sqlite3")
    await rebuilt.open()
    try:
        await rebuild(rebuilt, kafka_bootstrap)
        assert all(docs == {} for docs in (await facts_of_family(rebuilt, erased)).values())
        assert await rebuilt.get(ERASED_FAMILIES, erased) is not None
        kept = await facts_of_family(rebuilt, family_ids[1])
        assert list(kept["rp-families"]) == [family_ids[1]]
        assert await ledger_of(rebuilt, erased) == 0
        assert await ledger_of(rebuilt, family_ids[1]) > 0
    finally:
        await rebuilt.close()
