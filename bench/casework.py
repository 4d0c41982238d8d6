"""Logging a visit on the embedded stack: requests/s and latency of POST /cases/{id}/visits."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path

import httpx

from alamal_runtime.auth import Role, mint_token
from alamal_stack.runner import EmbeddedStack
from bench.first_flow import percentile


async def _open_cases(
    client: httpx.AsyncClient, stack: EmbeddedStack, headers: dict[str, str], user: str, n: int
) -> list[str]:
    """Register `n` families at intake and wait for their cases; return the case ids."""
    family_ids = []
    for _ in range(n):
        response = await client.post(
            f"{stack.urls['intake']}/families",
            json={
                "members": [{"role": "mother", "birth_year": 1985, "first_name": "Bench"}],
                "wijk": "overvecht",
                "languages": ["nl"],
                "intake_source": "self",
                "trusted_person_id": user,
                "consents": [{"purpose": "care", "granted": True}],
            },
            headers=headers,
        )
        response.raise_for_status()
        family_ids.append(response.json()["id"])
    case_ids = []
    for family_id in family_ids:
        while True:
            found = await client.get(
                f"{stack.urls['cases']}/cases", params={"family_id": family_id}, headers=headers
            )
            if found.json():
                case_ids.append(found.json()[0]["id"])
                break
            await asyncio.sleep(0.01)
    return case_ids


async def run_casework(
    data: Path,
    visits: int,
    concurrency: int,
    families: int = 20,
    *,
    extra_env: Mapping[str, str] | None = None,
) -> None:
    """Log `visits` visits over `families` cases at `concurrency`; print requests/s, p50, p99."""
    async with EmbeddedStack(data, base_port=0, ready_timeout=90, extra_env=extra_env) as stack:
        user = str(uuid.uuid4())
        private = await asyncio.to_thread(Path(stack.keys.signing).read_text, encoding="ascii")
        token = mint_token(private, user_id=user, role=Role.TRUSTED_PERSON, wijken={"overvecht"})
        headers = {"Authorization": f"Bearer {token}"}
        rng = random.Random(1)
        times: list[float] = []
        limit = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(timeout=30) as client:
            case_ids = await _open_cases(client, stack, headers, user, families)

            async def one() -> None:
                body = {
                    "kind": rng.choice(["home-visit", "phone", "office"]),
                    "occurred_on": (date.today() - timedelta(days=rng.randint(0, 30))).isoformat(),
                    "duration_minutes": rng.randint(5, 90),
                    "topic_codes": rng.sample(["parenting", "school", "money", "health"], k=2),
                    "private_note": "Benchmark note",
                    "follow_up_on": None,
                }
                async with limit:
                    started = time.perf_counter()
                    response = await client.post(
                        f"{stack.urls['cases']}/cases/{rng.choice(case_ids)}/visits",
                        json=body,
                        headers=headers,
                    )
                    times.append(time.perf_counter() - started)
                    response.raise_for_status()

            for _ in range(10):  # warm-up
                await one()
            times.clear()
            wall = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(visits)))
            wall = time.perf_counter() - wall
        ms = 1000.0
        print(f"log a visit: {visits} visits over {families} cases at concurrency {concurrency}")
        print(f"  POST /cases/{{id}}/visits: {visits / wall:.0f} requests/s")
        print(
            f"  latency: p50 {statistics.median(times) * ms:.1f} ms, "
            f"p99 {percentile(times, 0.99) * ms:.1f} ms, max {max(times) * ms:.1f} ms"
        )
