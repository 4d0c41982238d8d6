"""Ctrl-C and start again under load, three times in a row, with the real command line: every
acknowledged registration has its case and is counted in reporting, and a rebuild afterwards
serves the same reports as before it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_runtime.auth import Role, mint_token
from alamal_runtime.stack_state import StackState, read_state
from alamal_stack.keys import ensure_token_keys
from tests.e2e.faults import Load, case_counts, wait_delivered

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 180
RESTARTS = 3
SERVICES = "intake,cases,notifications,reporting"


@asynccontextmanager
async def running(
    data: Path, log: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, StackState]]:
    """`python -m alamal_stack run` until its banner; SIGINT (Ctrl-C) when the block ends,
    unless the block sent it already."""
    with log.open("ab") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alamal_stack",
            "run",
            "--data-dir",
            str(data),
            "--base-port",
            "0",
            "--only",
            SERVICES,
            "--ready-timeout",
            str(READY_TIMEOUT),
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
        )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(READY_TIMEOUT + 60):
            while b"Ctrl-C" not in (line := await proc.stdout.readline()):
                assert line, "the stack ended before it was up: see runner.log"
        yield proc, read_state(data / "stack.json")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        async with asyncio.timeout(120):
            await proc.wait()


def _headers(state: StackState, user_id: str, role: Role) -> dict[str, str]:
    assert state.signing_key is not None
    key = Path(state.signing_key).read_text(encoding="ascii")
    return {
        "Authorization": "Bearer "
        + mint_token(key, user_id=user_id, role=role, wijken={"overvecht"})
    }


async def _reports(url: str, headers: dict[str, str]) -> dict[str, Any]:
    year = datetime.now(UTC).year
    period = {"from": f"{year}-01-01", "to": f"{year}-12-31"}
    found: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=30) as client:
        catalogue = (await client.get(f"{url}/reports", headers=headers)).json()
        for report, breakdowns in catalogue.items():
            for breakdown in breakdowns:
                response = await client.get(
                    f"{url}/reports/{report}",
                    params={"breakdown": breakdown, **period},
                    headers=headers,
                )
                if response.status_code == 403:
                    continue  # staff breakdowns are for coordinators
                assert response.status_code == 200, response.text
                body = response.json()
                found[f"{report}/{breakdown}"] = {k: body[k] for k in ("columns", "rows", "total")}
    return found


def _rebuild(data: Path, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "REPORTING_STORE_URL": f"sqlite:///{data / 'reporting' / 'reporting.sqlite3'}",
        "REPORTING_KAFKA_BOOTSTRAP": bootstrap,
        "REPORTING_TOKEN_PUBLIC_KEY_FILE": str(ensure_token_keys(data).verify),
        "REPORTING_DATA_DIR": str(data / "reporting"),
        "REPORTING_PROFILE": "dev",
        "REPORTING_LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [sys.executable, "-m", "alamal_reporting", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout((RESTARTS + 1) * (READY_TIMEOUT + 120) + 300)
async def test_ctrl_c_under_load_three_times_loses_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    log = tmp_path / "runner.log"
    tp = str(uuid.uuid4())
    acknowledged: list[str] = []
    for _ in range(RESTARTS):
        async with running(data, log) as (proc, state):
            load = Load(state.services["intake"].url, _headers(state, tp, Role.TRUSTED_PERSON), tp)
            load.start()
            try:
                await load.until(15, within=120)
                proc.send_signal(signal.SIGINT)  # Ctrl-C while registrations keep coming
                async with asyncio.timeout(120):
                    assert await proc.wait() == 0, "the runner failed: see runner.log"
            finally:
                await load.stop()
            acknowledged += load.acknowledged
    async with running(data, log) as (_, state):
        found = await wait_delivered(data, acknowledged, within=180)
        assert found.complete, found
        staff = _headers(state, tp, Role.TRUSTED_PERSON)
        counts = await case_counts(state.services["cases"].url, staff, acknowledged)
        assert sorted(set(counts.values())) == [1], "exactly one case per acknowledged family"
        funder = _headers(state, str(uuid.uuid4()), Role.FUNDER)
        before = await _reports(state.services["reporting"].url, funder)
        assert before["families/wijk"]["total"][0] == len(acknowledged)
        rebuilt = await asyncio.to_thread(_rebuild, data, state.bootstrap)
        assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
        assert "rebuilt:" in rebuilt.stderr
        after = await _reports(state.services["reporting"].url, funder)
    print(  # noqa: T201 - the figures of the run
        f"\nCtrl-C under load x{RESTARTS}: {len(acknowledged)} registrations acknowledged,"
        f" all with one case and counted in reporting; reports equal after the rebuild"
    )
    assert after == before
