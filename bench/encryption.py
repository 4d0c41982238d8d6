"""What sealing personal data at rest costs: registration and visit logging, sealed and not.

Two measures, both in this one run on this machine:
- the store alone: intake's family document and cases' visit document written (one unit of
  work each, fsynced) and read back, through the sealed store and through the bare SQLite
  store;
- end to end on the embedded stack: registration and visit logging over HTTP, sealed (the
  default) and with the dev-only `<PREFIX>BENCH_UNSEALED` on intake and cases (refused in
  prod). Rounds alternate (sealed, unsealed, sealed, unsealed) so a machine that gets busier
  during the run does not favour one side.
"""

from __future__ import annotations

import statistics
import time
import uuid
from pathlib import Path

from alamal_cases.sealing import SEALED as CASES_SEALED
from alamal_cases.store import VISITS
from alamal_intake.store import FAMILIES
from alamal_intake.store import SEALED as INTAKE_SEALED
from alamal_runtime.crypto import Keyring, new_key
from alamal_runtime.sealing import SealedStore, SealSchema
from alamal_runtime.store import Doc, Store
from alamal_runtime.store.sqlite import SqliteStore
from bench.casework import run_casework
from bench.first_flow import percentile, run_first_flow

UNSEALED = {"INTAKE_BENCH_UNSEALED": "1", "CASES_BENCH_UNSEALED": "1"}


def _family() -> Doc:
    return {
        "wijk": "overvecht",
        "projects": [],
        "languages": ["ar", "nl"],
        "intake_source": "school",
        "trusted_person_id": str(uuid.uuid4()),
        "registered_by": str(uuid.uuid4()),
        "registered_at": "2026-12-01T10:00:00+00:00",
        "members": [
            {"role": "mother", "birth_year": 1984, "first_name": "Fatima", "surname": "El Amrani"},
            {"role": "child", "birth_year": 2016, "first_name": "Yasmine", "surname": None},
        ],
        "consents": [],
        "address": {"street": "Kanaalstraat", "house_number": "12", "postcode": "3531 CJ"},
        "phone": "+31 30 123 4567",
        "notes": "Bench note",
        "father_trusted_person_id": None,
        "assignments": [],
    }


def _visit(family_id: str) -> Doc:
    return {
        "case_id": str(uuid.uuid4()),
        "family_id": family_id,
        "wijk": "overvecht",
        "trusted_person_id": str(uuid.uuid4()),
        "kind": "home-visit",
        "occurred_on": "2026-12-01",
        "duration_minutes": 45,
        "topic_codes": ["school"],
        "strengths_observed": ["Mother keeps a tidy school agenda"],
        "private_note": "Discussed the school meeting and the money worries.",
        "follow_up_on": None,
        "logged_at": "2026-12-01T10:00:00+00:00",
        "sort_key": "2026-12-01|2026-12-01T10:00:00+00:00",
    }


async def _store_round(store: Store, n: int) -> tuple[float, float, float]:
    """Write n families and n visits (one unit of work each), read them back: ops/s, p99 ms."""
    await store.open()
    writes: list[float] = []
    ids = []
    started = time.perf_counter()
    for _ in range(n):
        family_id = str(uuid.uuid4())
        ids.append(family_id)
        t0 = time.perf_counter()
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, family_id, _family())
        async with store.transaction() as uow:
            await uow.insert(VISITS, str(uuid.uuid4()), _visit(family_id))
        writes.append(time.perf_counter() - t0)
    write_rate = n / (time.perf_counter() - started)
    started = time.perf_counter()
    for family_id in ids:
        await store.get(FAMILIES, family_id)
    read_rate = n / (time.perf_counter() - started)
    await store.close()
    return write_rate, read_rate, percentile(writes, 0.99) * 1000


async def run_store_cost(data: Path, n: int) -> None:
    """Print the store-level figures, sealed against bare, in alternating rounds."""
    schema: SealSchema = {**INTAKE_SEALED, **CASES_SEALED}
    results: dict[str, list[tuple[float, float, float]]] = {"bare": [], "sealed": []}
    for round_ in range(2):
        for label in ("bare", "sealed"):
            sqlite = SqliteStore(data / f"{label}-{round_}.sqlite3")
            store: Store = sqlite
            if label == "sealed":
                keyring = Keyring((new_key(),))
                store = SealedStore(sqlite, keyring=keyring, schema=schema, service="bench")
            results[label].append(await _store_round(store, n))
    print(f"store only: {n} families + {n} visits per round, 2 rounds each, alternating")
    for label, rounds in results.items():
        writes = statistics.mean(r[0] for r in rounds)
        reads = statistics.mean(r[1] for r in rounds)
        p99 = statistics.mean(r[2] for r in rounds)
        print(
            f"  {label:6}: {writes:.0f} registrations+visits/s written, {reads:.0f} families/s"
            f" read, write p99 {p99:.2f} ms"
        )


async def run_encryption_cost(data: Path, families: int, visits: int, concurrency: int) -> None:
    """Print the store-level cost, then the end-to-end figures with sealing and without."""
    await run_store_cost(data / "store", families)
    for round_ in range(2):
        for label, env in (("sealed", None), ("unsealed", UNSEALED)):
            print(f"-- round {round_ + 1}: {label}")
            here = data / f"{label}-{round_}"
            await run_first_flow(here / "reg", families, concurrency, extra_env=env)
            await run_casework(here / "visits", visits, concurrency, extra_env=env)
