"""The projection on a real SQLite store: live merging equals batched rebuild in any order."""

from __future__ import annotations

import random
from pathlib import Path

from alamal_reporting import store
from alamal_reporting.domain.facts import FactDoc, facts_of
from alamal_runtime.store.sqlite import SqliteStore

from .flow import standard_flow


async def test_event_by_event_in_order_equals_batched_shuffled_duplicated(tmp_path: Path) -> None:
    events = [event for _, event in standard_flow().events]
    live, rebuilt = SqliteStore(tmp_path / "live.sqlite3"), SqliteStore(tmp_path / "re.sqlite3")
    await live.open()
    await rebuilt.open()
    try:
        for event in events:
            async with live.transaction() as uow:
                await store.apply(uow, facts_of(event))
        rng = random.Random(11)
        replay = events + rng.sample(events, k=len(events) // 2)
        rng.shuffle(replay)
        for start in range(0, len(replay), 40):
            pending: dict[tuple[str, str], FactDoc] = {}
            for event in replay[start : start + 40]:
                store.combine(pending, facts_of(event))
            await store.write_batch(rebuilt, pending)
        snapshot = await store.snapshot(live)
        assert await store.snapshot(rebuilt) == snapshot
        entities = (snapshot.families, snapshot.cases, snapshot.visits, snapshot.referrals)
        assert await store.drop(rebuilt) == sum(map(len, entities)) + len(snapshot.goals)
        assert (await store.snapshot(rebuilt)).families == {}
    finally:
        await live.close()
        await rebuilt.close()
