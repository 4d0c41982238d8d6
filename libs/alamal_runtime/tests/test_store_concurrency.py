"""The store's concurrency contract, on SQLite, on mongoeco (serialised and with overlapping
transactions) and on a real MongoDB replica set when MONGODB_URL is set:

- concurrent units of work on distinct keys all commit;
- on one key they serialise (re-run after a transient conflict) and nothing is lost;
- the outbox gives each key's messages in commit order, so the relay publishes every event once
  and in order per key, even when transactions commit out of the order they started in.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable

from alamal_runtime.messaging.relay import OutboxRelay
from alamal_runtime.store import OutboxMessage, Store, UnitOfWork

COUNTERS = "counters"
FAMILIES = "families"


def message(event_id: str, key: str) -> OutboxMessage:
    return OutboxMessage(id=event_id, topic="test.counted.v1", key=key, value=event_id.encode())


class Recorder:
    """A relay's send function that records what went out, per key (acknowledged at once)."""

    def __init__(self) -> None:
        self.published: list[OutboxMessage] = []

    async def __call__(self, sent: OutboxMessage) -> Awaitable[object]:
        self.published.append(sent)
        ack: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        ack.set_result(None)
        return ack

    def by_key(self) -> dict[str, list[str]]:
        keys: dict[str, list[str]] = defaultdict(list)
        for sent in self.published:
            keys[sent.key].append(sent.id)
        return dict(keys)


async def count_and_emit(store: Store, key: str) -> int:
    """One unit of work: increment the key's counter document and emit an event numbered by it
    (so the event ids of one key name the order their units committed in)."""

    async def work(uow: UnitOfWork) -> int:
        current = await uow.get(COUNTERS, key)
        if current is None:
            count = 1
            await uow.insert(COUNTERS, key, {"n": count})
        else:
            count = int(current.data["n"]) + 1
            await uow.replace(COUNTERS, key, {"n": count}, expected_version=current.version)
        uow.emit(message(f"{key}-{count}", key))
        return count

    return await store.with_transaction(work)


async def drain(relay: OutboxRelay, store: Store) -> None:
    while await store.outbox_backlog():
        await relay.drain_once()


async def relayed(store: Store, *, within: float) -> None:
    """Wait until the running relay has published the whole outbox."""
    for _ in range(int(within / 0.05)):
        if not await store.outbox_backlog():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the outbox was not relayed within {within} s")


async def test_units_on_distinct_keys_all_commit(concurrent_store: Store) -> None:
    async def register(n: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.insert(FAMILIES, f"f-{n}", {"n": n})
            await asyncio.sleep(0.01)  # keep the transactions open at the same time
            uow.emit(message(f"f-{n}-registered", f"f-{n}"))
            uow.emit(message(f"f-{n}-opened", f"f-{n}"))

        await concurrent_store.with_transaction(work)

    await asyncio.gather(*(register(n) for n in range(8)))

    assert len(await concurrent_store.find(FAMILIES)) == 8
    pending = await concurrent_store.outbox_pending()
    per_key: dict[str, list[str]] = defaultdict(list)
    for record in pending:
        per_key[record.message.key].append(record.message.id)
    assert per_key == {f"f-{n}": [f"f-{n}-registered", f"f-{n}-opened"] for n in range(8)}


async def test_a_limited_read_of_the_outbox_is_a_prefix_of_each_key(
    concurrent_store: Store,
) -> None:
    for n in range(1, 4):
        async with concurrent_store.transaction() as uow:
            uow.emit(message(f"a-{n}", "a"))
            uow.emit(message(f"b-{n}", "b"))
    for limit in range(1, 7):
        pending = await concurrent_store.outbox_pending(limit)
        assert len(pending) == limit
        for key in ("a", "b"):
            ids = [r.message.id for r in pending if r.message.key == key]
            assert ids == [f"{key}-{n}" for n in range(1, len(ids) + 1)]


async def test_units_on_one_key_serialise_and_lose_nothing(concurrent_store: Store) -> None:
    counts = await asyncio.gather(*(count_and_emit(concurrent_store, "k") for _ in range(8)))

    assert sorted(counts) == list(range(1, 9))
    counter = await concurrent_store.get(COUNTERS, "k")
    assert counter is not None
    assert (counter.data, counter.version) == ({"n": 8}, 8)
    pending = await concurrent_store.outbox_pending()
    assert [r.message.id for r in pending] == [f"k-{n}" for n in range(1, 9)]
    assert [r.seq for r in pending] == sorted({r.seq for r in pending})


async def test_the_relay_publishes_every_event_once_in_order_per_key(
    concurrent_store: Store,
) -> None:
    recorder = Recorder()
    relay = OutboxRelay(concurrent_store, recorder, batch_size=5, poll_seconds=0.05)
    relaying = asyncio.create_task(relay.run())
    try:
        keys = ["a", "b", "c", "d"]
        await asyncio.gather(*(count_and_emit(concurrent_store, k) for k in keys * 4))
        await relayed(concurrent_store, within=30)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)

    assert recorder.by_key() == {k: [f"{k}-{n}" for n in range(1, 5)] for k in keys}


async def test_commits_out_of_start_order_are_relayed_without_skipping_or_reordering(
    concurrent_store: Store,
) -> None:
    recorder = Recorder()
    relay = OutboxRelay(concurrent_store, recorder, batch_size=100)
    committed: list[str] = []
    entered, release = asyncio.Event(), asyncio.Event()

    async def first(uow: UnitOfWork) -> None:  # starts first, commits last where it can
        await uow.insert(FAMILIES, "first", {})
        uow.emit(message("a-first", "a"))
        uow.emit(message("b-first", "b"))
        entered.set()
        await release.wait()

    async def second(uow: UnitOfWork) -> None:
        await uow.insert(FAMILIES, "second", {})
        uow.emit(message("b-second", "b"))
        uow.emit(message("c-second", "c"))

    async def run(name: str, work: object) -> None:
        await concurrent_store.with_transaction(work)  # type: ignore[arg-type]
        committed.append(name)

    started_first = asyncio.create_task(run("first", first))
    await entered.wait()
    started_second = asyncio.create_task(run("second", second))
    await asyncio.sleep(0.2)  # the second commits now where transactions overlap
    await drain(relay, concurrent_store)  # relays what is committed so far, nothing else
    release.set()
    await asyncio.gather(started_first, started_second)
    await drain(relay, concurrent_store)

    published = [m.id for m in recorder.published]
    assert sorted(published) == ["a-first", "b-first", "b-second", "c-second"]  # each once
    assert recorder.by_key()["b"] == [f"b-{name}" for name in committed]
    assert await concurrent_store.outbox_pending() == []
