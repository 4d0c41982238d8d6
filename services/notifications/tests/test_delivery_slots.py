"""Delivery slots split webhook endpoints among replicas: one replica per slot at a time, taken
over when its holder stops or goes silent. Each replica has a clock the test moves."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from alamal_notifications.delivery_slots import DeliverySlots, slot_of
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore

TTL = 6.0
SLOTS = 8


class Clock:
    """A replica's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """One store shared by the replicas, as on the embedded stack."""
    opened = SqliteStore(tmp_path / "notifications.sqlite3")
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def test_an_endpoint_falls_in_the_same_slot_in_every_process() -> None:
    ids = [f"ep_{n}" for n in range(200)]
    here = [slot_of(i, SLOTS) for i in ids]
    code = (
        "from alamal_notifications.delivery_slots import slot_of;"
        f"print([slot_of(f'ep_{{n}}', {SLOTS}) for n in range(200)])"
    )
    other = subprocess.run(  # noqa: S603 - this interpreter; another replica, another hash seed
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": "12345"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert other.stdout.strip() == str(here)
    assert set(here) == set(range(SLOTS)), "every slot gets endpoints"


async def test_each_endpoint_has_one_replica_at_a_time_and_a_stopped_one_hands_over(
    store: Store,
) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = DeliverySlots(store, holder="a", slots=SLOTS, ttl_seconds=TTL, clock=clock_a)
    b = DeliverySlots(store, holder="b", slots=SLOTS, ttl_seconds=TTL, clock=clock_b)
    await a.refresh()
    await b.refresh()
    assert a.held == list(range(SLOTS))
    assert b.held == []
    endpoints = [f"ep_{n}" for n in range(50)]
    assert all(a.may_deliver(e) and not b.may_deliver(e) for e in endpoints)

    for _ in range(4):  # a keeps renewing: b never takes a slot
        clock_a.now += TTL / 3
        clock_b.now += TTL / 3
        await a.refresh()
        await b.refresh()
        assert b.held == []
    assert a.held == list(range(SLOTS))

    await a.release()  # a clean stop
    assert a.held == []
    clock_b.now += TTL / 3
    await b.refresh()
    assert b.held == list(range(SLOTS)), "released slots are taken at once"


async def test_a_silent_replica_loses_its_slots_after_the_ttl_and_delivers_nothing_on_waking(
    store: Store,
) -> None:
    clock_a, clock_b = Clock(), Clock()
    a = DeliverySlots(store, holder="a", slots=SLOTS, ttl_seconds=TTL, clock=clock_a)
    b = DeliverySlots(store, holder="b", slots=SLOTS, ttl_seconds=TTL, clock=clock_b)
    await a.refresh()
    await b.refresh()
    # a is paused: its clock runs on (monotonic clocks do under SIGSTOP), it renews nothing.
    for _ in range(2):
        clock_b.now += TTL / 3
        await b.refresh()
    assert b.held == [], "not silent for a whole ttl yet"
    clock_b.now += TTL / 3 + 0.1
    await b.refresh()
    assert b.held == list(range(SLOTS))
    clock_a.now += 2 * TTL  # a wakes
    assert not a.may_deliver("ep_1"), "its own clock fences it before it renews"
    await a.refresh()
    assert a.held == []
    assert b.may_deliver("ep_1")
