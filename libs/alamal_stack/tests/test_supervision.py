"""The runner under faults: a dead broker comes back, replicas share a port, a dead runner's
processes are stopped by the next start, and probes never take a port from a service."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from alamal_runtime.stack_state import read_state
from alamal_stack.orphans import recorded_pids
from alamal_stack.processes import (
    LOCALHOST,
    ListeningSocket,
    StackError,
    connect_without_self_connect,
    free_port,
)
from alamal_stack.runner import EmbeddedStack, RestartPolicy
from alamal_stack.services import ServiceSpec

pytestmark = pytest.mark.integration

TESTS_DIR = Path(__file__).resolve().parent
TOPIC = "test.thing-happened.v1"


def _stack(tmp_path: Path, spec: ServiceSpec, env: dict[str, str], **kw: object) -> EmbeddedStack:
    return EmbeddedStack(
        tmp_path / "data",
        services=[spec],
        base_port=0,
        topics=[TOPIC],
        partitions=2,
        extra_env=env,
        ready_timeout=20,
        stop_grace=3,
        **kw,  # type: ignore[arg-type]
    )


async def _eventually(check: Callable[[], bool], within: float) -> None:
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.05)


async def _pid_at(url: str) -> int:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url + "/info")
    response.raise_for_status()
    pid: int = response.json()["pid"]
    return pid


async def _cluster(bootstrap: str) -> tuple[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        cluster = await admin.describe_cluster()
        [topic] = await admin.describe_topics([TOPIC])
    finally:
        await admin.close()
    return str(cluster["cluster_id"]), len(topic["partitions"])


async def test_supervisor_restarts_a_killed_broker_with_its_topics(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    policy = RestartPolicy(first_delay=0.05)
    async with _stack(tmp_path, fake_spec, fake_env, supervise=True, restart_policy=policy) as st:
        before, _ = await _cluster(st.bootstrap)
        assert before == st.broker.cluster_id
        old_pid = st.broker.pid
        assert old_pid is not None
        os.kill(old_pid, signal.SIGKILL)
        await _eventually(lambda: bool(st.broker_recoveries), within=30)
        after, partitions = await _cluster(st.bootstrap)
        assert after != before, "a new incarnation has a new cluster id"
        assert after == st.broker.cluster_id
        assert partitions == 2, "the topics are created again as they were"
        assert st.broker.pid != old_pid
        assert read_state(st.state_file).broker_pid == st.broker.pid
        [recovery] = st.broker_recoveries
        assert recovery.exit_code == -signal.SIGKILL
        assert 0 < recovery.seconds < 30
        assert not st.failed.is_set()


async def test_replicas_share_the_service_port_and_it_survives_losing_one(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    async with _stack(tmp_path, fake_spec, fake_env, replicas=2) as stack:
        first, second = stack.replicas("fake")
        assert {first.url, second.url} == {stack.urls["fake"]}
        assert await _pid_at(first.instance_url) == first.pid
        assert await _pid_at(second.instance_url) == second.pid
        state = read_state(stack.state_file).services["fake"]
        assert [i.pid for i in state.instances] == [first.pid, second.pid]
        assert second.log_path.name == "fake-2.log"
        stack.kill("fake", replica=1)
        # The other replica takes every request on the shared port at once: none is refused.
        for _ in range(20):
            assert await _pid_at(stack.urls["fake"]) == second.pid
        await stack.restart("fake", replica=1)
        assert await _pid_at(first.instance_url) == first.pid
        stack.kill("fake")
        with pytest.raises(httpx.ConnectError):
            await _pid_at(stack.urls["fake"])


async def test_next_start_stops_what_a_killed_runner_left_running(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(TESTS_DIR))
    data = tmp_path / "data"
    runner = await asyncio.create_subprocess_exec(
        sys.executable,
        str(TESTS_DIR / "stack_cli.py"),
        "run",
        "--data-dir",
        str(data),
        "--base-port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert runner.stdout is not None
    async with asyncio.timeout(30):
        while b"Ctrl-C" not in await runner.stdout.readline():
            pass
    left = recorded_pids(read_state(data / "stack.json"))
    assert len(left) == 2  # the broker and the fake service
    runner.kill()  # the runner dies without stopping anything
    await runner.wait()
    for pid in left:
        os.kill(pid, 0)  # still running
    stack = EmbeddedStack(
        data,
        services=[ServiceSpec("fake", "fake_service", "FAKE_", 8199)],
        base_port=0,
        topics=[TOPIC],
        extra_env={"PYTHONPATH": str(TESTS_DIR)},
        ready_timeout=20,
        stop_grace=3,
    )
    async with stack:
        for pid in left:
            assert not _running(pid), f"process {pid} of the dead runner was left running"


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


async def test_a_probe_never_connects_to_itself_nor_takes_the_port() -> None:
    port = free_port()  # from the ephemeral range, like a --base-port there
    for _ in range(300):
        assert not await connect_without_self_connect(LOCALHOST, port, 0.5)
    listener = ListeningSocket(port, "test")  # the port is still free to bind
    try:
        assert await connect_without_self_connect(LOCALHOST, port, 2.0)
        with pytest.raises(StackError, match="already in use"):
            ListeningSocket(port, "second")
    finally:
        listener.close()
    with socket.socket() as sock:
        sock.bind((LOCALHOST, port))  # let go again


async def test_a_stack_on_ports_in_the_ephemeral_range_starts(
    tmp_path: Path, fake_spec: ServiceSpec, fake_env: dict[str, str]
) -> None:
    port = free_port()
    stack = EmbeddedStack(
        tmp_path / "data",
        services=[fake_spec],
        base_port=port - (fake_spec.default_port - 8100),
        kafka_port=free_port(),
        topics=[TOPIC],
        extra_env=fake_env,
        ready_timeout=20,
        stop_grace=3,
    )
    async with stack:
        assert stack.urls["fake"] == f"http://{LOCALHOST}:{port}"
        assert await _pid_at(stack.urls["fake"]) == stack.services["fake"].pid
