"""Data survives a restart of the whole embedded stack (stores are files; the broker is not)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import Staff
from tests.e2e.test_first_flow import wait_for_cases

pytestmark = pytest.mark.e2e

# Two whole stacks start one after the other: on a loaded 2-core machine each start alone has
# taken a minute. Every wait below is on a condition, bounded generously, never a fixed window.
READY_TIMEOUT = 180


@pytest.mark.timeout(2 * READY_TIMEOUT + 120)
async def test_families_and_cases_survive_a_stack_restart(tmp_path: Path) -> None:
    async with EmbeddedStack(tmp_path, base_port=0, ready_timeout=READY_TIMEOUT) as first:
        staff = Staff(first)
        async with httpx.AsyncClient(timeout=30) as client:
            family_id = await staff.register(client)
            before = await wait_for_cases(staff, client, family_id, within=60)
    async with EmbeddedStack(tmp_path, base_port=0, ready_timeout=READY_TIMEOUT) as second:
        staff.stack = second  # same keys: they live in the data folder
        async with httpx.AsyncClient(timeout=30) as client:
            family = await client.get(
                f"{second.urls['intake']}/families/{family_id}", headers=staff.headers
            )
            after = await staff.cases(client, family_id)
    assert family.status_code == 200
    assert family.json()["members"][0]["first_name"] == "Fatima"
    assert after == before
