"""The consent projection against a real SQLite store: out of order, redelivered, early."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alamal_cases import referral_store
from alamal_cases import store as cases_store
from alamal_cases.handlers import on_consent_changed, on_family_registered
from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.envelope import CloudEvent, from_kafka
from alamal_contracts.events import ConsentChanged, ConsentFlag, Event, FamilyRegistered
from alamal_runtime.store.sqlite import SqliteStore

from .conftest import kafka_record, registration

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """Cases' store on a fresh SQLite file, prepared as at start-up."""
    opened = SqliteStore(tmp_path / "cases.sqlite3")
    await opened.open()
    await cases_store.prepare(opened)
    await referral_store.prepare(opened)
    yield opened
    await opened.close()


def delivered(event: Event) -> CloudEvent[Any]:
    """The event as a consumer receives it: through the Kafka envelope and back."""
    record = kafka_record(event)
    return from_kafka(record.value, record.headers)


async def handle(store: SqliteStore, event: CloudEvent[Any]) -> None:
    """Run the matching handler in its own unit of work, as the consumer does."""
    handler = (
        on_family_registered if isinstance(event.data, FamilyRegistered) else on_consent_changed
    )
    async with store.transaction() as uow:
        await handler(event, uow)


async def current(store: SqliteStore, family_id: str, purpose: ConsentPurpose) -> bool | None:
    """The projected consent, None when nothing was ever recorded."""
    async with store.transaction() as uow:
        record = await referral_store.consent_in(uow, family_id, purpose)
    return None if record is None else record.granted


def change(
    registered: FamilyRegistered, purpose: ConsentPurpose, granted: bool, minutes: int
) -> ConsentChanged:
    """A consent change `minutes` after the registration."""
    return ConsentChanged(
        family_id=registered.family_id,
        purpose=purpose,
        granted=granted,
        changed_at=registered.registered_at + timedelta(minutes=minutes),
        consent_text_version="2025-09",
    )


async def test_a_change_before_the_registration_survives_it(store: SqliteStore) -> None:
    registered = registration().model_copy(
        update={"consents": (ConsentFlag(purpose=ConsentPurpose.SHARE_POLICE, granted=False),)}
    )
    await handle(store, delivered(change(registered, ConsentPurpose.SHARE_POLICE, True, 5)))
    assert await current(store, registered.family_id, ConsentPurpose.SHARE_POLICE) is True
    await handle(store, delivered(registered))
    assert await current(store, registered.family_id, ConsentPurpose.SHARE_POLICE) is True
    assert len(await cases_store.cases_of_family(store, registered.family_id)) == 1


@pytest.mark.parametrize("seed", range(5))
async def test_shuffled_redelivered_events_project_like_the_ordered_stream(
    store: SqliteStore, seed: int
) -> None:
    registered = registration()
    stream: list[Event] = [
        registered,
        change(registered, ConsentPurpose.SHARE_GGD, True, 1),
        change(registered, ConsentPurpose.CARE, False, 2),
        change(registered, ConsentPurpose.SHARE_GGD, False, 3),
        change(registered, ConsentPurpose.CARE, True, 4),
        change(registered, ConsentPurpose.REPORTING, True, 5),
    ]
    rng = random.Random(seed)
    shuffled = stream + rng.choices(stream, k=4)
    rng.shuffle(shuffled)
    for event in shuffled:
        # Fresh envelope ids: a redelivery the inbox would not catch must change nothing either.
        await handle(store, delivered(event))
    fid = registered.family_id
    assert await current(store, fid, ConsentPurpose.CARE) is True
    assert await current(store, fid, ConsentPurpose.SHARE_GGD) is False
    assert await current(store, fid, ConsentPurpose.REPORTING) is True
    assert await current(store, fid, ConsentPurpose.SHARE_POLICE) is None


async def test_another_event_type_is_refused(store: SqliteStore) -> None:
    with pytest.raises(TypeError, match="expected ConsentChanged"):
        async with store.transaction() as uow:
            await on_consent_changed(delivered(registration()), uow)
