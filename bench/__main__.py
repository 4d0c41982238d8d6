"""Benchmarks on the embedded stack: `make bench` (or `./alamal bench`).

Without a name it runs `throughput`: every figure of issue 15 next to the raw limit measured in
the same run, printed as a table and written to artifacts/bench.json. The older benchmarks run
by name. Prints figures; it asserts nothing about speed (goals are read off these numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from bench.casework import run_casework
from bench.encryption import run_encryption_cost
from bench.first_flow import run_first_flow
from bench.reporting import run_reporting
from bench.store import run_store
from bench.throughput import run_throughput
from bench.webhooks import run_webhooks

type Bench = Callable[[Path, argparse.Namespace], Coroutine[Any, Any, Any]]

BENCHES: dict[str, Bench] = {
    "throughput": run_throughput,
    "registration": lambda data, a: run_first_flow(data, a.families, a.concurrency),
    "visits": lambda data, a: run_casework(data, a.visits, a.concurrency),
    "webhooks": lambda data, a: run_webhooks(data, a.webhooks, a.endpoints),
    "reporting": lambda data, a: run_reporting(data, a.reporting_events),
    "encryption": lambda data, a: run_encryption_cost(data, a.families, a.visits, a.concurrency),
    "store": lambda data, a: run_store(data, a.store_units, a.mongo_units),
}


def main() -> None:
    """Parse arguments and run the chosen benchmarks (`throughput` by default), one stack each."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("only", nargs="*", choices=[[], *BENCHES], help="benchmarks to run")
    parser.add_argument("--families", type=int, default=200, help="registrations to time")
    parser.add_argument("--visits", type=int, default=500, help="visits to log")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--registrations", type=int, default=1000, help="at --concurrency")
    parser.add_argument("--paced-rate", type=float, default=50.0, help="families/s")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="before reading RSS")
    parser.add_argument("--consumer-events", type=int, default=20_000)
    parser.add_argument("--webhooks", type=int, default=2000, help="webhook messages to deliver")
    parser.add_argument("--endpoints", type=int, default=4, help="receiving endpoints")
    parser.add_argument("--reporting-events", type=int, default=100_000)
    parser.add_argument("--store-units", type=int, default=600, help="units of work per run")
    parser.add_argument("--mongo-units", type=int, default=150, help="the same on mongoeco")
    parser.add_argument("--output", default="artifacts/bench.json", help="throughput's report")
    args = parser.parse_args()
    for name in args.only or ["throughput"]:
        print(f"== {name}")
        with tempfile.TemporaryDirectory(prefix="alamal-bench-") as data:
            asyncio.run(BENCHES[name](Path(data), args))


if __name__ == "__main__":
    main()
