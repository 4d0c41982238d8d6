"""EmbeddedStack: Tansu, the topics, the dev keys and every service process, as one unit."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import structlog

from alamal_runtime.stack_state import (
    ServiceState,
    StackState,
    StackStateError,
    remove_state,
    state_path,
    write_state,
)
from alamal_stack.keys import TokenKeys, ensure_token_keys
from alamal_stack.processes import LOCALHOST, StackError, free_port, log_tail, rotate_log
from alamal_stack.service_process import ManagedService
from alamal_stack.services import SERVICES, ServiceSpec, service_env
from alamal_stack.tansu import TansuBroker, create_topics
from alamal_stack.topics import platform_topics
from alamal_stack.trace_ui import TraceUI

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How often a crashed service is restarted: at most `max_restarts` per `window` seconds."""

    max_restarts: int = 5
    window: float = 120.0
    first_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, recent_restarts: int) -> float:
        """Back-off before the next restart, doubling with each recent one."""
        return min(self.max_delay, self.first_delay * 2.0**recent_restarts)


class EmbeddedStack:
    """The whole platform on 127.0.0.1: `async with EmbeddedStack(data_dir) as stack: ...`.

    `base_port=None` uses each service's default port, `base_port=0` free ports (tests), any
    other value shifts the defaults to start there. `topics=None` takes them from the contracts.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        services: Iterable[ServiceSpec] | None = None,
        kafka_port: int | None = None,
        base_port: int | None = None,
        partitions: int = 3,
        topics: Iterable[str] | None = None,
        extra_env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
        stop_grace: float = 10.0,
        supervise: bool = False,
        restart_policy: RestartPolicy | None = None,
        trace_ui: bool = False,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.specs = tuple(SERVICES if services is None else services)
        if len({s.name for s in self.specs}) != len(self.specs):
            raise ValueError("service names must be unique")
        self.partitions = partitions
        self.broker = TansuBroker(port=kafka_port, log_dir=self.logs_dir)
        self.startup_seconds: float | None = None
        self.failure: str | None = None
        self.failed = asyncio.Event()
        self._base_port = base_port
        self._topics = None if topics is None else list(topics)
        self._extra_env = dict(extra_env or {})
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._supervise_enabled = supervise
        self._policy = restart_policy or RestartPolicy()
        self._keys: TokenKeys | None = None
        self._services: dict[str, ManagedService] = {}
        self._restarts: dict[str, list[float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._state_written = False
        self.trace_ui: TraceUI | None = (
            TraceUI(self.data_dir / "trace-ui", log_dir=self.logs_dir) if trace_ui else None
        )

    @property
    def logs_dir(self) -> Path:
        """Where the broker and every service write their output."""
        return self.data_dir / "logs"

    @property
    def state_file(self) -> Path:
        """Where the running stack tells operators (and `alamal-ops`) where it is."""
        return state_path(self.data_dir)

    def state(self) -> StackState:
        """The broker's address, every service's URL and process id, the dev signing key."""
        return StackState(
            runner_pid=os.getpid(),
            bootstrap=self.bootstrap,
            broker_pid=self.broker.pid,
            services={n: ServiceState(url=s.url, pid=s.pid) for n, s in self._services.items()},
            data_dir=str(self.data_dir),
            signing_key=str(self.keys.signing),
            trace_ui=self.trace_ui.url if self.trace_ui is not None else None,
        )

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap address of the embedded broker."""
        return self.broker.bootstrap

    @property
    def keys(self) -> TokenKeys:
        """The dev token key pair (available once started)."""
        if self._keys is None:
            raise StackError("the stack has not been started")
        return self._keys

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of every service, by name."""
        return {name: svc.url for name, svc in self._services.items()}

    @property
    def services(self) -> Mapping[str, ManagedService]:
        """The managed service processes, by name."""
        return self._services

    async def start(self) -> None:
        """Start the broker, create the topics, start every service and wait until all ready."""
        started = time.perf_counter()
        self._refuse_a_second_stack()
        try:
            self._keys = await asyncio.to_thread(ensure_token_keys, self.data_dir)
            await self.broker.start_async()
            if self.trace_ui is not None:
                await self.trace_ui.start()
            topics = self._topics if self._topics is not None else platform_topics(self.specs)
            await create_topics(self.bootstrap, topics, self.partitions)
            ports = {
                s.name: free_port() if self._base_port == 0 else s.port(self._base_port)
                for s in self.specs
            }
            peers = {name: f"http://{LOCALHOST}:{port}" for name, port in ports.items()}
            self._services = {s.name: self._managed(s, ports[s.name], peers) for s in self.specs}
            await self._start_all()
        except BaseException:
            await self.stop()
            raise
        self.startup_seconds = time.perf_counter() - started
        write_state(self.state_file, self.state())
        self._state_written = True
        log.info("stack.ready", seconds=round(self.startup_seconds, 2), services=len(self.specs))
        if self._supervise_enabled:
            self._spawn_task(self._supervise())

    def _trace_env(self, spec: ServiceSpec) -> dict[str, str]:
        if self.trace_ui is None:
            return {}
        link = self.trace_ui.trace_link("{trace_id}")
        return self.trace_ui.service_env() | {f"{spec.env_prefix}TRACE_LINK": link}

    def _refuse_a_second_stack(self) -> None:
        try:
            running = StackState.from_json(self.state_file.read_text(encoding="utf-8"))
        except (OSError, StackStateError):
            return  # none, or unreadable: nothing can be running from it
        if not self._state_written and running.runner_alive():
            raise StackError(
                f"a stack is already running from {self.data_dir} (runner pid "
                f"{running.runner_pid}): stop it first, or use another --data-dir (if no stack "
                f"runs there, remove {self.state_file})"
            )

    def _managed(self, spec: ServiceSpec, port: int, peers: Mapping[str, str]) -> ManagedService:
        (self.data_dir / spec.name).mkdir(parents=True, exist_ok=True)
        log_path = self.logs_dir / f"{spec.name}.log"
        rotate_log(log_path)
        env = service_env(
            spec,
            port=port,
            data_dir=self.data_dir,
            bootstrap=self.bootstrap,
            verify_key=self.keys.verify,
            partitions=self.partitions,
            environ=os.environ,
            signing_key=self.keys.signing,
            peers=peers,
        )
        return ManagedService(
            spec,
            port=port,
            env=env | self._trace_env(spec) | self._extra_env,
            log_path=log_path,
            ready_timeout=self._ready_timeout,
            stop_grace=self._stop_grace,
        )

    async def _start_all(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for svc in self._services.values():
                    group.create_task(self._start_one(svc))
        except* StackError as failures:
            raise StackError("\n".join(str(e) for e in failures.exceptions)) from None

    async def _start_one(self, svc: ManagedService) -> None:
        seconds = await svc.start()
        log.info("service.ready", service=svc.name, url=svc.url, seconds=round(seconds, 2))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL) to a service; it stays down until `restart(name)`."""
        self._services[name].kill(sig)

    async def restart(self, name: str) -> None:
        """Start a service again (stopping what is left of it) and wait until it is ready."""
        svc = self._services[name]
        await svc.stop()
        await self._start_one(svc)
        write_state(self.state_file, self.state())

    async def stop(self) -> None:
        """Stop the services (SIGTERM, grace, SIGKILL), then the broker; idempotent."""
        if self._state_written:
            remove_state(self.state_file)
            self._state_written = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(svc.stop() for svc in self._services.values()))
        if self.trace_ui is not None:
            await self.trace_ui.stop()
        await self.broker.stop_async()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def _spawn_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _supervise(self) -> None:
        # Crashes are handled one at a time: simple, and a crash loop is bounded by the policy.
        while True:
            await asyncio.sleep(0.25)
            for svc in self._services.values():
                if not svc.expected_down and (code := svc.exit_code()) is not None:
                    await self._recover(svc, code)

    async def _recover(self, svc: ManagedService, code: int) -> None:
        now = time.monotonic()
        recent = [t for t in self._restarts.get(svc.name, []) if now - t < self._policy.window]
        tail = log_tail(svc.log_path, 15)
        if len(recent) >= self._policy.max_restarts:
            self.failure = f"service {svc.name} kept crashing ({len(recent)} restarts)"
            log.error("service.gave_up", service=svc.name, exit_code=code, details=tail)
            svc.expected_down = True
            self.failed.set()
            return
        delay = self._policy.delay(len(recent))
        log.warning(
            "service.died", service=svc.name, exit_code=code, restart_in=delay, details=tail
        )
        await asyncio.sleep(delay)
        self._restarts[svc.name] = [*recent, time.monotonic()]
        try:
            await self._start_one(svc)
        except StackError as exc:  # the next poll sees it down again and counts another restart
            log.error("service.restart_failed", service=svc.name, details=str(exc))
            return
        write_state(self.state_file, self.state())
