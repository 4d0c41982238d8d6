"""Operator routes on every service's dead letters, and the replay through Kafka.

`GET /ops/dead-letters[?state=open]`, `GET /ops/dead-letters/{name}`,
`POST /ops/dead-letters/{name}/replay` and `POST /ops/dead-letters/{name}/resolve` (a reason
code): operators only; replays and resolutions are recorded in the service's access audit with
who, the family the letter concerns (its Kafka key), the outcome and the reason code, refusals
included. Runtime plumbing kept out of the services' OpenAPI documents.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from alamal_runtime import audit
from alamal_runtime.auth import Principal, Role
from alamal_runtime.dead_letters import (
    NAME_PATTERN,
    REPLAY_OF,
    Letter,
    LetterError,
    LetterState,
    ResolveReason,
    get_letter,
    list_letters,
    replay_letter,
    resolve_letter,
)
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.messaging import dead_letter as dlq
from alamal_runtime.store import Store

REPLAY = "replay-dead-letter"
RESOLVE = "resolve-dead-letter"
OPERATIONS_REASON = "operations"

LetterName = Annotated[
    str, Path(pattern=NAME_PATTERN, description="consumer:topic:partition:offset")
]


class ResolveIn(BaseModel):
    """Why the letter will never succeed."""

    model_config = ConfigDict(extra="forbid")

    reason: ResolveReason


class KafkaRepublisher:
    """Reads a letter's record back from the dead-letter topic and publishes the original
    value, key and headers to the source topic with `dlq-replay-of: <name>`."""

    def __init__(self, bootstrap: str, *, timeout_ms: int = 10_000) -> None:
        self._bootstrap = bootstrap
        self._timeout_ms = timeout_ms

    async def republish(self, letter: Letter) -> str:
        """Publish the letter's original record again; return `topic:partition:offset`."""
        if letter.dead_letter_topic is None or letter.dead_letter_offset is None:
            raise LetterError(409, "no dead-letter position was recorded: resolve it instead")
        where = TopicPartition(letter.dead_letter_topic, letter.dead_letter_partition or 0)
        record = await self._read(where, letter.dead_letter_offset)
        if record is None:
            raise LetterError(
                409,
                "the record is no longer on the dead-letter topic (broker restarted?): "
                "resolve the letter instead",
            )
        key, value, headers = record
        producer = AIOKafkaProducer(
            bootstrap_servers=self._bootstrap, enable_idempotence=False, acks="all"
        )
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                letter.topic,
                value=value,
                key=key,
                headers=[*original_headers(headers), (REPLAY_OF, letter.name.encode())],
            )
        finally:
            await producer.stop()
        return f"{letter.topic}:{sent.partition}:{sent.offset}"

    async def _read(
        self, where: TopicPartition, offset: int
    ) -> tuple[bytes | None, bytes, list[tuple[str, bytes | None]]] | None:
        reader = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap,
            enable_auto_commit=False,
            request_timeout_ms=self._timeout_ms,
        )
        await reader.start()
        try:
            reader.assign([where])
            end = (await reader.end_offsets([where]))[where]
            start = (await reader.beginning_offsets([where]))[where]
            if not start <= offset < end:
                return None
            reader.seek(where, offset)
            batch = await reader.getmany(where, timeout_ms=self._timeout_ms, max_records=1)
            for message in batch.get(where, []):
                if message.offset == offset:
                    return message.key, message.value or b"", list(message.headers)
            return None
        finally:
            await reader.stop()


def original_headers(
    headers: list[tuple[str, bytes | None]] | tuple[tuple[str, bytes | None], ...],
) -> list[tuple[str, bytes | None]]:
    """The headers a record had before it was dead-lettered (binary and null ones restored)."""
    out: list[tuple[str, bytes | None]] = []
    for name, raw in headers:
        if name.startswith(dlq.BINARY_HEADER_PREFIX):
            out.append((name.removeprefix(dlq.BINARY_HEADER_PREFIX), base64.b64decode(raw or b"")))
        elif name.startswith(dlq.NULL_HEADER_PREFIX):
            out.append((name.removeprefix(dlq.NULL_HEADER_PREFIX), None))
        elif not name.startswith("dlq-"):
            out.append((name, raw))
    return out


def dead_letters_router(store: Store, republisher: KafkaRepublisher) -> APIRouter:
    """The operator routes on this service's dead letters."""
    router = APIRouter(prefix="/ops/dead-letters", tags=["operations"], include_in_schema=False)

    @router.get("")
    async def letters(
        principal: CurrentPrincipal,
        state: LetterState | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[dict[str, Any]]:
        """This service's dead letters, newest first: names, codes and states, never values."""
        _operator(principal)
        return [letter.to_json() for letter in await list_letters(store, state=state, limit=limit)]

    @router.get("/{name}")
    async def letter(name: LetterName, principal: CurrentPrincipal) -> dict[str, Any]:
        """One dead letter by name."""
        _operator(principal)
        return (await _or_problem(get_letter(store, name))).to_json()

    @router.post("/{name}/replay")
    async def replay(name: LetterName, principal: CurrentPrincipal) -> dict[str, Any]:
        """Publish an open letter's record to its topic again (audited)."""
        await _operator_or_audit(store, principal, REPLAY)
        done = await _audited(
            store,
            principal,
            REPLAY,
            name,
            OPERATIONS_REASON,
            replay_letter(store, name, by=principal.user_id, republisher=republisher),
        )
        return done.to_json()

    @router.post("/{name}/resolve")
    async def resolve(
        name: LetterName, body: ResolveIn, principal: CurrentPrincipal
    ) -> dict[str, Any]:
        """Close a letter that will never succeed, with the reason code (audited)."""
        await _operator_or_audit(store, principal, RESOLVE)
        done = await _audited(
            store,
            principal,
            RESOLVE,
            name,
            body.reason.value,
            resolve_letter(store, name, by=principal.user_id, reason=body.reason),
        )
        return done.to_json()

    return router


def _operator(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise HTTPProblem(403, "operators only")


async def _operator_or_audit(store: Store, principal: Principal, action: str) -> None:
    if principal.role is not Role.OPERATOR:
        await _record(
            store, principal, action, None, audit.AuditOutcome.DENIED_OR_MISSING, OPERATIONS_REASON
        )
        raise HTTPProblem(403, "operators only")


async def _or_problem(pending: Awaitable[Letter]) -> Letter:
    try:
        return await pending
    except LetterError as exc:
        raise HTTPProblem(exc.status, exc.detail) from None


async def _audited(
    store: Store,
    principal: Principal,
    action: str,
    name: str,
    reason: str,
    pending: Awaitable[Letter],
) -> Letter:
    try:
        done: Letter = await pending
    except LetterError as exc:
        family = None
        if exc.status != 404:
            family = (await get_letter(store, name)).family_id
        await _record(
            store, principal, action, family, audit.AuditOutcome.DENIED_OR_MISSING, reason
        )
        raise HTTPProblem(exc.status, exc.detail) from None
    await _record(store, principal, action, done.family_id, audit.AuditOutcome.ALLOWED, reason)
    return done


async def _record(
    store: Store,
    principal: Principal,
    action: str,
    family_id: str | None,
    outcome: audit.AuditOutcome,
    reason: str,
) -> None:
    await audit.audit(
        store,
        audit.entry(
            principal,
            action=action,
            family_id=family_id,
            outcome=outcome,
            reason=reason,
            now=datetime.now(UTC),
        ),
    )
