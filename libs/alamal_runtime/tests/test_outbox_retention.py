"""Store contract (SQLite, mongoeco, real MongoDB): the outbox keeps published messages so they
can be published again to a new broker incarnation (`outbox_requeue`), and lets them go after
the retention window (`outbox_trim`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from alamal_runtime.store import OutboxMessage, Store

type MessageFactory = Callable[[str], OutboxMessage]

A = "test.thing-happened.v1"
B = "test.other-thing.v1"


async def _emit(store: Store, messages: list[OutboxMessage]) -> None:
    async with store.transaction() as uow:
        for message in messages:
            uow.emit(message)


async def _publish_all(store: Store) -> list[str]:
    pending = await store.outbox_pending(100)
    await store.outbox_mark_sent(pending)
    return [record.message.id for record in pending]


def _on(make: MessageFactory, event_id: str, key: str, topic: str = A) -> OutboxMessage:
    return replace(make(event_id), key=key, topic=topic)


async def test_requeued_messages_go_out_again_in_order_before_newer_ones(
    store: Store, make_message: MessageFactory
) -> None:
    await _emit(store, [_on(make_message, "a1", "k1"), _on(make_message, "b1", "k2", B)])
    await _emit(store, [_on(make_message, "a2", "k1")])
    assert sorted(await _publish_all(store)) == ["a1", "a2", "b1"]
    await _emit(store, [_on(make_message, "a3", "k1")])  # committed, not yet published

    assert await store.outbox_requeue() == 3
    assert await store.outbox_backlog() == 4
    pending = await store.outbox_pending(100)
    by_key: dict[str, list[str]] = {}
    for record in pending:
        by_key.setdefault(record.message.key, []).append(record.message.id)
    assert by_key == {"k1": ["a1", "a2", "a3"], "k2": ["b1"]}
    assert pending[0].message.value == make_message("a1").value  # the same bytes again

    await store.outbox_mark_sent(pending)
    assert await store.outbox_backlog() == 0
    assert await store.outbox_requeue() == 4, "requeued as often as a broker is lost"


async def test_trim_drops_only_published_messages_older_than_the_bound(
    store: Store, make_message: MessageFactory
) -> None:
    await _emit(store, [_on(make_message, "a1", "k1"), _on(make_message, "b1", "k2", B)])
    await _emit(store, [_on(make_message, "a2", "k1")])
    await _publish_all(store)
    await _emit(store, [_on(make_message, "a3", "k1")])  # unsent: never trimmed
    now = datetime.now(UTC)

    assert await store.outbox_trim(now - timedelta(hours=1)) == {}
    assert await store.outbox_trim(now + timedelta(seconds=5)) == {A: 2, B: 1}
    assert await store.outbox_trim(now + timedelta(seconds=5)) == {}
    assert await store.outbox_requeue() == 0, "nothing published is retained any more"
    assert [r.message.id for r in await store.outbox_pending(100)] == ["a3"]
