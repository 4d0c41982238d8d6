"""Admin and operator API: an endpoint's delivery log and messages, resend and recover."""

from __future__ import annotations

import time
import uuid
from typing import Annotated

import structlog
from fastapi import APIRouter, Query

from alamal_notifications import messages
from alamal_notifications import store as repo
from alamal_notifications.deps import AdminDep, ReaderDep, ServicesDep
from alamal_notifications.messages import State
from alamal_notifications.schemas import AttemptOut, MessageOut, RecoverIn, RecoverOut
from alamal_runtime.http import HTTPProblem
from alamal_runtime.store import Store

router = APIRouter(prefix="/endpoints/{endpoint_id}", tags=["deliveries"])
log = structlog.get_logger(__name__)
ENDPOINT_NOT_FOUND = "endpoint not found"
RECOVER_LIMIT = 5000
Limit = Annotated[int, Query(ge=1, le=500)]


async def _endpoint(store: Store, endpoint_id: uuid.UUID) -> repo.Endpoint:
    record = await store.get(repo.ENDPOINTS, str(endpoint_id))
    if record is None:
        raise HTTPProblem(404, ENDPOINT_NOT_FOUND)
    return repo.endpoint_from(record)


@router.get("/attempts", response_model=list[AttemptOut])
async def delivery_log(
    endpoint_id: uuid.UUID,
    _: ReaderDep,
    services: ServicesDep,
    message_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 100,
) -> list[AttemptOut]:
    """Every attempt (newest first): time, status code, latency, error and response excerpt."""
    await _endpoint(services.store, endpoint_id)
    attempts = await messages.attempts_of(
        services.store, endpoint_id=str(endpoint_id), message_id=message_id, limit=limit
    )
    return [AttemptOut.of(a) for a in attempts if a.endpoint_id == str(endpoint_id)]


@router.get("/messages", response_model=list[MessageOut])
async def endpoint_messages(
    endpoint_id: uuid.UUID,
    _: ReaderDep,
    services: ServicesDep,
    state: State | None = None,
    limit: Limit = 100,
) -> list[MessageOut]:
    """The endpoint's messages, newest first; `state` picks pending, delivered or failed."""
    await _endpoint(services.store, endpoint_id)
    found = await messages.in_state(services.store, str(endpoint_id), state, limit=limit)
    return [MessageOut.of(m) for m in found]


@router.post("/messages/{message_id}/resend", status_code=202, response_model=MessageOut)
async def resend(
    endpoint_id: uuid.UUID, message_id: str, _: AdminDep, services: ServicesDep
) -> MessageOut:
    """Send one message again now (same `webhook-id`), with a fresh retry round."""
    async with services.store.transaction() as uow:
        endpoint = await repo.get_endpoint(uow, str(endpoint_id))
        found = await messages.get_message(uow, message_id)
        if endpoint is None or found is None or found[0].endpoint_id != endpoint.id:
            raise HTTPProblem(404, "message not found")
        if not endpoint.enabled:
            raise HTTPProblem(409, "the endpoint is disabled; enable it first")
        message = found[0].restarted(time.time(), trigger="resend")
        await messages.replace_message(uow, message, version=found[1])
    services.dispatcher.wake()
    log.info("webhook_resend", endpoint_id=endpoint.id, message_id=message.id)
    return MessageOut.of(message)


@router.post("/recover", status_code=202, response_model=RecoverOut)
async def recover(
    endpoint_id: uuid.UUID, body: RecoverIn, _: AdminDep, services: ServicesDep
) -> RecoverOut:
    """Send every failed message created since `since` again (same ids, fresh retry rounds)."""
    endpoint = await _endpoint(services.store, endpoint_id)
    if not endpoint.enabled:
        raise HTTPProblem(409, "the endpoint is disabled; enable it first")
    failed = await messages.in_state(services.store, endpoint.id, State.FAILED, limit=RECOVER_LIMIT)
    chosen = messages.failed_since(failed, body.since.timestamp())
    now = time.time()
    requeued = 0
    async with services.store.transaction() as uow:
        for candidate in chosen:
            found = await messages.get_message(uow, candidate.id)
            if found is None or found[0].state is not State.FAILED:
                continue
            await messages.replace_message(
                uow, found[0].restarted(now, trigger="recover"), version=found[1]
            )
            requeued += 1
    services.dispatcher.wake()
    log.info("webhooks_recovered", endpoint_id=endpoint.id, count=requeued)
    return RecoverOut(requeued=requeued)


overview = APIRouter(tags=["deliveries"])


@overview.get("/deliveries", response_model=list[MessageOut])
async def deliveries(
    _: ReaderDep, services: ServicesDep, state: State = State.FAILED, limit: Limit = 100
) -> list[MessageOut]:
    """Messages of every endpoint in one state (default failed), newest first: ids and codes."""
    return [
        MessageOut.of(m) for m in await messages.all_in_state(services.store, state, limit=limit)
    ]
