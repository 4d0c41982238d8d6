"""Composition of one service process: store, broker, outbox relay, consumers, HTTP app."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.topics import dead_letter_topic
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.auth import TokenVerifier
from alamal_runtime.dead_letters import (
    DEAD_LETTER_LOG,
    LetterState,
    NotingDeadLetterSink,
    prepare_dead_letters,
)
from alamal_runtime.dead_letters_api import KafkaRepublisher, dead_letters_router
from alamal_runtime.erasure import skip_erased
from alamal_runtime.http import (
    BodySizeLimit,
    CatchUnexpected,
    RequestLog,
    health_router,
    install_error_handlers,
    ops_router,
)
from alamal_runtime.lease import Lease, instance_id, lead
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.consumer import EventProcessor, Handler
from alamal_runtime.messaging.dead_letter import KafkaDeadLetterSink
from alamal_runtime.messaging.fence import fence, producer_of
from alamal_runtime.messaging.incarnation import (
    BrokerIncarnation,
    ClusterIdReader,
    OutboxRetention,
)
from alamal_runtime.messaging.relay import OutboxRelay
from alamal_runtime.messaging.rewind import IncarnationRewind, watch_incarnation
from alamal_runtime.messaging.subscribe import subscribe_all
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.metrics import CountingDeadLetterSink, MetricsSampler, consumer_lag
from alamal_runtime.openapi import check_strict_numbers, document_errors
from alamal_runtime.readiness import StoreReadiness
from alamal_runtime.retention import AgeRule, Category, Policy, RetentionSchedule, Rule
from alamal_runtime.retention.api import retention_router
from alamal_runtime.retention.schedule import prepare_retention
from alamal_runtime.sealing import SealedStore, SealSchema, keyring_from_settings
from alamal_runtime.sealing.keys import keyring_source
from alamal_runtime.sealing.ledger import ledger_for
from alamal_runtime.sealing.ops_api import keys_router
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.store import OutboxMessage, Store, UnitOfWork, create_store
from alamal_runtime.telemetry import Telemetry, setup_telemetry

log = structlog.get_logger(__name__)

RELAY_EPOCH_HEADER = "alamal-relay-epoch"
"""On every published record: the relay lease epoch it went out under (a stale relay is fenced)."""


class _BrokerCheck:
    def __init__(self, runtime: ServiceRuntime) -> None:
        self._runtime = runtime

    async def ping(self) -> None:
        if not await self._runtime.broker.ping(timeout=2.0):
            raise ConnectionError("kafka broker not reachable")


def route_vocabulary(routers: Iterable[APIRouter]) -> tuple[list[str], list[str]]:
    """The routers' route templates and the names of the query parameters their routes declare."""
    templates: list[str] = []
    params: list[str] = []
    for router in routers:
        for route in router.routes:
            if isinstance(path := getattr(route, "path", None), str):
                templates.append(path)
            if isinstance(route, APIRoute):
                params += _query_names(route.dependant)
    return templates, params


def _query_names(dependant: Dependant) -> list[str]:
    names = [param.alias for param in dependant.query_params]
    for sub in dependant.dependencies:
        names += _query_names(sub)
    return names


def _runtime_rules(service: str) -> list[Rule]:
    """The retention rules every service has: its access audit and its closed dead letters."""
    return [
        AgeRule(
            name=f"{service}.audit-records",
            category=Category.AUDIT_RECORDS,
            collection=ACCESS_AUDIT,
            field="at",
        ),
        AgeRule(
            name=f"{service}.dead-letters",
            category=Category.DEAD_LETTERS,
            collection=DEAD_LETTER_LOG,
            field="at",
            only=lambda letter: letter.get("state", LetterState.OPEN) != LetterState.OPEN,
        ),
    ]


