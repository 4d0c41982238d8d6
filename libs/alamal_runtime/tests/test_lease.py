"""Leases in the store (SQLite, mongoeco, real MongoDB): one holder at a time, taken over after a
silent ttl with the next epoch, fenced by the holder's own clock, released on a clean stop.
Each replica has a clock the test moves (no waiting on a wall clock)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from alamal_runtime.lease import LEASES, Lease, LeaseLostError, gone_from_here, instance_id, lead
from alamal_runtime.store import Store

TTL = 10.0


class Clock:
    """A replica's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _replica(store: Store, name: str, clock: Clock) -> Lease:
    return Lease(store, "outbox-relay", holder=name, ttl_seconds=TTL, clock=clock)


async def test_one_holder_then_a_takeover_with_the_next_epoch_and_the_old_one_fenced(
    store: Store,
) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = _replica(store, "a", clock_a), _replica(store, "b", clock_b)
    assert await a.acquire()
    assert a.check() == 1
    assert not await b.acquire(), "held: the other replica waits"
    for _ in range(5):  # a renews every few seconds: b never sees it silent
        clock_a.now += TTL / 3
        clock_b.now += TTL / 3
        assert await a.renew()
        assert not await b.acquire()
    assert a.check() == 1

    clock_b.now += TTL - 0.1  # a has gone silent (killed, paused): not long enough yet
    assert not await b.acquire()
    clock_b.now += 0.2
    assert await b.acquire(), "silent for a whole ttl: taken over"
    assert b.check() == 2
    assert b.takeovers == 1

    # a wakes up: its own clock says its lease ran out, and the store says it moved on.
    clock_a.now += TTL
    with pytest.raises(LeaseLostError):
        a.check()
    assert not await a.renew()
    assert not await a.acquire()
    stored = await store.get(LEASES, "outbox-relay")
    assert stored is not None
    assert (stored.data["holder"], stored.data["epoch"]) == ("b", 2)


async def test_a_renewal_fails_once_another_replica_holds_it_even_if_the_clock_says_valid(
    store: Store,
) -> None:
    clock_a, clock_b = Clock(), Clock()
    a, b = _replica(store, "a", clock_a), _replica(store, "b", clock_b)
    assert await a.acquire()
    assert not await b.acquire()
    clock_b.now += TTL + 1  # b's clock ran on while a's (paused) did not
    assert await b.acquire()
    assert a.valid(), "a cannot know yet"
    assert not await a.renew(), "but its next renewal finds the version moved on"
    assert not a.valid()


async def test_a_released_lease_is_taken_at_once(store: Store) -> None:
    a, b = _replica(store, "a", Clock()), _replica(store, "b", Clock())
    assert await a.acquire()
    await a.release()
    assert not a.valid()
    assert await b.acquire(), "no ttl to wait after a clean stop"
    assert b.check() == 2


async def test_replicas_racing_for_a_free_lease_get_one_holder(store: Store) -> None:
    replicas = [_replica(store, f"r{i}", Clock()) for i in range(4)]
    won = await asyncio.gather(*(r.acquire() for r in replicas), return_exceptions=True)
    assert [w for w in won if w is True] == [True]
    assert sum(r.valid() for r in replicas) == 1


async def test_lead_stops_the_work_when_the_lease_runs_out_and_releases_on_stop(
    store: Store,
) -> None:
    clock = Clock()
    a = Lease(store, "relay", holder="a", ttl_seconds=0.6, clock=clock)
    running, stopped = asyncio.Event(), asyncio.Event()

    async def work() -> None:
        running.set()
        try:
            await asyncio.Event().wait()
        finally:
            stopped.set()

    leader = asyncio.create_task(lead(a, work, retry_seconds=0.02))
    await asyncio.wait_for(running.wait(), 10)
    clock.now += 1.0  # paused longer than the lease: the next renewal finds it expired
    await asyncio.wait_for(stopped.wait(), 10)
    assert not a.valid()
    leader.cancel()
    await asyncio.gather(leader, return_exceptions=True)

    b = Lease(store, "relay-2", holder="b", ttl_seconds=60)
    running.clear()
    leader = asyncio.create_task(lead(b, work))
    await asyncio.wait_for(running.wait(), 10)
    leader.cancel()  # a clean stop
    await asyncio.gather(leader, return_exceptions=True)
    stored = await store.get(LEASES, "relay-2")
    assert stored is not None
    assert stored.data["holder"] is None, "released: the next replica need not wait"


async def test_a_holder_whose_process_ended_on_this_machine_is_taken_over_at_once(
    store: Store,
) -> None:
    ended = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os; print(os.getpid())", stdout=asyncio.subprocess.PIPE
    )
    out, _ = await ended.communicate()  # it has exited and been reaped
    dead = instance_id().split(":")
    dead[1] = out.decode().strip()
    a = _replica(store, ":".join(dead), Clock())
    assert await a.acquire()
    alive = _replica(store, instance_id(), Clock())  # this process: alive
    b = _replica(store, instance_id(), Clock())
    assert not gone_from_here(alive.holder)
    assert gone_from_here(a.holder)
    assert not gone_from_here(f"another-host/1:{dead[1]}:x"), "another machine: cannot tell"
    assert await b.acquire(), "no ttl to wait for a process known to be gone"
    assert b.check() == 2
    assert b.takeovers == 1
    assert not await alive.acquire(), "b lives: the others wait"
