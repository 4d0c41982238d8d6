"""Fault-test helpers: registrations under load, and checks that every acknowledged one reached
every consumer exactly once in effect.

Verification reads the stores' files directly (read-only, as an auditor would): intake's outbox
names the event of each registration, and the inbox of each consumer shows whether it handled
that event; the cases API and reporting's facts show the effects.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from alamal_contracts.topics import FAMILY_REGISTERED
from tests.e2e.conftest import family_body

CONSUMERS_OF_REGISTRATIONS = ("cases", "notifications", "reporting")


async def eventually(check: Callable[[], bool], *, within: float) -> None:
    """Wait until `check()` holds; TimeoutError after `within` seconds."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.05)


@dataclass
class Load:
    """Registers families at intake from `workers` concurrent clients until stopped."""

    intake_url: str
    headers: Mapping[str, str]
    trusted_person_id: str
    workers: int = 4
    consents: tuple[str, ...] = ()
    """Purposes consented to besides care and reporting (e.g. share-youth-care)."""
    timeout: float = 30.0
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        """Start the workers."""
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]

    async def stop(self) -> None:
        """Stop the workers; requests in flight finish (their answers still count)."""
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until(self, count: int, *, within: float) -> None:
        """Wait until `count` registrations were acknowledged."""
        await eventually(lambda: len(self.acknowledged) >= count, within=within)

    async def _worker(self) -> None:
        body = family_body(self.trusted_person_id)
        body["consents"] += [{"purpose": p, "granted": True} for p in self.consents]
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            while not self._stop.is_set():
                try:
                    response = await client.post(
                        f"{self.intake_url}/families",
                        json=body,
                        headers=dict(self.headers),
                    )
                except httpx.HTTPError:  # not acknowledged: the caller would try again
                    self.refused += 1
                    await asyncio.sleep(0.1)
                    continue
                if response.status_code == 201:
                    self.acknowledged.append(response.json()["id"])
                else:
                    self.refused += 1
                    await asyncio.sleep(0.1)


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        yield conn
    finally:
        conn.close()


def store_file(data_dir: Path, service: str) -> Path:
    """A service's SQLite file in the embedded stack's data folder."""
    return data_dir / service / f"{service}.sqlite3"


def registration_events(data_dir: Path, families: list[str]) -> dict[str, str]:
    """Family id -> the id of its `family-registered` event, from intake's outbox."""
    with _read_only(store_file(data_dir, "intake")) as conn:
        rows = conn.execute(
            "SELECT key, id FROM outbox WHERE topic = ?", (FAMILY_REGISTERED,)
        ).fetchall()
    found = {str(key): str(event_id) for key, event_id in rows}
    return {family: found[family] for family in families if family in found}


def handled(data_dir: Path, service: str, event_ids: list[str]) -> set[str]:
    """Which of `event_ids` the service's consumer has handled (its inbox)."""
    with _read_only(store_file(data_dir, service)) as conn:
        rows = conn.execute("SELECT event_id FROM inbox WHERE consumer = ?", (service,)).fetchall()
    return {str(row[0]) for row in rows} & set(event_ids)


def reporting_families(data_dir: Path) -> set[str]:
    """The families reporting's projection holds a registration for."""
    with _read_only(store_file(data_dir, "reporting")) as conn:
        rows = conn.execute(
            "SELECT id FROM documents WHERE collection = 'rp-families'"
            " AND json_extract(body, '$.reg') IS NOT NULL"
        ).fetchall()
    return {str(row[0]) for row in rows}


@dataclass(frozen=True, slots=True)
class Delivery:
    """How far the acknowledged registrations have reached."""

    acknowledged: int
    in_outbox: int
    handled: dict[str, int]
    in_reporting: int

    @property
    def complete(self) -> bool:
        """Every acknowledged registration is in every consumer."""
        n = self.acknowledged
        return (
            self.in_outbox == n
            and all(count == n for count in self.handled.values())
            and self.in_reporting == n
        )


def delivery(data_dir: Path, families: list[str]) -> Delivery:
    """Count, per consumer, the acknowledged registrations it has handled."""
    events = registration_events(data_dir, families)
    ids = list(events.values())
    return Delivery(
        acknowledged=len(families),
        in_outbox=len(events),
        handled={s: len(handled(data_dir, s, ids)) for s in CONSUMERS_OF_REGISTRATIONS},
        in_reporting=len(reporting_families(data_dir) & set(families)),
    )


async def wait_delivered(data_dir: Path, families: list[str], *, within: float) -> Delivery:
    """Poll until every acknowledged registration reached every consumer (or time is up)."""
    deadline = time.monotonic() + within
    while True:
        found = await asyncio.to_thread(delivery, data_dir, families)
        if found.complete or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.5)


async def case_counts(
    cases_url: str, headers: Mapping[str, str], families: list[str]
) -> dict[str, int]:
    """How many cases the cases API shows for each family (exactly one each, in effect)."""
    counts: dict[str, int] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for family_id in families:
            response = await client.get(
                f"{cases_url}/cases", params={"family_id": family_id}, headers=dict(headers)
            )
            response.raise_for_status()
            found: list[Any] = response.json()
            counts[family_id] = len(found)
    return counts


async def all_ready(urls: Mapping[str, str], *, within: float) -> float:
    """Seconds until every service answers ready; TimeoutError after `within`."""
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as client, asyncio.timeout(within):
        while True:
            ready = 0
            for url in urls.values():
                with contextlib.suppress(httpx.HTTPError):
                    ready += (await client.get(url + "/health/ready")).status_code == 200
            if ready == len(urls):
                return time.monotonic() - started
            await asyncio.sleep(0.2)
