"""Registration throughput at intake and registration -> case-opened latency across services."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

from alamal_runtime.auth import Role, mint_token
from alamal_stack.runner import EmbeddedStack


def _body(trusted_person_id: str) -> dict[str, object]:
    return {
        "members": [{"role": "mother", "birth_year": 1985, "first_name": "Bench"}],
        "wijk": "overvecht",
        "languages": ["nl"],
        "intake_source": "self",
        "trusted_person_id": trusted_person_id,
        "consents": [{"purpose": "care", "granted": True}],
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _case_latency(
    client: httpx.AsyncClient,
    cases_url: str,
    headers: dict[str, str],
    family_id: str,
    started: float,
) -> float:
    while True:
        response = await client.get(
            f"{cases_url}/cases", params={"family_id": family_id}, headers=headers
        )
        if response.json():
            return time.perf_counter() - started
        await asyncio.sleep(0.005)


async def run_first_flow(
    data: Path, families: int, concurrency: int, *, extra_env: Mapping[str, str] | None = None
) -> None:
    """Start the stack, register `families` families, print throughput and latencies."""
    async with EmbeddedStack(data, base_port=0, ready_timeout=90, extra_env=extra_env) as stack:
        print(f"stack start-up: {stack.startup_seconds:.2f} s")
        user = str(uuid.uuid4())
        private = await asyncio.to_thread(Path(stack.keys.signing).read_text, encoding="ascii")
        token = mint_token(private, user_id=user, role=Role.TRUSTED_PERSON, wijken={"overvecht"})
        headers = {"Authorization": f"Bearer {token}"}
        intake, cases = stack.urls["intake"], stack.urls["cases"]
        request_times: list[float] = []
        latencies: list[float] = []
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30) as client:

            async def one() -> None:
                async with limit:
                    started = time.perf_counter()
                    response = await client.post(
                        f"{intake}/families", json=_body(user), headers=headers
                    )
                    request_times.append(time.perf_counter() - started)
                    response.raise_for_status()
                    family_id = response.json()["id"]
                    latencies.append(
                        await _case_latency(client, cases, headers, family_id, started)
                    )

            await one()  # warm-up: connections, first consumer fetch
            request_times.clear()
            latencies.clear()
            wall = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(families)))
            wall = time.perf_counter() - wall
        ms = 1000.0
        print(f"registrations: {families} at concurrency {concurrency} in {wall:.2f} s")
        print(f"  POST /families: {families / wall:.0f} families/s end to end (incl. case wait)")
        print(
            f"  POST /families latency: p50 {statistics.median(request_times) * ms:.1f} ms, "
            f"p99 {percentile(request_times, 0.99) * ms:.1f} ms"
        )
        print(
            f"  registration -> case visible at cases: p50 {statistics.median(latencies) * ms:.0f}"
            f" ms, p99 {percentile(latencies, 0.99) * ms:.0f} ms, "
            f"max {max(latencies) * ms:.0f} ms"
        )
