"""Recording an attempt's outcome: the attempt log, the message's next step, the endpoint's health.

Outcomes that arrive while a unit of work is being written are written together in the next one
(group commit: one fsync for many deliveries). A caller returns only once its outcome is
committed, so a crash leaves either the old state (the attempt is made again) or the new one
(never sent again once marked delivered).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import structlog

from alamal_contracts.codes import EndpointDisabledReason
from alamal_contracts.events import EndpointDisabled
from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.domain.delivery import retry_delay
from alamal_notifications.messages import Attempt, Message, State
from alamal_notifications.operational import SOURCE
from alamal_notifications.sender import Outcome
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.events import emit
from alamal_runtime.store import Store, UnitOfWork

log = structlog.get_logger(__name__)
FAIL_BATCH = 1000


@dataclass(frozen=True, slots=True)
class _Item:
    message_id: str
    outcome: Outcome
    trigger: str
    at: float


class Recorder:
    """Applies attempt outcomes to the store."""

    def __init__(self, store: Store, settings: NotificationsSettings, rng: random.Random) -> None:
        self._store = store
        self._settings = settings
        self._rng = rng
        self._queue: list[tuple[_Item, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(self, message_id: str, outcome: Outcome, *, trigger: str, at: float) -> None:
        """Log the attempt and move the message (and maybe the endpoint) on; wait for the commit."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((_Item(message_id, outcome, trigger, at), done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name="webhook-recorder")
        await asyncio.shield(done)

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                async with self._store.transaction() as uow:
                    for item, _ in batch:
                        await self._apply(uow, item)
            except Exception:
                # One bad outcome (e.g. a message changed by a resend meanwhile) must not lose
                # the others: write them one by one.
                for item, done in batch:
                    await self._one(item, done)
            else:
                for _, done in batch:
                    if not done.done():
                        done.set_result(None)

    async def _one(self, item: _Item, done: asyncio.Future[None]) -> None:
        try:
            async with self._store.transaction() as uow:
                await self._apply(uow, item)
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(None)

    async def _apply(self, uow: UnitOfWork, item: _Item) -> None:
        message_id, outcome, trigger, at = item.message_id, item.outcome, item.trigger, item.at
        found = await messages.get_message(uow, message_id)
        if found is None:
            return
        message, version = found
        await messages.add_attempt(uow, _attempt(message, outcome, trigger=trigger, at=at))
        endpoint = await repo.get_endpoint(uow, message.endpoint_id)
        if endpoint is None:
            return
        counted = replace(
            message,
            attempts=message.attempts + 1,
            round_attempts=message.round_attempts + 1,
            last_status=outcome.status_code,
            last_error=outcome.error,
            last_attempt_at=at,
        )
        if outcome.ok:
            await messages.replace_message(
                uow, replace(counted, state=State.DELIVERED), version=version
            )
            if endpoint.failing_since is not None:
                await repo.put_endpoint(uow, replace(endpoint, failing_since=None))
            return
        failing_since = endpoint.failing_since if endpoint.failing_since is not None else at
        reason = None
        if outcome.status_code == 410:
            reason = EndpointDisabledReason.GONE
        elif at - failing_since >= self._settings.disable_after_failing_seconds:
            reason = EndpointDisabledReason.FAILING
        delay = retry_delay(
            counted.round_attempts,
            self._settings.retry_schedule_seconds,
            jitter=self._settings.retry_jitter,
            rng=self._rng,
            retry_after=outcome.retry_after,
            retry_after_cap=self._settings.retry_after_cap_seconds,
        )
        if delay is None or reason is not None or not endpoint.enabled:
            after = replace(counted, state=State.FAILED)
        else:
            after = replace(counted, next_attempt_at=at + delay)
        await messages.replace_message(uow, after, version=version)
        if reason is not None and endpoint.enabled:
            await self._disable(uow, endpoint, reason, skip=message.id)
        elif endpoint.failing_since is None:
            await repo.put_endpoint(uow, replace(endpoint, failing_since=failing_since))

    async def _disable(
        self,
        uow: UnitOfWork,
        endpoint: repo.Endpoint,
        reason: EndpointDisabledReason,
        *,
        skip: str,
    ) -> None:
        await repo.put_endpoint(uow, replace(endpoint, enabled=False, disabled_reason=reason.value))
        # Inside the unit of work no other writer can commit, so this committed read is complete.
        pending = await messages.due_for(self._store, endpoint.id, limit=FAIL_BATCH)
        for stale in pending:
            if stale.id == skip:
                continue
            found = await messages.get_message(uow, stale.id)
            if found is not None and found[0].state is State.PENDING:
                await messages.replace_message(
                    uow, replace(found[0], state=State.FAILED), version=found[1]
                )
        emit(
            uow,
            EndpointDisabled(
                endpoint_id=endpoint.id,
                partner_id=endpoint.partner_id,
                reason=reason,
                disabled_at=datetime.now(UTC),
            ),
            source=SOURCE,
        )
        log.warning("endpoint_disabled", endpoint_id=endpoint.id, reason=reason.value)


def _attempt(message: Message, outcome: Outcome, *, trigger: str, at: float) -> Attempt:
    return Attempt(
        id=str(uuid.uuid4()),
        endpoint_id=message.endpoint_id,
        message_id=message.id,
        at=at,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
        response_excerpt=outcome.excerpt,
        trigger=trigger,
    )
