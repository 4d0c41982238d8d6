"""Store contract, units of work, outbox and inbox: every backend must pass these unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from alamal_runtime.store import (
    DuplicateError,
    OutboxMessage,
    Record,
    Store,
    UnitOfWork,
)
from alamal_runtime.store.sqlite import SqliteStore

FAMILIES = "families"
type MakeMessage = Callable[[str], OutboxMessage]


class DeliberateError(Exception):
    """Raised on purpose inside a unit of work."""


async def test_reads_inside_a_unit_see_its_own_writes(store: Store) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
        assert await uow.get(FAMILIES, "f-1") == Record("f-1", 1, {"wijk": "Zuilen"})
        await uow.replace(FAMILIES, "f-1", {"wijk": "Lombok"}, expected_version=1)
        assert await uow.get(FAMILIES, "f-1") == Record("f-1", 2, {"wijk": "Lombok"})
    assert await store.get(FAMILIES, "f-1") == Record("f-1", 2, {"wijk": "Lombok"})


async def test_reads_outside_see_only_committed_state(store: Store) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
        assert await store.get(FAMILIES, "f-1") is None
        assert await store.find(FAMILIES) == []
    assert await store.get(FAMILIES, "f-1") is not None


async def test_a_unit_that_raises_rolls_back_documents_outbox_and_inbox(
    store: Store, make_message: MakeMessage
) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "kept", {"wijk": "Zuilen"})

    async def failing_unit() -> None:
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "f-1", {"wijk": "Lombok"})
            await uow.replace(FAMILIES, "kept", {"wijk": "Overvecht"}, expected_version=1)
            uow.emit(make_message("e-1"))
            assert await uow.claim_inbox("cases", "ev-1")
            raise DeliberateError

    with pytest.raises(DeliberateError):
        await failing_unit()
    assert await store.get(FAMILIES, "f-1") is None
    assert await store.get(FAMILIES, "kept") == Record("kept", 1, {"wijk": "Zuilen"})
    assert await store.outbox_pending() == []
    assert await store.outbox_backlog() == 0
    async with store.transaction() as uow:
        assert await uow.claim_inbox("cases", "ev-1")


async def test_a_unit_cannot_be_used_after_it_ended(store: Store) -> None:
    async with store.transaction() as uow:
        pass
    with pytest.raises(RuntimeError, match="ended"):
        await uow.get(FAMILIES, "f-1")
    with pytest.raises(RuntimeError, match="ended"):
        uow.emit(OutboxMessage(id="e", topic="t", key="k", value=b""))


async def test_outbox_keeps_commit_and_emit_order_across_units(
    store: Store, make_message: MakeMessage
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    async with store.transaction() as uow:
        uow.emit(make_message("e-1"))
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
        uow.emit(make_message("e-2"))
        uow.emit(make_message("e-3"))
    async with store.transaction() as uow:
        uow.emit(make_message("e-4"))
    pending = await store.outbox_pending()
    assert [r.message.id for r in pending] == ["e-1", "e-2", "e-3", "e-4"]
    seqs = [r.seq for r in pending]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 4
    assert pending[1].message == make_message("e-2")
    for record in pending:
        assert record.created_at.tzinfo is not None
        assert before <= record.created_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert await store.outbox_backlog() == 4


async def test_outbox_pending_limit_mark_sent_and_backlog(
    store: Store, make_message: MakeMessage
) -> None:
    for i in range(5):
        async with store.transaction() as uow:
            uow.emit(make_message(f"e-{i}"))
    first_two = await store.outbox_pending(limit=2)
    assert [r.message.id for r in first_two] == ["e-0", "e-1"]
    await store.outbox_mark_sent(first_two)
    await store.outbox_mark_sent(first_two)  # idempotent
    await store.outbox_mark_sent([])
    assert await store.outbox_backlog() == 3
    rest = await store.outbox_pending()
    assert [r.message.id for r in rest] == ["e-2", "e-3", "e-4"]
    await store.outbox_mark_sent([rest[1]])
    assert [r.message.id for r in await store.outbox_pending()] == ["e-2", "e-4"]
    async with store.transaction() as uow:
        uow.emit(make_message("e-5"))
    assert [r.message.id for r in await store.outbox_pending()] == ["e-2", "e-4", "e-5"]


async def test_an_event_id_already_in_the_outbox_fails_the_unit(
    store: Store, make_message: MakeMessage
) -> None:
    async with store.transaction() as uow:
        uow.emit(make_message("e-1"))

    async def unit_reusing_the_id() -> None:
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
            uow.emit(make_message("e-1"))

    with pytest.raises(DuplicateError):
        await unit_reusing_the_id()
    assert await store.get(FAMILIES, "f-1") is None
    assert await store.outbox_backlog() == 1


async def test_inbox_claims_an_event_once(store: Store) -> None:
    async with store.transaction() as uow:
        assert await uow.claim_inbox("cases", "ev-1") is True
        assert await uow.claim_inbox("cases", "ev-1") is False
    async with store.transaction() as uow:
        assert await uow.claim_inbox("cases", "ev-1") is False
        assert await uow.claim_inbox("reporting", "ev-1") is True
        assert await uow.claim_inbox("cases", "ev-2") is True


async def test_a_rolled_back_claim_can_be_claimed_again(store: Store) -> None:
    async def failing_unit() -> None:
        async with store.transaction() as uow:
            assert await uow.claim_inbox("cases", "ev-1")
            await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
            raise DeliberateError

    with pytest.raises(DeliberateError):
        await failing_unit()
    async with store.transaction() as uow:
        assert await uow.claim_inbox("cases", "ev-1")
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
    async with store.transaction() as uow:
        assert not await uow.claim_inbox("cases", "ev-1")


async def test_commit_listener_fires_only_after_commits_that_emitted(
    store: Store, make_message: MakeMessage
) -> None:
    calls: list[int] = []
    store.add_commit_listener(lambda: calls.append(1))
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
    assert calls == []

    async def failing_unit() -> None:
        async with store.transaction() as uow:
            uow.emit(make_message("e-0"))
            raise DeliberateError

    with pytest.raises(DeliberateError):
        await failing_unit()
    assert calls == []
    async with store.transaction() as uow:
        uow.emit(make_message("e-1"))
        uow.emit(make_message("e-2"))
    assert calls == [1]


async def test_concurrent_units_all_commit_with_retries_and_ordered_seqs(
    store: Store, make_message: MakeMessage
) -> None:
    async def unit(i: int) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.insert(FAMILIES, f"f-{i}", {"n": i})
            await asyncio.sleep(0.01)
            uow.emit(make_message(f"e-{i}"))

        await store.with_transaction(work)

    await asyncio.gather(*(unit(i) for i in range(5)))
    assert len(await store.find(FAMILIES)) == 5
    pending = await store.outbox_pending()
    assert sorted(r.message.id for r in pending) == [f"e-{i}" for i in range(5)]
    assert [r.seq for r in pending] == sorted({r.seq for r in pending})  # one key: distinct


async def test_marking_sent_while_a_unit_is_open_does_not_spoil_it(
    store: Store, make_message: MakeMessage
) -> None:
    async with store.transaction() as uow:
        uow.emit(make_message("e-1"))
    (first,) = await store.outbox_pending()
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Zuilen"})
        uow.emit(make_message("e-2"))
        marking = asyncio.create_task(store.outbox_mark_sent([first]))
        await asyncio.sleep(0.05)
    await marking
    assert [r.message.id for r in await store.outbox_pending()] == ["e-2"]
    assert await store.get(FAMILIES, "f-1") is not None


async def test_a_batch_of_inbox_claims_records_only_what_is_new(store: Store) -> None:
    async with store.transaction() as uow:
        assert await uow.claim_inbox("cases", "ev-1")
    async with store.transaction() as uow:
        claimed = await uow.claim_inbox_many("cases", ["ev-1", "ev-2", "ev-3", "ev-2"])
        assert claimed == {"ev-2", "ev-3"}
        assert await uow.claim_inbox_many("cases", []) == set()
        assert not await uow.claim_inbox("cases", "ev-3"), "a batch claim counts for single claims"
        assert await uow.claim_inbox_many("reporting", ["ev-1", "ev-2"]) == {"ev-1", "ev-2"}
    async with store.transaction() as uow:
        assert await uow.claim_inbox_many("cases", ["ev-1", "ev-2", "ev-4"]) == {"ev-4"}


async def test_a_rolled_back_batch_claim_can_be_claimed_again(store: Store) -> None:
    # SQLite claims through IN (...) lists of a few hundred ids: more than one list. MongoDB claims
    # in one find and one insert_many, which mongoeco runs in time quadratic in the batch (600
    # took more than the driver's timeout on a loaded machine): fewer ids there.
    ids = [f"ev-{i}" for i in range(600 if isinstance(store, SqliteStore) else 120)]

    async def failing_unit() -> None:
        async with store.transaction() as uow:
            assert await uow.claim_inbox_many("cases", ids) == set(ids)
            raise DeliberateError

    with pytest.raises(DeliberateError):
        await failing_unit()
    async with store.transaction() as uow:
        assert await uow.claim_inbox_many("cases", ids) == set(ids)
    async with store.transaction() as uow:
        assert await uow.claim_inbox_many("cases", [*ids, "ev-new"]) == {"ev-new"}
