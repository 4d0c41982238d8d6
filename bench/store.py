"""Units of work per second at concurrency 1, 8 and 32 on each store backend, with the raw limit
of the same machine measured in the same run.

A unit of work is what a registration writes: a new document and an access-audit entry on a key
of its own, and one outbox event. Backends: SQLite (a file, fsynced commits); MongoDB over the
wire on a mongoeco server process, serialised (the default against mongoeco) and with
overlapping transactions (every overlap conflicts there and is re-run); and a real MongoDB when
`MONGODB_URL` names a replica set. The raw limit does the same writes with the plain driver
(`sqlite3`, PyMongo) one transaction after the other, without the store layer.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from alamal_runtime.store import OutboxMessage, Store, TransientStoreError, UnitOfWork
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.store.sqlite import SqliteStore
from alamal_stack.mongoeco_process import MongoecoProcess

CONCURRENCY = (1, 8, 32)


GIVE_UP_SECONDS = 30.0
"""A unit of work still conflicting after this long counts as given up (the store's default
limit is 120 s; mongoeco with overlapping transactions can starve a unit at high concurrency)."""


async def _unit(store: Store) -> bool:
    key = str(uuid.uuid4())

    async def work(uow: UnitOfWork) -> None:
        await uow.insert("families", key, {"wijk": "overvecht", "members": 3})
        await uow.insert("audit", str(uuid.uuid4()), {"family_id": key, "action": "register"})
        uow.emit(OutboxMessage(id=str(uuid.uuid4()), topic="bench.t.v1", key=key, value=b"{}"))

    try:
        await store.with_transaction(work, time_limit=GIVE_UP_SECONDS)
    except TransientStoreError:
        return False
    return True


async def _rate(
    units: int, concurrency: int, one: Callable[[], Awaitable[bool]]
) -> tuple[float, int]:
    """Committed units per second, and how many gave up."""
    limit = asyncio.Semaphore(concurrency)

    async def limited() -> bool:
        async with limit:
            return await one()

    started = time.perf_counter()
    done = await asyncio.gather(*(limited() for _ in range(units)))
    return sum(done) / (time.perf_counter() - started), done.count(False)


async def _store_rates(make: Callable[[], Store], units: int) -> list[tuple[float, int]]:
    rates = []
    for concurrency in CONCURRENCY:
        store = make()
        await store.open()
        try:
            rates.append(await _rate(units, concurrency, partial(_unit, store)))
        finally:
            await store.close()
    return rates


def _raw_sqlite(path: Path, units: int) -> float:
    conn = sqlite3.connect(path, autocommit=True)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE d (c TEXT, id TEXT, v INTEGER, body TEXT, PRIMARY KEY (c, id))")
    conn.execute("CREATE TABLE o (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE, k TEXT)")
    started = time.perf_counter()
    for _ in range(units):
        key = str(uuid.uuid4())
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO d VALUES ('families', ?, 1, '{\"wijk\": \"o\"}')", (key,))
        conn.execute("INSERT INTO d VALUES ('audit', ?, 1, '{}')", (str(uuid.uuid4()),))
        conn.execute("INSERT INTO o (id, k) VALUES (?, ?)", (str(uuid.uuid4()), key))
        conn.execute("COMMIT")
    rate = units / (time.perf_counter() - started)
    conn.close()
    return rate


async def _raw_mongo(url: str, database: str, units: int) -> float:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    db = client.get_database(database, write_concern=WriteConcern("majority"))
    try:
        started = time.perf_counter()
        for _ in range(units):
            key = str(uuid.uuid4())
            async with client.start_session() as session:
                await session.start_transaction(read_concern=ReadConcern("snapshot"))
                await db.families.insert_one({"_id": key, "wijk": "o"}, session=session)
                await db.audit.insert_one({"_id": str(uuid.uuid4())}, session=session)
                await db.outbox.insert_one({"_id": str(uuid.uuid4()), "k": key}, session=session)
                await session.commit_transaction()
        return units / (time.perf_counter() - started)
    finally:
        await client.drop_database(database)
        await client.close()


def _print(name: str, rates: list[tuple[float, int]], raw: float) -> None:
    cells = []
    for concurrency, (rate, gave_up) in zip(CONCURRENCY, rates, strict=True):
        note = f", {gave_up} gave up" if gave_up else ""
        cells.append(f"c={concurrency}: {rate:7.1f}/s ({rate / raw:4.0%} of raw{note})")
    print(f"{name:<26} raw {raw:7.1f}/s   {'  '.join(cells)}")


def _mongoeco_store(url: str, numbers: Iterator[int], serialised: bool) -> Store:
    return MongoStore(url, f"bench_{next(numbers)}", serialize_writes=serialised)


async def run_store(data: Path, units: int, mongo_units: int) -> None:
    """Print units of work per second per backend and concurrency, and each raw limit."""
    print(f"units of work: {units} on SQLite, {mongo_units} on mongoeco (it slows as data grows)")
    n = iter(range(1_000_000))
    # The raw limit is measured before and after the store (the higher counts), so that a
    # shared machine's load shifts both sides alike.
    before = await asyncio.to_thread(_raw_sqlite, data / "raw-before.sqlite3", units)
    rates = await _store_rates(lambda: SqliteStore(data / f"s{next(n)}.sqlite3"), units)
    after = await asyncio.to_thread(_raw_sqlite, data / "raw-after.sqlite3", units)
    _print("sqlite", rates, max(before, after))
    server = MongoecoProcess("bench", log_dir=data)
    await server.start()
    try:
        for serialised in (True, False):
            before = await _raw_mongo(server.uri, f"raw_{uuid.uuid4().hex[:8]}", mongo_units)
            make = partial(_mongoeco_store, server.uri, n, serialised)
            rates = await _store_rates(make, mongo_units)
            after = await _raw_mongo(server.uri, f"raw_{uuid.uuid4().hex[:8]}", mongo_units)
            mode = "serialised" if serialised else "overlapping"
            _print(f"mongoeco {mode}", rates, max(before, after))
    finally:
        await server.stop()
    url = os.environ.get("MONGODB_URL")
    if not url:
        print("real MongoDB: not measured (set MONGODB_URL to a replica set)")
        return
    raw = await _raw_mongo(url, f"alamal_bench_raw_{uuid.uuid4().hex[:8]}", units)
    names = [f"alamal_bench_{uuid.uuid4().hex[:8]}" for _ in CONCURRENCY]
    databases = iter(names)
    rates = await _store_rates(lambda: MongoStore(url, next(databases)), units)
    _print("mongodb (MONGODB_URL)", rates, raw)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
    for name in names:
        await client.drop_database(name)
    await client.close()
