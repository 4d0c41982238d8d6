"""What sealing personal data at rest costs: registration and visit logging, sealed and not.

Both variants run in the same process, one after the other, on fresh stacks; the unsealed one
sets the dev-only `<PREFIX>BENCH_UNSEALED` on intake and cases (refused in prod).
"""

from __future__ import annotations

from pathlib import Path

from bench.casework import run_casework
from bench.first_flow import run_first_flow

UNSEALED = {"INTAKE_BENCH_UNSEALED": "1", "CASES_BENCH_UNSEALED": "1"}


async def run_encryption_cost(data: Path, families: int, visits: int, concurrency: int) -> None:
    """Print the registration and visit figures with sealing, then without."""
    for label, env in (("sealed (default)", None), ("unsealed (bench only)", UNSEALED)):
        print(f"-- {label}")
        await run_first_flow(data / label.split()[0] / "reg", families, concurrency, extra_env=env)
        await run_casework(data / label.split()[0] / "visits", visits, concurrency, extra_env=env)
