"""The delivery loop: picks due messages from the store and sends them, fairly and boundedly.

Each endpoint has at most `per_endpoint_concurrency` requests in flight and the service at
most `max_concurrent_deliveries`, and every request has a hard timeout, so a slow or hanging
endpoint only ever holds its own slots: a healthy endpoint's messages never queue behind it.
With several replicas, each delivers only to the endpoints of the delivery slots whose lease it
holds (`delivery_slots`), so no message is handed to two replicas at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from opentelemetry import propagate, trace

from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.delivery_slots import DeliverySlots
from alamal_notifications.messages import Message
from alamal_notifications.metrics import DeliveryMetrics
from alamal_notifications.recording import Recorder
from alamal_notifications.secretbox import SecretBox
from alamal_notifications.sender import Sender
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)
FAST_POLL_SECONDS = 0.01
FAST_POLL_WINDOW = 0.5
MAX_ENDPOINTS = 10_000


class Dispatcher:
    """Runs deliveries in the background while the service runs."""

    def __init__(
        self,
        *,
        store: Store,
        sender: Sender,
        box: SecretBox,
        recorder: Recorder,
        metrics: DeliveryMetrics,
        settings: NotificationsSettings,
        tracer: trace.Tracer,
        slots: DeliverySlots,
    ) -> None:
        self._tracer = tracer
        self._slots = slots
        self._store = store
        self._sender = sender
        self._box = box
        self._recorder = recorder
        self._metrics = metrics
        self._settings = settings
        self._wake = asyncio.Event()
        self._fast_until = 0.0
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._per_endpoint: dict[str, int] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._rotation = 0

    def wake(self) -> None:
        """New or restarted messages may be due: look soon (and keep looking briefly, since the
        caller's unit of work may not have committed yet)."""
        self._fast_until = time.monotonic() + FAST_POLL_WINDOW
        self._wake.set()

    async def start(self) -> None:
        """Start the loop; pending messages from before a restart are picked up from the store."""
        self._loop_task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Stop picking new work, let requests in flight finish (bounded), then cancel."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
            self._loop_task = None
        tasks = list(self._in_flight.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._settings.delivery_timeout_seconds + 2)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._slots.release()  # the other replicas take this one's endpoints at once

    async def _run(self) -> None:
        while True:
            try:
                pause = await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("dispatch_failed", error=type(exc).__name__)
                pause = self._settings.dispatch_poll_seconds
            if time.monotonic() < self._fast_until:
                pause = min(pause, FAST_POLL_SECONDS)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(pause, 0.0)):
                    await self._wake.wait()

    async def _tick(self) -> float:
        """Start every due message there is a slot for; return how long to sleep."""
        await self._slots.refresh()
        now = time.time()
        pause = min(self._settings.dispatch_poll_seconds, self._slots.next_round_in())
        records = await self._store.find(repo.ENDPOINTS, {"enabled": True}, limit=MAX_ENDPOINTS)
        endpoints = [repo.endpoint_from(r) for r in records]
        if not endpoints:
            return pause
        # Rotate the starting endpoint so no endpoint always gets the free global slots first.
        self._rotation = (self._rotation + 1) % len(endpoints)
        for endpoint in endpoints[self._rotation :] + endpoints[: self._rotation]:
            if not self._slots.may_deliver(endpoint.id):
                continue  # another replica's, or this one's lease is being renewed
            busy = self._per_endpoint.get(endpoint.id, 0)
            free = self._settings.per_endpoint_concurrency - busy
            if free <= 0:
                continue
            due = await messages.due_for(self._store, endpoint.id, limit=busy + free)
            for message in due:
                if message.id in self._in_flight:
                    continue
                if message.next_attempt_at > now:
                    pause = min(pause, message.next_attempt_at - now)
                    break
                if free <= 0 or len(self._in_flight) >= self._settings.max_concurrent_deliveries:
                    break
                self._launch(endpoint, message)
                free -= 1
        return pause

    def _launch(self, endpoint: repo.Endpoint, message: Message) -> None:
        self._per_endpoint[endpoint.id] = self._per_endpoint.get(endpoint.id, 0) + 1
        task = asyncio.create_task(self._deliver(endpoint, message), name=f"deliver-{message.id}")
        self._in_flight[message.id] = task

        def done(_: asyncio.Task[None]) -> None:
            self._in_flight.pop(message.id, None)
            left = self._per_endpoint.get(endpoint.id, 1) - 1
            if left > 0:
                self._per_endpoint[endpoint.id] = left
            else:
                self._per_endpoint.pop(endpoint.id, None)
            self._wake.set()

        task.add_done_callback(done)

    async def _deliver(self, endpoint: repo.Endpoint, message: Message) -> None:
        try:
            if not self._slots.may_deliver(endpoint.id):
                return  # the lease ran out meanwhile (e.g. this process was paused): not ours
            started = time.time()
            secrets = [self._box.open(s.sealed) for s in endpoint.active_secrets(started)]
            with self._tracer.start_as_current_span(
                "webhook deliver",
                context=propagate.extract(dict(message.trace_carrier)),
                kind=trace.SpanKind.CLIENT,
                attributes={
                    "webhook.message.id": message.id,
                    "webhook.endpoint.id": endpoint.id,
                    "webhook.attempt": message.attempts + 1,
                },
            ) as span:
                outcome = await self._sender.send(
                    endpoint.url, msg_id=message.id, body=message.body, secrets=secrets
                )
                if outcome.status_code is not None:
                    span.set_attribute("http.response.status_code", outcome.status_code)
                if not outcome.ok:
                    span.set_attribute("error.type", outcome.error or "unknown")
                    span.set_status(trace.StatusCode.ERROR)
            self._metrics.record(endpoint.id, outcome)
            await self._recorder.record(
                message.id, outcome, trigger=message.next_trigger, at=started
            )
            log.info(
                "webhook_attempted",
                message_id=message.id,
                endpoint_id=endpoint.id,
                status=outcome.status_code,
                error=outcome.error,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The message stays pending and due: the next tick tries it again.
            log.error("webhook_attempt_failed", message_id=message.id, error=type(exc).__name__)
            await asyncio.sleep(self._settings.dispatch_poll_seconds)
