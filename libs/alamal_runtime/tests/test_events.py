"""Emitting events through the outbox: the CloudEvents record, its id and the caller's trace."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from alamal_contracts.codes import TopicCode, VisitKind
from alamal_contracts.envelope import from_kafka, source_for
from alamal_contracts.events import VisitLogged
from alamal_runtime.events import emit, outbox_message
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry

SOURCE = source_for("cases")


class DeliberateError(Exception):
    """Raised on purpose inside a unit of work."""


def visit_logged() -> VisitLogged:
    return VisitLogged(
        family_id=str(uuid.uuid4()),
        visit_id=str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        kind=next(iter(VisitKind)),
        occurred_on=date(2025, 3, 1),
        duration_minutes=45,
        topic_codes=(next(iter(TopicCode)),),
        trusted_person_id=str(uuid.uuid4()),
    )


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "cases.sqlite3")
    await store.open()
    yield store
    await store.close()


def test_the_outbox_message_is_a_cloudevent_keyed_by_family() -> None:
    event = visit_logged()
    now = datetime(2025, 3, 1, 10, 15, tzinfo=UTC)

    message = outbox_message(event, source=SOURCE, now=now)

    assert str(uuid.UUID(message.id)) == message.id
    assert message.topic == VisitLogged.TOPIC
    assert message.key == event.family_id
    headers = {name: value.decode() for name, value in message.headers}
    assert headers == {
        "ce_specversion": "1.0",
        "ce_id": message.id,
        "ce_source": SOURCE,
        "ce_type": VisitLogged.CE_TYPE,
        "ce_time": "2025-03-01T10:15:00Z",
        "content-type": "application/json",
    }
    received = from_kafka(message.value, message.headers, expect=VisitLogged)
    assert received.data == event
    assert received.time == now


def test_every_message_gets_a_new_event_id() -> None:
    event = visit_logged()
    assert outbox_message(event, source=SOURCE).id != outbox_message(event, source=SOURCE).id


def test_outside_a_span_no_trace_context_is_captured() -> None:
    assert dict(outbox_message(visit_logged(), source=SOURCE).trace_carrier) == {}


def test_inside_a_span_its_trace_context_is_captured() -> None:
    telemetry = setup_telemetry("cases", set_global=False)
    tracer = telemetry.tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("log visit") as span:
        message = outbox_message(visit_logged(), source=SOURCE)
        context = span.get_span_context()
    telemetry.shutdown()

    version, trace_id, span_id, flags = message.trace_carrier["traceparent"].split("-")
    assert version == "00"
    assert trace_id == format(context.trace_id, "032x")
    assert span_id == format(context.span_id, "016x")
    assert int(flags, 16) & 0x01, "sampled"


async def test_emit_stores_the_message_with_the_units_commit(sqlite_store: SqliteStore) -> None:
    async with sqlite_store.transaction() as uow:
        first = emit(uow, visit_logged(), source=SOURCE)
        second = emit(uow, visit_logged(), source=SOURCE)
        assert await sqlite_store.outbox_backlog() == 0, "nothing is visible before the commit"

    pending = await sqlite_store.outbox_pending()
    assert [record.message for record in pending] == [first, second]


async def test_an_emit_in_a_failed_unit_is_never_published(sqlite_store: SqliteStore) -> None:
    async def failing_unit() -> None:
        async with sqlite_store.transaction() as uow:
            emit(uow, visit_logged(), source=SOURCE)
            raise DeliberateError

    with pytest.raises(DeliberateError):
        await failing_unit()

    assert await sqlite_store.outbox_backlog() == 0
