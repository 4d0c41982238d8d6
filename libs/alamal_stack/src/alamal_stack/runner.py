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
from typing import Any, Literal, Self

import structlog

from alamal_runtime.stack_state import (
    InstanceState,
    ServiceState,
    StackState,
    StackStateError,
    remove_state,
    state_path,
    write_state,
)
from alamal_stack.keys import TokenKeys, ensure_token_keys
from alamal_stack.mongoeco_process import MongoecoProcess
from alamal_stack.orphans import stop_orphans
from alamal_stack.processes import LOCALHOST, ListeningSocket, StackError, log_tail, rotate_log
from alamal_stack.service_process import ManagedService
from alamal_stack.services import SERVICES, ServiceSpec, mongodb_store_url, service_env
from alamal_stack.tansu import TansuBroker, create_topics
from alamal_stack.topics import platform_topics
from alamal_stack.trace_ui import TraceUI

log = structlog.get_logger(__name__)

BROKER = "tansu"

type StoreBackend = Literal["sqlite", "mongodb"]
STORE_BACKENDS: tuple[StoreBackend, ...] = ("sqlite", "mongodb")


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How often a crashed process is restarted: at most `max_restarts` per `window` seconds."""

    max_restarts: int = 5
    window: float = 120.0
    first_delay: float = 0.5
    max_delay: float = 10.0

    def delay(self, recent_restarts: int) -> float:
        """Back-off before the next restart, doubling with each recent one."""
        return min(self.max_delay, self.first_delay * 2.0**recent_restarts)


@dataclass(frozen=True, slots=True)
class BrokerRecovery:
    """One restart of a dead broker by the supervisor."""

    exit_code: int
    seconds: float
    """From noticing the broker was gone to a new broker with every topic created."""


class EmbeddedStack:
    """The whole platform on 127.0.0.1: `async with EmbeddedStack(data_dir) as stack: ...`.

    `base_port=None` uses each service's default port, `base_port=0` free ports (tests), any
    other value shifts the defaults to start there. `topics=None` takes them from the contracts.
    `replicas` processes run per service, sharing its port (the runner holds it).
    `store="mongodb"` runs every service on the MongoDB backend, each in its own database
    (`<mongodb_database_prefix><service>`): on `mongodb_url` (a replica set) when given, else on
    a mongoeco server of its own (in memory).

    Stopping drains: the services that call others (the gateway) stop first, then the rest at
    once, each letting its requests finish, publishing its outbox and catching up on what it
    consumes (bounded by the service's drain time, inside `stop_grace`), and the broker last.
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
        stop_grace: float = 30.0,
        supervise: bool = False,
        restart_policy: RestartPolicy | None = None,
        replicas: int = 1,
        trace_ui: bool = False,
        store: StoreBackend = "sqlite",
        mongodb_url: str | None = None,
        mongodb_database_prefix: str = "alamal_",
    ) -> None:
        if store not in STORE_BACKENDS:
            raise ValueError(f"unknown store backend {store!r}: {', '.join(STORE_BACKENDS)}")
        if mongodb_url is not None and store != "mongodb":
            raise ValueError("a MongoDB URL needs store='mongodb'")
        self.store = store
        self.mongodb_url = mongodb_url
        self._database_prefix = mongodb_database_prefix
        self.data_dir = data_dir.resolve()
        self.specs = tuple(SERVICES if services is None else services)
        if len({s.name for s in self.specs}) != len(self.specs):
            raise ValueError("service names must be unique")
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self.partitions = partitions
        self.replica_count = replicas
        self.broker = TansuBroker(port=kafka_port, log_dir=self.logs_dir)
        self.startup_seconds: float | None = None
        self.failure: str | None = None
        self.failed = asyncio.Event()
        self.broker_recoveries: list[BrokerRecovery] = []
        self._base_port = base_port
        self._topics = None if topics is None else list(topics)
        self._extra_env = dict(extra_env or {})
        self._ready_timeout = ready_timeout
        self._stop_grace = stop_grace
        self._supervise_enabled = supervise
        self._policy = restart_policy or RestartPolicy()
        self._keys: TokenKeys | None = None
        self._listeners: dict[str, ListeningSocket] = {}
        self._replicas: dict[str, list[ManagedService]] = {}
        self._mongoeco: dict[str, MongoecoProcess] = {}
        self._store_urls: dict[str, str] = {}
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
        """The broker's address, every service's URL and process ids, the dev signing key."""
        services = {}
        for name, replicas in self._replicas.items():
            instances = tuple(
                InstanceState(url=r.instance_url, pid=r.pid) for r in replicas if r.starts
            )
            services[name] = ServiceState(
                url=self.urls[name], pid=replicas[0].pid, instances=instances
            )
        return StackState(
            runner_pid=os.getpid(),
            bootstrap=self.bootstrap,
            broker_pid=self.broker.pid,
            services=services,
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
        """Base URL of every service (shared by its replicas), by name."""
        return {name: f"http://{LOCALHOST}:{sock.port}" for name, sock in self._listeners.items()}

    @property
    def services(self) -> Mapping[str, ManagedService]:
        """The first replica of every service, by name."""
        return {name: replicas[0] for name, replicas in self._replicas.items()}

    def replicas(self, name: str) -> list[ManagedService]:
        """Every replica process of a service."""
        return list(self._replicas[name])

    def _all(self) -> list[ManagedService]:
        return [r for replicas in self._replicas.values() for r in replicas]

    async def start(self) -> None:
        """Start the broker, create the topics, start every service and wait until all ready."""
        started = time.perf_counter()
        self._refuse_a_second_stack()
        try:
            self._keys = await asyncio.to_thread(ensure_token_keys, self.data_dir)
            await self.broker.start_async()
            self._save_state()  # from now on a crashed runner's processes can be found
            if self.trace_ui is not None:
                await self.trace_ui.start()
            await create_topics(self.bootstrap, self._topic_names(), self.partitions)
            await self._start_stores()
            self._listeners = {s.name: ListeningSocket(self._port(s), s.name) for s in self.specs}
            peers = self.urls
            self._replicas = {
                s.name: [self._managed(s, n, peers) for n in range(1, self.replica_count + 1)]
                for s in self.specs
            }
            await self._start_all()
        except BaseException:
            await self._stop_everything(drain=False)
            raise
        self.startup_seconds = time.perf_counter() - started
        self._save_state()
        log.info(
            "stack.ready",
            seconds=round(self.startup_seconds, 2),
            services=len(self.specs),
            replicas=self.replica_count,
        )
        if self._supervise_enabled:
            self._spawn_task(self._supervise())

    def _port(self, spec: ServiceSpec) -> int:
        return 0 if self._base_port == 0 else spec.port(self._base_port)

    def _topic_names(self) -> list[str]:
        return self._topics if self._topics is not None else platform_topics(self.specs)

    def _save_state(self) -> None:
        write_state(self.state_file, self.state())
        self._state_written = True

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
        if self._state_written:
            return
        if running.runner_alive():
            raise StackError(
                f"a stack is already running from {self.data_dir} (runner pid "
                f"{running.runner_pid}): stop it first, or use another --data-dir (if no stack "
                f"runs there, remove {self.state_file})"
            )
        # Its runner died without stopping it (kill -9, a crash): stop what it left running.
        stopped = stop_orphans(running)
        if stopped:
            log.warning("stack.orphans_stopped", pids=stopped, runner_pid=running.runner_pid)
        remove_state(self.state_file)

    async def _start_stores(self) -> None:
        """On MongoDB: each service's database, on the given server or a mongoeco of its own."""
        if self.store != "mongodb":
            return
        if self.mongodb_url is not None:
            self._store_urls = {
                s.name: mongodb_store_url(s, self.mongodb_url, self._database_prefix)
                for s in self.specs
            }
            return
        self._mongoeco = {
            s.name: MongoecoProcess(s.name, log_dir=self.logs_dir) for s in self.specs
        }
        await asyncio.gather(*(server.start() for server in self._mongoeco.values()))
        self._store_urls = {
            s.name: mongodb_store_url(s, self._mongoeco[s.name].uri) for s in self.specs
        }

    @property
    def store_urls(self) -> Mapping[str, str]:
        """Each service's store URL when it is not its SQLite file (MongoDB), by name."""
        return self._store_urls

    def _managed(self, spec: ServiceSpec, replica: int, peers: Mapping[str, str]) -> ManagedService:
        (self.data_dir / spec.name).mkdir(parents=True, exist_ok=True)
        suffix = "" if replica == 1 else f"-{replica}"
        log_path = self.logs_dir / f"{spec.name}{suffix}.log"
        rotate_log(log_path)
        listener = self._listeners[spec.name]
        env = service_env(
            spec,
            port=listener.port,
            data_dir=self.data_dir,
            bootstrap=self.bootstrap,
            verify_key=self.keys.verify,
            partitions=self.partitions,
            environ=os.environ,
            signing_key=self.keys.signing,
            peers=peers,
            runner_pid=os.getpid(),
            store=self._store_urls.get(spec.name),
        )
        return ManagedService(
            spec,
            replica=replica,
            listener=listener,
            env=env | self._trace_env(spec) | self._extra_env,
            log_path=log_path,
            ready_timeout=self._ready_timeout,
            stop_grace=self._stop_grace,
        )

    async def _start_all(self) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                for svc in self._all():
                    group.create_task(self._start_one(svc))
        except* StackError as failures:
            raise StackError("\n".join(str(e) for e in failures.exceptions)) from None

    async def _start_one(self, svc: ManagedService) -> None:
        seconds = await svc.start()
        log.info("service.ready", service=svc.instance, url=svc.url, seconds=round(seconds, 2))

    def _chosen(self, name: str, replica: int | None) -> list[ManagedService]:
        replicas = self._replicas[name]
        return replicas if replica is None else [replicas[replica - 1]]

    def kill(self, name: str, sig: int = signal.SIGKILL, *, replica: int | None = None) -> None:
        """Send `sig` (default SIGKILL) to a service's replicas (all, or the `replica`-th);
        they stay down until `restart(name)`. Once every replica is down on purpose the
        service's port is let go, so callers are refused rather than kept waiting."""
        for svc in self._chosen(name, replica):
            svc.kill(sig)
        if all(r.expected_down for r in self._replicas[name]):
            self._listeners[name].close()

    async def restart(self, name: str, *, replica: int | None = None) -> None:
        """Start a service's replicas again (stopping what is left of them) and wait until
        they are ready."""
        if self._listeners[name].closed:
            port = self._listeners[name].port
            self._listeners[name] = await _bind_again(port, name)
            for svc in self._replicas[name]:
                svc.listener = self._listeners[name]
        for svc in self._chosen(name, replica):
            await svc.stop()
            await self._start_one(svc)
        self._save_state()

    async def stop(self) -> None:
        """Drain and stop the services (ingress first), then the broker; idempotent."""
        await self._stop_everything(drain=True)

    async def _stop_everything(self, *, drain: bool) -> None:
        if self._state_written:
            remove_state(self.state_file)
            self._state_written = False
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        started = time.perf_counter()
        front = [r for r in self._all() if r.spec.calls_services]
        back = [r for r in self._all() if not r.spec.calls_services]
        # The gateway first: it stops taking staff requests before the services behind it
        # drain, so nothing it still forwards meets a service that has stopped listening.
        for group in (front, back) if drain else (front + back,):
            await asyncio.gather(*(svc.stop() for svc in group))
        for svc in self._all():
            svc.close()
        for listener in self._listeners.values():
            listener.close()
        await asyncio.gather(*(server.stop() for server in self._mongoeco.values()))
        if self.trace_ui is not None:
            await self.trace_ui.stop()
        await self.broker.stop_async()
        if self._replicas:
            log.info("stack.drained", seconds=round(time.perf_counter() - started, 2))

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
            if (code := self.broker.exit_code()) is not None:
                await self._recover_broker(code)
                continue
            for svc in self._all():
                if not svc.expected_down and (code := svc.exit_code()) is not None:
                    await self._recover(svc, code)

    def _allowed_restart(self, name: str) -> float | None:
        """The back-off before restarting `name` again, or None when it keeps crashing."""
        now = time.monotonic()
        recent = [t for t in self._restarts.get(name, []) if now - t < self._policy.window]
        self._restarts[name] = recent
        if len(recent) >= self._policy.max_restarts:
            return None
        return self._policy.delay(len(recent))

    def _give_up(self, name: str, code: int, tail: str) -> None:
        count = len(self._restarts.get(name, []))
        self.failure = f"{name} kept crashing ({count} restarts)"
        log.error("service.gave_up", service=name, exit_code=code, details=tail)
        self.failed.set()

    async def _recover_broker(self, code: int) -> None:
        """The broker died: start a new one on the same port and create the topics again.

        The new broker knows nothing of the old one's records, offsets or groups: services see
        its new cluster id, publish their retained outboxes again, and their consumers start
        from the beginning of the new topics (inboxes absorb what was handled before).
        """
        noticed = time.perf_counter()
        tail = log_tail(self.broker.log_path, 15)
        delay = self._allowed_restart(BROKER)
        if delay is None:
            self._give_up(BROKER, code, tail)
            await self.broker.stop_async()  # reaped: not seen as dead again
            return
        log.warning("broker.died", exit_code=code, restart_in=delay, details=tail)
        await asyncio.sleep(delay)
        self._restarts[BROKER].append(time.monotonic())
        try:
            await self.broker.restart_async()
            await create_topics(self.bootstrap, self._topic_names(), self.partitions)
        except StackError as exc:  # the next poll sees it down again and counts another restart
            log.error("broker.restart_failed", details=str(exc))
            return
        recovery = BrokerRecovery(exit_code=code, seconds=time.perf_counter() - noticed)
        self.broker_recoveries.append(recovery)
        log.warning(
            "broker.restarted",
            cluster_id=self.broker.cluster_id,
            seconds=round(recovery.seconds, 2),
        )
        self._save_state()

    async def _recover(self, svc: ManagedService, code: int) -> None:
        tail = log_tail(svc.log_path, 15)
        delay = self._allowed_restart(svc.instance)
        if delay is None:
            svc.expected_down = True
            self._give_up(svc.instance, code, tail)
            return
        log.warning(
            "service.died", service=svc.instance, exit_code=code, restart_in=delay, details=tail
        )
        await asyncio.sleep(delay)
        self._restarts[svc.instance].append(time.monotonic())
        try:
            await self._start_one(svc)
        except StackError as exc:  # the next poll sees it down again and counts another restart
            log.error("service.restart_failed", service=svc.instance, details=str(exc))
            return
        self._save_state()


async def _bind_again(port: int, owner: str, *, within: float = 10.0) -> ListeningSocket:
    """Bind a service's port again after it was let go (a process may still be closing it)."""
    deadline = time.monotonic() + within
    while True:
        try:
            return ListeningSocket(port, owner)
        except StackError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