class ServiceRuntime:
    """Everything one service instance runs, built in one place (no clients at import time)."""

    def __init__(
        self,
        settings: ServiceSettings,
        *,
        service: str,
        publishes: Iterable[str] = (),
        telemetry: Telemetry | None = None,
        metrics_interval_seconds: float = 15.0,
        sealed: SealSchema | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        # Unsealed only when a benchmark asks for it (refused in prod by the settings).
        self.sealed = None if settings.bench_unsealed else sealed
        # A service that seals personal data refuses to be built without its KEK (KeyringError).
        self.store = self._build_store()
        self.telemetry = telemetry or setup_telemetry(service)
        self.broker = create_broker(
            settings.kafka_bootstrap, client_id=f"alamal-{service}", telemetry=self.telemetry
        )
        # The relay's own producer, fenced by the relay lease (`messaging.fence`); dead letters
        # go out on the other one, whether or not this replica relays.
        self.relay_broker = create_broker(
            settings.kafka_bootstrap, client_id=f"alamal-{service}-relay", telemetry=self.telemetry
        )
        self.dead_letter_topic = dead_letter_topic(service)
        self.dead_letters = CountingDeadLetterSink(
            NotingDeadLetterSink(
                KafkaDeadLetterSink(self.broker, self.dead_letter_topic), self.store
            ),
            self.telemetry.meter_provider,
        )
        self.consumer_group = settings.kafka_consumer_group or f"alamal-{service}"
        self.metrics = MetricsSampler(
            service=service,
            store=self.store,
            bootstrap=settings.kafka_bootstrap,
            group=self.consumer_group,
            meter_provider=self.telemetry.meter_provider,
            interval_seconds=metrics_interval_seconds,
        )
        self.cluster_id = ClusterIdReader(settings.kafka_bootstrap)
        # The consumer's own view of the broker incarnation (every replica consumes; one relays).
        self.consumer_rewind = IncarnationRewind()
        self._watch_reader = ClusterIdReader(settings.kafka_bootstrap)
        self.incarnation = BrokerIncarnation(self.store, self.cluster_id)
        self.retention = OutboxRetention(
            self.store,
            retention_seconds=settings.outbox_retention_seconds,
            every_seconds=settings.outbox_trim_interval_seconds,
        )
        self.instance = instance_id()
        self.relay_lease = Lease(
            self.store,
            "outbox-relay",
            holder=self.instance,
            ttl_seconds=settings.relay_lease_seconds,
        )
        self.relay = OutboxRelay(
            self.store,
            self._publish,
            poll_seconds=settings.outbox_poll_seconds,
            tracer=self.telemetry.tracer_provider.get_tracer("alamal.outbox"),
            before_batch=self.incarnation.check,
        )
        self.topics: set[str] = {*publishes, self.dead_letter_topic}
        self.token_verifier = TokenVerifier(
            settings.token_public_key_pem(), audience=service, issuer=settings.token_issuer
        )
        self.retention_schedule = RetentionSchedule(
            self.store,
            policy=Policy.of(
                day_seconds=settings.retention_day_seconds,
                overrides=settings.retention_keep_days,
            ),
            interval_seconds=settings.retention_interval_seconds,
            service=service,
        )
        for rule in _runtime_rules(service):
            self.retention_schedule.add(rule)
        self._relay_task: asyncio.Task[None] | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._schedule_task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._start_hooks: list[Callable[[Store], Awaitable[None]]] = [
            prepare_dead_letters,
            prepare_retention,
        ]
        self._processors: dict[str, EventProcessor] = {}
        self._subscribed = False
        self._last_handled = 0.0
        self.readiness = StoreReadiness(
            self.store,
            min_free_bytes=settings.store_min_free_bytes,
            timeout_seconds=settings.readiness_timeout_seconds,
        )

    def _build_store(self) -> Store:
        url = self.settings.store_url.get_secret_value()
        store = create_store(url, default_database=f"alamal_{self.service}")
        if self.sealed is None:
            return store
        return SealedStore(
            store,
            keyring=keyring_from_settings(self.settings),
            schema=self.sealed,
            service=self.service,
            keyring_source=keyring_source(self.settings),
            reload_keyring=lambda: keyring_from_settings(self.settings),
            ledger=ledger_for(url, store),
        )

    @property
    def sealing_store(self) -> SealedStore | None:
        """The store as a sealed store, if this service seals personal data."""
        return self.store if isinstance(self.store, SealedStore) else None

    async def preflight(self) -> None:
        """Open and close a store of our own: KeyringError now if the KEK does not fit."""
        if self.sealed is None:
            return
        store = self._build_store()
        await store.open()
        await store.close()

    def on_start(self, hook: Callable[[Store], Awaitable[None]]) -> None:
        """Run `hook(store)` at start-up, after the store is open (e.g. create indexes)."""
        self._start_hooks.append(hook)

    def retain(self, rule: Rule) -> None:
        """Run a retention rule of this service on the schedule and on demand."""
        self.retention_schedule.add(rule)

    def consume(self, topic: str, handler: Handler) -> EventProcessor:
        """Handle every event on `topic` once in effect, in this service's consumer group.

        Events about a family this service has erased are skipped (`erasure.skip_erased`).
        """
        skipping = skip_erased(handler)

        async def handled(event: CloudEvent[Any], uow: UnitOfWork) -> None:
            self._last_handled = time.monotonic()  # the drain waits until consumers are idle
            await skipping(event, uow)

        processor = EventProcessor(
            store=self.store,
            consumer=self.service,
            handler=handled,
            dead_letters=self.dead_letters,
            retries=self.settings.handler_retries,
        )
        if topic in self._processors:
            raise ValueError(f"{topic} is consumed already")
        self._processors[topic] = processor
        self.topics.add(topic)
        self.metrics.topics.add(topic)
        return processor

    async def _publish(self, message: OutboxMessage) -> Awaitable[object]:
        """Hand the message to the producer; the returned future is its acknowledgement.

        Only while this replica holds the relay lease (checked right here, by its own clock,
        and again by the relay's producer right before each request leaves, `messaging.fence`):
        a replica paused past its lease publishes nothing once it runs again, not even what its
        producer had buffered before the pause.
        """
        epoch = self.relay_lease.check()
        headers = {name: value.decode("utf-8") for name, value in message.headers}
        return await self.relay_broker.publish(
            message.value,
            topic=message.topic,
            key=message.key.encode("utf-8"),
            headers=headers | {RELAY_EPOCH_HEADER: str(epoch)},
            no_confirm=True,
        )

    async def start(self) -> None:
        """Open the store, create topics, start consuming and relaying."""
        await self.store.open()
        for hook in self._start_hooks:
            await hook(self.store)
        await ensure_topics(
            self.settings.kafka_bootstrap,
            self.topics,
            partitions=self.settings.kafka_topic_partitions,
        )
        if not self._subscribed:
            # One consumer for all topics, registered once all `consume` calls are in.
            subscribe_all(
                self.broker,
                processors=self._processors,
                group_id=self.consumer_group,
                session_timeout_ms=self.settings.kafka_session_timeout_ms,
                fetch_max_wait_ms=self.settings.fetch_max_wait_ms(),
                tracer=self.telemetry.tracer_provider.get_tracer("alamal.consumer"),
                rewind=self.consumer_rewind,
            )
            self._subscribed = True
        with contextlib.suppress(Exception):  # the incarnation the consumer starts on
            await self.consumer_rewind.seen(await self._watch_reader())
        await self.broker.start()
        await self.relay_broker.start()
        fence(producer_of(self.relay_broker), self.relay_lease.check)
        self._watch_task = asyncio.create_task(
            watch_incarnation(
                self._watch_reader,
                self.consumer_rewind,
                every_seconds=self.settings.broker_watch_seconds,
            ),
            name=f"{self.service}-broker-watch",
        )
        # One replica relays at a time: the holder of the relay lease.
        self._relay_task = asyncio.create_task(
            lead(self.relay_lease, self.relay.run), name=f"{self.service}-relay"
        )
        self._metrics_task = asyncio.create_task(self.metrics.run(), name=f"{self.service}-metrics")
        self._retention_task = asyncio.create_task(
            self.retention.run(), name=f"{self.service}-outbox-retention"
        )
        self._schedule_task = asyncio.create_task(
            self.retention_schedule.run_forever(), name=f"{self.service}-retention-rules"
        )
        log.info("service_started", topics=sorted(self.topics))

    async def drain(self) -> bool:
        """Keep relaying and consuming until the outbox is empty, the consumers have no lag and
        have handled nothing for `drain_quiet_seconds`, at most `drain_seconds`; return whether
        it got there. Stopping calls it (HTTP has stopped accepting by then), so what the last
        requests committed is published and what others published last is consumed.

        Whatever it cannot finish is not lost: the outbox keeps it (published again to a new
        broker incarnation) and the broker keeps the rest for the consumers' next start.
        """
        started = time.monotonic()
        deadline = started + self.settings.drain_seconds
        quiet = self.settings.drain_quiet()
        backlog = lag = -1
        while self._relay_task is not None and time.monotonic() < deadline:
            self.relay.wake()
            try:
                backlog = await self.store.outbox_backlog()
                lag = await self._lag()
            except Exception as exc:  # broker or store gone: nothing more will move
                log.warning("drain_check_failed", error=type(exc).__name__)
                return False
            # Quiet since the drain began, not only before it: the last events of another
            # service stopping at the same moment may still be on their way.
            idle = time.monotonic() - max(self._last_handled, started) >= quiet
            if backlog == 0 and lag == 0 and idle:
                log.info("drained", seconds=round(time.monotonic() - started, 2))
                return True
            await asyncio.sleep(0.1)
        if self._relay_task is not None:
            log.warning("drain_incomplete", outbox_backlog=backlog, consumer_lag=lag)
        return False

    async def _lag(self) -> int:
        if not self._processors:
            return 0
        async with asyncio.timeout(5):
            parts = await consumer_lag(
                self.settings.kafka_bootstrap, self.consumer_group, self._processors
            )
        return sum(part.lag for part in parts)

    async def stop(self) -> None:
        """Drain, stop relaying and consuming, then close the store and flush telemetry."""
        if self.settings.drain_seconds > 0:
            await self.drain()
        tasks = (
            self._relay_task,
            self._metrics_task,
            self._retention_task,
            self._schedule_task,
            self._watch_task,
        )
        for task in tasks:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._relay_task = self._metrics_task = self._retention_task = None
        self._schedule_task = self._watch_task = None
        await self.cluster_id.close()
        await self._watch_reader.close()
        await self.relay_broker.stop()
        await self.broker.stop()
        await self.store.close()
        self.telemetry.shutdown()

    @asynccontextmanager
    async def lifespan(self, _: FastAPI) -> AsyncIterator[None]:
        """FastAPI lifespan: run the service while the app serves."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    def create_app(self, *, title: str, routers: Sequence[APIRouter], **fastapi: Any) -> FastAPI:
        """The service's FastAPI app with health, auth, limits, error handling and tracing."""
        app = FastAPI(title=title, lifespan=self.lifespan, **fastapi)
        app.state.runtime = self
        app.state.store = self.store
        app.state.token_verifier = self.token_verifier
        install_error_handlers(app)
        every = [
            health_router({"store": self.readiness, "broker": _BrokerCheck(self)}),
            ops_router(self.service, self.store),
            dead_letters_router(self.store, KafkaRepublisher(self.settings.kafka_bootstrap)),
            retention_router(self.retention_schedule),
            *(
                [keys_router(self.service, self.store)]
                if isinstance(self.store, SealedStore)
                else []
            ),
            *routers,
        ]
        for router in every:
            app.include_router(router)
        # Refuse lax numbers in request bodies at start-up; list every error status per route.
        check_strict_numbers(app)
        document_errors(app)
        app.add_middleware(BodySizeLimit, max_bytes=self.settings.max_body_bytes)
        app.add_middleware(CatchUnexpected)
        app.add_middleware(RequestLog)
        # Paths in spans keep only ids and the words of the service's own routes.
        self.telemetry.redactor.learn(*route_vocabulary(every))
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.telemetry.tracer_provider,
            meter_provider=self.telemetry.meter_provider,
            excluded_urls="/health/.*",
            # The per-message ASGI `receive`/`send` spans say nothing an operator needs.
            exclude_spans=["receive", "send"],
        )
        return app
