"""Benchmarks on the embedded stack: `make bench` (or `./alamal bench`).

Prints figures; it asserts nothing about speed (goals are read off these numbers, not tested).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.first_flow import run_first_flow


def main() -> None:
    """Parse arguments and run the benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--families", type=int, default=200, help="registrations to time")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="alamal-bench-") as data:
        asyncio.run(run_first_flow(Path(data), args.families, args.concurrency))


if __name__ == "__main__":
    main()
