"""One service replica process: start it with its environment, wait until ready, stop it.

The runner binds the ports (see `ListeningSocket`) and hands them over by descriptor number in
`<PREFIX>HTTP_SOCKET_FDS`: the service's port, shared by its replicas, and the replica's own
instance port, which the readiness probe asks (the shared port might answer from another
replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx

from alamal_stack.processes import (
    LOCALHOST,
    ListeningSocket,
    StackError,
    log_tail,
    stop_process,
)
from alamal_stack.services import ServiceSpec

READY_PATH = "/health/ready"


class ManagedService:
    """A service replica process the stack owns; its output goes to its own log file."""

    def __init__(
        self,
        spec: ServiceSpec,
        *,
        replica: int = 1,
        listener: ListeningSocket,
        env: Mapping[str, str],
        log_path: Path,
        ready_timeout: float,
        stop_grace: float,
    ) -> None:
        self.spec = spec
        self.replica = replica
        self.listener = listener
        self.port = listener.port
        self.env = dict(env)
        self.log_path = log_path
        self.ready_timeout = ready_timeout
        self.stop_grace = stop_grace
        self.starts = 0
        # True while the process is down on purpose (stopped or killed), so nobody restarts it.
        self.expected_down = True
        self._proc: subprocess.Popen[bytes] | None = None
        self._instance: ListeningSocket | None = None

    @property
    def name(self) -> str:
        """The service's name (shared by its replicas)."""
        return self.spec.name

    @property
    def instance(self) -> str:
        """This replica's name: the service's name, with `-<n>` from the second replica on."""
        return self.name if self.replica == 1 else f"{self.name}-{self.replica}"

    @property
    def url(self) -> str:
        """Base URL of the service's HTTP API (shared by its replicas)."""
        return f"http://{LOCALHOST}:{self.port}"

    @property
    def instance_url(self) -> str:
        """Base URL of this replica alone (its readiness, its own outbox backlog)."""
        if self._instance is None:
            raise StackError(f"{self.instance} has not been started")
        return f"http://{LOCALHOST}:{self._instance.port}"

    @property
    def pid(self) -> int | None:
        """Process id of the current process, if one was started."""
        return None if self._proc is None else self._proc.pid

    def exit_code(self) -> int | None:
        """The exit code once the process has ended; None while it runs or before a start."""
        return None if self._proc is None else self._proc.poll()

    async def start(self) -> float:
        """Spawn the process and wait until it is ready; return the seconds that took."""
        started = time.perf_counter()
        await self._terminate()  # reap whatever is left of a killed predecessor
        if self._instance is None or self._instance.closed:
            self._instance = ListeningSocket(0, self.instance)
        self._spawn(self._instance)
        # Let the other services of a parallel start spawn before this one builds its probe
        # client (that takes a while on a loaded machine and would stagger their start).
        await asyncio.sleep(0)
        try:
            await self._wait_ready()
        except BaseException:
            await self._terminate()
            raise
        return time.perf_counter() - started

    def _spawn(self, instance: ListeningSocket) -> None:
        self.starts += 1
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        fds = (self.listener.fileno(), instance.fileno())
        env = self.env | {f"{self.spec.env_prefix}HTTP_SOCKET_FDS": ",".join(map(str, fds))}
        with self.log_path.open("ab") as log:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"---- alamal_stack: start #{self.starts} at {stamp} ----\n".encode())
            log.flush()
            # Own process group: a terminal Ctrl-C reaches only the runner, which stops us.
            self._proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.spec.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                process_group=0,
                pass_fds=fds,
            )
        self.expected_down = False

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        # A plain-HTTP probe of 127.0.0.1: no CA bundle to load, no proxy from the environment.
        async with httpx.AsyncClient(timeout=1.0, verify=False, trust_env=False) as client:  # noqa: S501
            while True:
                if (code := self.exit_code()) is not None:
                    raise StackError(self._failure(f"exited with code {code} before it was ready"))
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(self.instance_url + READY_PATH)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise StackError(self._failure(f"not ready within {self.ready_timeout:.0f}s"))
                await asyncio.sleep(0.1)

    def _failure(self, what: str) -> str:
        tail = log_tail(self.log_path)
        return f"service {self.instance} {what}; last lines of {self.log_path}:\n{tail}"

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process and leave it down until the next start."""
        self.expected_down = True
        self.signal(sig)

    def signal(self, sig: int) -> None:
        """Send `sig` to the process (SIGSTOP/SIGCONT in fault tests); nothing else changes."""
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(sig)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after the grace period; leaves the replica down."""
        self.expected_down = True
        await self._terminate()

    def close(self) -> None:
        """Let go of the replica's own port (once it is stopped for good)."""
        if self._instance is not None:
            self._instance.close()

    async def _terminate(self) -> None:
        if self._proc is not None:
            # A paused process (SIGSTOP) cannot handle SIGTERM: let it run again to drain.
            self.signal(signal.SIGCONT)
            await asyncio.to_thread(stop_process, self._proc, self.stop_grace)
