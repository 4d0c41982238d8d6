"""EmbeddedStack end to end with a real broker and a tiny fake service (fake_service.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from alamal_runtime.stack_state import InstanceState, ServiceState, read_state
from alamal_stack.processes import StackError
from alamal_stack.runner import EmbeddedStack, RestartPolicy
from alamal_stack.services import ServiceSpec

pytestmark = pytest.mark.integration

TESTS_DIR = Path(__file__).resolve().parent


async def _info(url: str) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=2) as client:
        response = await client.get(url + "/info")
    response.raise_for_status()
    data: dict[str, object] = response.json()
    return data


async def _eventually(check: Callable[[], object], within: float = 20) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.05)


def _stack(tmp_path: Path, spec: ServiceSpec, env: dict[str, str], **kw: object) -> EmbeddedStack:
    return EmbeddedStack(
        tmp_path / "data",
        services=[spec],
        base_port=0,
        topics=["test.thing-happened.v1"],
        partitions=2,
        extra_env=env,
        ready_timeout=20,
        stop_grace=3,
        **kw,  # type: ignore[arg-type]
    )


async def test_stack_runs_a_service_survives_kill_and_restart(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    async with _stack(tmp_path, fake_spec, fake_env) as stack:
        url = stack.urls["fake"]
        info = await _info(url)
        assert info["starts"] == 1
        env = info["env"]
        assert isinstance(env, dict)
        assert env["FAKE_KAFKA_BOOTSTRAP"] == stack.bootstrap
        assert env["FAKE_TOKEN_PUBLIC_KEY_FILE"] == str(stack.keys.verify)
        assert env["FAKE_PROFILE"] == "dev"
        assert stack.startup_seconds is not None
        admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
        await admin.start()
        try:
            [topic] = await admin.describe_topics(["test.thing-happened.v1"])
        finally:
            await admin.close()
        assert len(topic["partitions"]) == 2

        service = stack.services["fake"]
        old_pid = service.pid
        state = read_state(stack.state_file)
        assert state.bootstrap == stack.bootstrap
        assert state.runner_pid == os.getpid()
        assert state.broker_pid == stack.broker.pid
        instance = InstanceState(url=service.instance_url, pid=old_pid)
        assert state.services["fake"] == ServiceState(url=url, pid=old_pid, instances=(instance,))
        assert state.signing_key == str(stack.keys.signing)
        assert stack.state_file.stat().st_mode & 0o777 == 0o600
        with pytest.raises(StackError, match="already running"):
            await _stack(tmp_path, fake_spec, fake_env).start()
        assert stack.state_file.exists(), "the refused second stack left the first one's file"
        stack.kill("fake")
        await _eventually(lambda: service.exit_code() == -signal.SIGKILL)
        with pytest.raises(httpx.ConnectError):
            await _info(url)

        await stack.restart("fake")
        info = await _info(url)
        assert info["starts"] == 2  # the SQLite store survived the kill
        assert info["pid"] != old_pid
        assert read_state(stack.state_file).services["fake"].pid == info["pid"]
    assert not stack.state_file.exists()
    assert service.exit_code() is not None
    assert not stack.broker.running
    log = (tmp_path / "data" / "logs" / "fake.log").read_text()
    assert "start #2" in log


async def test_supervisor_restarts_a_crashed_service(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    policy = RestartPolicy(first_delay=0.05)
    async with _stack(tmp_path, fake_spec, fake_env, supervise=True, restart_policy=policy) as st:
        url = st.urls["fake"]
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(url + "/crash")
        restarted = False
        async with asyncio.timeout(20):
            while not restarted:
                await asyncio.sleep(0.1)
                try:
                    restarted = (await _info(url))["starts"] == 2
                except httpx.HTTPError:
                    continue
        assert not st.failed.is_set()


async def test_supervisor_gives_up_on_a_crash_loop(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    policy = RestartPolicy(max_restarts=0)
    async with _stack(tmp_path, fake_spec, fake_env, supervise=True, restart_policy=policy) as st:
        async with httpx.AsyncClient(timeout=2) as client:
            with pytest.raises(httpx.HTTPError):
                await client.get(st.urls["fake"] + "/crash")
        await asyncio.wait_for(st.failed.wait(), timeout=10)
        assert st.failure is not None
        assert "fake" in st.failure


async def test_a_service_that_fails_to_start_is_reported_and_everything_stops(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    stack = _stack(tmp_path, fake_spec, fake_env | {"FAKE_FAIL_AT_START": "1"})
    with pytest.raises(StackError, match="service fake exited with code 3") as failure:
        await stack.start()
    assert "failing at start as asked" in str(failure.value)
    assert not stack.broker.running
    assert stack.services["fake"].exit_code() == 3


async def test_cli_prints_urls_and_stops_cleanly_on_sigint(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TESTS_DIR / "stack_cli.py"),
        "run",
        "--data-dir",
        str(tmp_path / "data"),
        "--base-port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    banner: list[str] = []
    async with asyncio.timeout(30):
        while not banner or "Ctrl-C" not in banner[-1]:
            line = (await proc.stdout.readline()).decode()
            assert line, "the CLI ended before printing its banner"
            banner.append(line)
    text = "".join(banner)
    assert "docs: http://127.0.0.1:" in text
    assert "alamal_runtime.devtoken" in text
    url = next(w for w in text.split() if w.startswith("http://"))
    state = read_state(tmp_path / "data" / "stack.json")
    assert state.runner_pid == proc.pid
    assert state.services["fake"].url == url
    async with httpx.AsyncClient(timeout=2) as client:
        assert (await client.get(url + "/health/ready")).status_code == 200
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), timeout=30)
        assert proc.returncode == 0, stderr.decode()
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/health/ready")
    assert "stack.stopped" in stderr.decode()
    assert not (tmp_path / "data" / "stack.json").exists()
