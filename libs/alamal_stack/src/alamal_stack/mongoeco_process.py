"""A mongoeco wire server as a child process: one per service when the stack runs on MongoDB
without a MongoDB URL (`./alamal run --store mongodb`).

mongoeco keeps its data in memory: it is lost when the stack stops (a service restarted by the
runner keeps it, the server lives on). mongoeco suits small data only (DESIGN.md decision 2).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import structlog
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from alamal_stack.processes import LOCALHOST, StackError, free_port, log_tail, stop_process

log = structlog.get_logger(__name__)


class MongoecoProcess:
    """`python -m alamal_stack.mongoeco_server` on a free port of 127.0.0.1."""

    def __init__(
        self, name: str, *, log_dir: Path, start_timeout: float = 90.0, stop_grace: float = 5.0
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"mongoeco-{name}.log"
        self._start_timeout = start_timeout
        self._stop_grace = stop_grace
        self._port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        """The server's MongoDB URL, without a database."""
        if self._port is None:
            raise StackError(f"the mongoeco server of {self.name} has not been started")
        return f"mongodb://{LOCALHOST}:{self._port}/?directConnection=true"

    async def start(self) -> None:
        """Spawn the server and wait until it answers `hello`."""
        started = time.perf_counter()
        self._port = free_port()
        self._proc = self._spawn(self._port)
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info("mongoeco.ready", store=self.name, seconds=round(time.perf_counter() - started, 2))

    def _spawn(self, port: int) -> subprocess.Popen[bytes]:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = output = self.log_path.open("ab")
        argv = [sys.executable, "-m", "alamal_stack.mongoeco_server", "--port", str(port)]
        # Own process group: a terminal Ctrl-C reaches only the runner, which stops us in order.
        return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output, process_group=0
        )

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._start_timeout
        while True:
            proc = self._proc
            if proc is None or (code := proc.poll()) is not None:
                raise StackError(
                    f"the mongoeco server of {self.name} exited at start-up (code"
                    f" {None if proc is None else code}):\n{log_tail(self.log_path)}"
                )
            if await _answers(self.uri):
                return
            if time.monotonic() > deadline:
                raise StackError(
                    f"the mongoeco server of {self.name} did not answer within"
                    f" {self._start_timeout:.0f}s:\n{log_tail(self.log_path)}"
                )
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        """SIGTERM the server (SIGKILL after the grace period); idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            await asyncio.to_thread(stop_process, proc, self._stop_grace)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


async def _answers(uri: str) -> bool:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, serverSelectionTimeoutMS=300, connectTimeoutMS=300
    )
    try:
        await client.admin.command("hello")
    except PyMongoError:
        return False
    finally:
        await client.close()
    return True
