"""Partner facts: notifications tells every service a partner's registered kind and active flag
(`notifications.partner-registered.v1` / `partner-changed.v1`), and announces partners stored
before these events existed once at start-up (integration, real broker and SQLite)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_contracts.codes import PartnerKind
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import PartnerFact
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import PARTNER_CHANGED, PARTNER_REGISTERED
from alamal_notifications import partner_facts
from alamal_notifications import store as repo
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import Admin, Mint, headers_for, running
from alamal_runtime.auth import Role
from alamal_runtime.store import OutboxRecord, Store, create_store
from alamal_stack.kafka_testing import Records, read_topic_until

pytestmark = pytest.mark.integration
PERSONAL = "Jeugdzorg Utrecht"  # a partner's name stays in notifications


def facts_of(records: Records, topic: str, partner_id: str) -> list[PartnerFact]:
    """One partner's facts on a topic, each checked against the committed JSON Schema."""
    schema = json.loads((DEFAULT_DIR / filename(topic)).read_text(encoding="utf-8"))
    found: list[PartnerFact] = []
    for record in records:
        if record.key != partner_id.encode():
            continue
        jsonschema.Draft202012Validator(schema).validate(json.loads(record.value))
        assert PERSONAL.encode() not in record.value
        fact = from_kafka(record.value, record.headers).data
        assert isinstance(fact, PartnerFact)
        found.append(fact)
    return found


async def facts_on(
    bootstrap: str, topic: str, partner_id: str, count: int, *, within: float = 15.0
) -> list[PartnerFact]:
    """Wait for `count` facts of the partner on `topic`."""
    records = await read_topic_until(
        bootstrap, topic, lambda rs: len(facts_of(rs, topic, partner_id)) >= count, within=within
    )
    return facts_of(records, topic, partner_id)


async def test_registering_and_changing_a_partner_emits_its_facts(
    admin: Admin, client: httpx.AsyncClient, kafka_bootstrap: str, mint: Mint
) -> None:
    partner = await admin.partner(PartnerKind.YOUTH_CARE)
    (registered,) = await facts_on(kafka_bootstrap, PARTNER_REGISTERED, partner, 1)
    assert (registered.kind, registered.active, registered.revision) == (
        PartnerKind.YOUTH_CARE,
        True,
        1,
    )

    renamed = await admin.change(partner, name="Jeugdzorg Regio Utrecht")
    assert renamed["revision"] == 1  # a name is not a fact other services hold
    await admin.change(partner, kind="police")
    await admin.change(partner, active=False)
    changed = await facts_on(kafka_bootstrap, PARTNER_CHANGED, partner, 2)
    assert [(f.kind, f.active, f.revision) for f in changed] == [
        (PartnerKind.POLICE, True, 2),
        (PartnerKind.POLICE, False, 3),
    ]
    directory = await client.get("/partners/directory", headers=headers_for(mint, Role.COORDINATOR))
    entry = next(p for p in directory.json() if p["id"] == partner)
    assert entry == {
        "id": partner,
        "name": "Jeugdzorg Regio Utrecht",
        "kind": "police",
        "active": False,
    }


@pytest.mark.parametrize(
    "change",
    [{"kind": "church"}, {"active": "yes"}, {"active": 1}, {"name": ""}, {"endpoint_ids": []}],
    ids=["unknown-kind", "active-string", "active-number", "empty-name", "unknown-field"],
)
async def test_bad_partner_changes_are_422(admin: Admin, change: dict[str, object]) -> None:
    partner = await admin.partner()
    response = await admin.client.patch(f"/partners/{partner}", json=change, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == list(change)


async def test_only_an_admin_changes_partners(admin: Admin, mint: Mint) -> None:
    partner = await admin.partner()
    for role in (Role.COORDINATOR, Role.TRUSTED_PERSON, Role.OPERATOR):
        response = await admin.client.patch(
            f"/partners/{partner}", json={"active": False}, headers=headers_for(mint, role)
        )
        assert response.status_code == 403
        assert (
            await admin.client.post("/partners/announce", headers=headers_for(mint, role))
        ).status_code == 403
    missing = await admin.client.patch(
        "/partners/00000000-0000-4000-8000-000000000000", json={}, headers=admin.headers
    )
    assert missing.status_code == 404


async def _legacy_partner(store: Store, partner_id: str) -> None:
    """A partner document as stored before partner facts existed (no revision, no flag)."""
    async with store.transaction() as uow:
        await uow.insert(
            repo.PARTNERS,
            partner_id,
            {
                "name": PERSONAL,
                "kind": "veilig-thuis",
                "created_at": datetime.now(UTC).isoformat(),
                "endpoint_ids": [],
            },
        )


def _announced(pending: list[OutboxRecord], partner_id: str) -> list[PartnerFact]:
    facts = [from_kafka(r.message.value, r.message.headers).data for r in pending]
    return [f for f in facts if isinstance(f, PartnerFact) and f.partner_id == partner_id]


async def test_the_backfill_announces_each_partner_once_per_revision(tmp_path: Path) -> None:
    """No broker needed: what the backfill emits is in the outbox, in the same transaction."""
    store = create_store(f"sqlite:///{tmp_path}/n.sqlite3", default_database="n")
    await store.open()
    try:
        legacy = str(uuid.uuid4())
        await _legacy_partner(store, legacy)
        assert await partner_facts.announce_partners(store) == 1
        assert await partner_facts.announce_partners(store) == 0  # a restart: nothing again
        async with store.transaction() as uow:
            current = await repo.get_partner(uow, legacy)
            assert current is not None
            await partner_facts.change_partner(
                uow, current, name=None, kind=PartnerKind.POLICE, active=None, now=datetime.now(UTC)
            )
        assert await partner_facts.announce_partners(store) == 0  # the change emitted itself
        assert await partner_facts.announce_partners(store, force=True) == 1
        facts = _announced(await store.outbox_pending(limit=100), legacy)
        assert [(type(f).__name__, f.kind, f.revision) for f in facts] == [
            ("PartnerRegistered", PartnerKind.VEILIG_THUIS, 1),
            ("PartnerChanged", PartnerKind.POLICE, 2),
            ("PartnerRegistered", PartnerKind.POLICE, 2),
        ]
    finally:
        await store.close()


async def test_an_existing_installation_announces_its_partners_at_start(
    make_settings: Callable[..., NotificationsSettings],
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The start-up hook is wired: a partner stored by an older version reaches the topic."""
    folder = tmp_path_factory.mktemp("backfill")
    settings = make_settings(data_dir=folder)
    store = create_store(settings.store_url.get_secret_value(), default_database="n")
    await store.open()
    legacy = str(uuid.uuid4())
    try:
        await _legacy_partner(store, legacy)
    finally:
        await store.close()
    async with running(settings):
        announced = await facts_on(kafka_bootstrap, PARTNER_REGISTERED, legacy, 1)
    assert [(f.kind, f.active, f.revision) for f in announced] == [
        (PartnerKind.VEILIG_THUIS, True, 1)
    ]
