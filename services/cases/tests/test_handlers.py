"""`on_family_registered` against a real SQLite store: one case per family, whatever arrives."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alamal_cases import store as cases_store
from alamal_cases.handlers import on_family_registered
from alamal_contracts.envelope import CloudEvent, from_kafka
from alamal_contracts.events import CaseOpened, Event
from alamal_contracts.topics import CASE_OPENED
from alamal_runtime.store.sqlite import SqliteStore

from .conftest import kafka_record, registration

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """Cases' store on a fresh SQLite file, prepared as at start-up."""
    opened = SqliteStore(tmp_path / "cases.sqlite3")
    await opened.open()
    await cases_store.prepare(opened)
    yield opened
    await opened.close()


def delivered(event: Event, *, event_id: str | None = None) -> CloudEvent[Any]:
    """The event as a consumer receives it: through the Kafka envelope and back."""
    record = kafka_record(event, event_id=event_id)
    return from_kafka(record.value, record.headers)


async def handle(store: SqliteStore, event: CloudEvent[Any]) -> None:
    """Run the handler in its own unit of work, as the consumer does."""
    async with store.transaction() as uow:
        await on_family_registered(event, uow)


async def test_a_registration_opens_one_case_and_emits_case_opened(store: SqliteStore) -> None:
    registered = registration()
    await handle(store, delivered(registered))

    (case,) = await cases_store.cases_of_family(store, registered.family_id)
    assert case.trusted_person_id == registered.trusted_person_id
    assert case.wijk is registered.wijk
    assert await cases_store.get_case(store, case.id) == case

    (pending,) = await store.outbox_pending()
    message = pending.message
    assert (message.topic, message.key) == (CASE_OPENED, registered.family_id)
    opened = from_kafka(message.value, message.headers, expect=CaseOpened)
    assert opened.id == message.id
    assert opened.source == "/alamal/cases"
    assert (opened.data.case_id, opened.data.family_id) == (case.id, registered.family_id)
    assert opened.data.trusted_person_id == registered.trusted_person_id


async def test_handling_the_same_event_twice_opens_one_case(store: SqliteStore) -> None:
    registered = registration()
    event = delivered(registered)
    await handle(store, event)
    await handle(store, event)
    assert len(await cases_store.cases_of_family(store, registered.family_id)) == 1
    assert len(await store.outbox_pending()) == 1


async def test_a_second_registration_of_the_family_opens_no_second_case(
    store: SqliteStore,
) -> None:
    first = registration()
    again = registration(family_id=first.family_id, trusted_person_id=str(uuid.uuid4()))
    await handle(store, delivered(first))
    await handle(store, delivered(again))
    (case,) = await cases_store.cases_of_family(store, first.family_id)
    assert case.trusted_person_id == first.trusted_person_id
    assert len(await store.outbox_pending()) == 1


async def test_each_family_gets_its_own_case(store: SqliteStore) -> None:
    families = [registration() for _ in range(3)]
    for registered in families:
        await handle(store, delivered(registered))
    for registered in families:
        assert len(await cases_store.cases_of_family(store, registered.family_id)) == 1
    assert len(await store.outbox_pending()) == 3


async def test_another_event_type_is_refused_and_changes_nothing(store: SqliteStore) -> None:
    stray = CaseOpened(
        case_id=str(uuid.uuid4()),
        family_id=str(uuid.uuid4()),
        trusted_person_id=str(uuid.uuid4()),
        wijk=registration().wijk,
        opened_at=datetime.now(UTC),
    )
    with pytest.raises(TypeError, match="expected FamilyRegistered"):
        await handle(store, delivered(stray))
    assert await cases_store.cases_of_family(store, stray.family_id) == []
    assert await store.outbox_pending() == []
