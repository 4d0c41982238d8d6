"""Cases' part of a family's AVG rights on the real broker and SQLite: the export, and the
erasure with its confirmation, once, with nothing left in the store's bytes (integration)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_cases.domain import LogVisit
from alamal_cases.domain.held_visits import HeldVisit, HoldReason
from alamal_cases.held_visit_store import HELD_VISITS, VISIT_KEYS, add_held
from alamal_cases.privacy import FAMILY_COLLECTIONS
from alamal_contracts.codes import ConsentPurpose, PartnerKind, VisitKind
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import CasesFamilyErased, FamilyErasureRequested
from alamal_contracts.topics import CASES_FAMILY_ERASED
from alamal_runtime.auth import Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.sealing import DATA_KEYS, SealedStore
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.kafka_testing import read_topic_until

from .conftest import (
    Caller,
    Producer,
    kafka_record,
    registration,
    seed_partner,
    wait_for_cases,
)
from .test_referrals_api import grant

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]
FIELDS = (
    "note",
    "strength_seen",
    "strength",
    "goal",
    "progress",
    "referral",
    "held_note",
    "held_strength",
)


def planted_values() -> dict[str, str]:
    """A unique value for every free-text field cases keeps."""
    tag = uuid.uuid4().hex[:10]
    return {field: f"Planted-{field}-{tag}" for field in FIELDS}


async def casework(
    client: httpx.AsyncClient,
    producer: Producer,
    store: Store,
    trusted: Caller,
    planted: dict[str, str],
) -> tuple[str, str]:
    """A registered family with a case, a visit, a plan and a sent referral, all carrying the
    planted values; return (family id, case id)."""
    registered = registration(trusted_person_id=trusted.user_id)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)
    case_id = case["id"]
    h = trusted.headers
    visit = {
        "kind": "home-visit",
        "occurred_on": case["opened_at"][:10],
        "duration_minutes": 30,
        "topic_codes": ["school"],
        "strengths_observed": [planted["strength_seen"]],
        "private_note": planted["note"],
    }
    keyed = {**h, "Idempotency-Key": f"privacy-{uuid.uuid4().hex}"}  # a device's key: visit_keys
    answers = [
        await client.post(f"/cases/{case_id}/visits", json=visit, headers=keyed),
        await client.put(
            f"/cases/{case_id}/plan/strengths", json={"items": [planted["strength"]]}, headers=h
        ),
    ]
    goal = await client.post(
        f"/cases/{case_id}/plan/goals",
        json={"area": "school", "description": planted["goal"]},
        headers=h,
    )
    answers.append(goal)
    answers.append(
        await client.patch(
            f"/cases/{case_id}/plan/goals/{goal.json()['id']}",
            json={"note": planted["progress"]},
            headers=h,
        )
    )
    await grant(producer, store, registered.family_id, ConsentPurpose.SHARE_YOUTH_CARE)
    partner_id = await seed_partner(store, PartnerKind.YOUTH_CARE)
    referral = await client.post(
        f"/cases/{case_id}/referrals",
        json={
            "partner_id": partner_id,
            "urgency": "urgent",
            "reason_codes": ["parenting-support"],
            "note": planted["referral"],
        },
        headers=h,
    )
    answers.append(referral)
    answers.append(await client.post(f"/referrals/{referral.json()['id']}/send", headers=h))
    for answer in answers:
        assert answer.status_code in (200, 201), answer.text
    await hold_a_visit(store, case, trusted, planted)
    return registered.family_id, case_id


async def hold_a_visit(
    store: Store, case: dict[str, Any], trusted: Caller, planted: dict[str, str]
) -> None:
    """A visit saved offline that met its case closed (a state only a device's late send makes:
    put straight into the store), held for a coordinator with its note and strengths."""
    now = datetime.now(UTC)
    held = HeldVisit(
        id=str(uuid.uuid4()),
        case_id=case["id"],
        family_id=case["family_id"],
        wijk=case["wijk"],
        author_id=trusted.user_id,
        reason=HoldReason.CASE_CLOSED,
        visit=LogVisit(
            kind=VisitKind.HOME_VISIT,
            occurred_on=now.date(),
            duration_minutes=20,
            strengths_observed=(planted["held_strength"],),
            private_note=planted["held_note"],
        ),
        captured_at=now,
        held_at=now,
    )
    async with store.transaction() as uow:
        await add_held(uow, held)


async def readable(store: Store, family_id: str) -> str:
    """Everything the store still holds about the family, its sealed fields opened, as text."""
    found = [
        r.data
        for collection in FAMILY_COLLECTIONS
        for r in await store.find(collection, {"family_id": family_id}, limit=10_000)
    ]
    for case in await store.find("cases", {"family_id": family_id}, limit=10_000):
        strengths = await store.get("plan_strengths", case.id)
        found += [] if strengths is None else [strengths.data]
    return json.dumps(found, ensure_ascii=False)


def store_bytes(store: Store) -> bytes:
    """Every byte of the SQLite file and its WAL (sealed fields are ciphertext there)."""
    inner = store.inner if isinstance(store, SealedStore) else store
    assert isinstance(inner, SqliteStore)
    path = Path(inner.path)
    return b"".join(
        p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists()
    )


async def test_the_export_holds_the_whole_casework_and_only_officers_get_it(
    client: httpx.AsyncClient, producer: Producer, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    planted = planted_values()
    family_id, case_id = await casework(client, producer, cases_store, trusted, planted)
    officer = caller(Role.PRIVACY_OFFICER)
    response = await client.get(f"/privacy/families/{family_id}/export", headers=officer.headers)
    assert response.status_code == 200, response.text
    for value in planted.values():
        assert value in response.text, value
    export = response.json()
    (case,) = export["sections"]["cases"]
    assert case["case"]["id"] == case_id
    assert [r["state"] for r in case["referrals"]] == ["sent"]
    assert export["sections"]["family"]["open_case_id"] == case_id
    assert any(c["purpose"] == "share-youth-care" for c in export["sections"]["consents"])
    assert "export-family" in [a["action"] for a in export["sections"]["access_audit"]]
    assert [h["visit"]["private_note"] for h in export["sections"]["held_visits"]] == [
        planted["held_note"]
    ]
    assert [k["family_id"] for k in export["sections"]["visit_keys"]] == [family_id]

    nothing = await client.get(f"/privacy/families/{uuid.uuid4()}/export", headers=officer.headers)
    assert nothing.status_code == 200
    assert nothing.json()["sections"]["cases"] == []
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    for other in (trusted, coordinator, caller(Role.ADMIN)):
        refused = await client.get(f"/privacy/families/{family_id}/export", headers=other.headers)
        assert refused.status_code == 403
    audit = await client.get(f"/audit?family_id={family_id}", headers=coordinator.headers)
    denied = [r for r in audit.json()["records"] if r["action"] == "export-family"]
    assert sorted(r["outcome"] for r in denied) == ["allowed", *["denied-or-missing"] * 3]


async def test_an_erasure_removes_the_family_from_the_store_and_is_confirmed_once(
    client: httpx.AsyncClient,
    producer: Producer,
    cases_store: Store,
    caller: MakeCaller,
    kafka_bootstrap: str,
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    planted, kept = planted_values(), planted_values()
    family_id, case_id = await casework(client, producer, cases_store, trusted, planted)
    kept_id, _ = await casework(client, producer, cases_store, caller(Role.TRUSTED_PERSON), kept)
    before = await readable(cases_store, family_id)
    assert [v for v in planted.values() if v not in before] == []
    for collection in (HELD_VISITS, VISIT_KEYS):
        assert len(await cases_store.find(collection, {"family_id": family_id})) == 1
    assert [v for v in planted.values() if v.encode() in store_bytes(cases_store)] == []  # sealed
    request_id = str(uuid.uuid4())
    requested = kafka_record(FamilyErasureRequested(family_id=family_id, request_id=request_id))
    await producer.send(requested)
    await producer.send(requested)  # redelivered: handled once
    await producer.send(
        kafka_record(FamilyErasureRequested(family_id=family_id, request_id=request_id))
    )

    key = family_id.encode()
    await read_topic_until(
        kafka_bootstrap, CASES_FAMILY_ERASED, lambda rs: any(r.key == key for r in rs)
    )
    await asyncio.sleep(1.0)  # room for a (wrong) second confirmation to arrive
    records = await read_topic_until(
        kafka_bootstrap, CASES_FAMILY_ERASED, lambda _: False, within=1.0
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1
    confirmed = from_kafka(ours[0].value, ours[0].headers, expect=CasesFamilyErased).data
    assert confirmed.request_id == request_id

    assert {HELD_VISITS, VISIT_KEYS} <= set(FAMILY_COLLECTIONS)
    for collection in FAMILY_COLLECTIONS:
        assert await cases_store.find(collection, {"family_id": family_id}) == []
    assert await cases_store.get("families", family_id) is None
    assert await cases_store.get("plan_strengths", case_id) is None
    assert await cases_store.find("access_audit", {"family_id": family_id}) == []
    assert await cases_store.get(ERASED_FAMILIES, family_id) is not None
    key_record = await cases_store.get(DATA_KEYS, family_id)
    assert key_record is not None
    assert set(key_record.data) == {"destroyed_at"}  # crypto-shredded: backups stay unreadable
    assert await readable(cases_store, family_id) == "[]"
    left = store_bytes(cases_store)
    assert [v for v in planted.values() if v.encode() in left] == []
    # The other family is untouched, still readable with its key.
    assert len(await cases_store.find("visits", {"family_id": kept_id})) == 1
    still = await readable(cases_store, kept_id)
    assert [v for v in kept.values() if v not in still] == []

    # A late event about the family does not bring it back.
    await producer.send(
        kafka_record(registration(family_id=family_id, trusted_person_id=trusted.user_id))
    )
    await asyncio.sleep(1.5)
    assert await cases_store.find("cases", {"family_id": family_id}) == []
    gone = await client.get(f"/cases/{case_id}/visits", headers=trusted.headers)
    assert gone.status_code == 404
