"""The store interface every service uses: documents, a unit of work, the outbox and the inbox.

Two backends implement it (SQLite for the embedded default, MongoDB for production). A unit of
work writes documents, outbox messages and inbox claims atomically: all or nothing.
"""

from __future__ import annotations

import asyncio
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

type Doc = dict[str, Any]
"""A JSON-compatible document: str, int, float, bool, None, lists and dicts of those."""

type Scalar = str | int | float | bool | None

TRANSACTION_TIME_LIMIT_SECONDS = 120.0
"""How long a unit of work keeps being retried after transient conflicts (PyMongo's limit)."""
_BACKOFF_FIRST = 0.005
_BACKOFF_MAX = 0.5


class StoreError(Exception):
    """Base class of the errors a store raises on purpose.

    Messages name collections, ids and codes only, never document content. `reason` is a
    stable code for answers and logs (e.g. an HTTP 503's `reason`).
    """

    reason: ClassVar[str] = "store_error"


class DuplicateError(StoreError):
    """A document with that id already exists in the collection."""

    reason: ClassVar[str] = "duplicate"


class StaleWriteError(StoreError):
    """The document changed since it was read (optimistic concurrency) or does not exist."""

    reason: ClassVar[str] = "stale_write"


class StoreUnavailableError(StoreError):
    """The store cannot be reached; the caller may retry later."""

    reason: ClassVar[str] = "store_unavailable"


class TransientStoreError(StoreUnavailableError):
    """A concurrent unit of work won a race on a document this one wrote (MongoDB's
    `TransientTransactionError`): nothing was written, and running the unit of work again from
    the start is expected to succeed. `Store.with_transaction` does that for you."""

    reason: ClassVar[str] = "store_conflict"


class StoreOperationError(StoreError):
    """The store refused an operation for a reason the backend does not map (a server error)."""

    reason: ClassVar[str] = "store_refused"

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        """The server's error code, if it gave one."""


@dataclass(frozen=True, slots=True)
class Record:
    """A stored document with its id and version (1 on insert, +1 on every replace)."""

    id: str
    version: int
    data: Doc


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """An event to publish once the unit of work that emitted it has committed."""

    id: str
    """The event id (CloudEvents `id`): unique, used by consumers to de-duplicate."""
    topic: str
    key: str
    """The Kafka key (the family id), so all events of one family stay in order."""
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    trace_carrier: Mapping[str, str] = field(default_factory=dict)
    """W3C trace context of the code that emitted the event, to continue the trace on publish."""


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """An outbox message as stored, with its position among its key's messages."""

    seq: int
    """Ascending in commit order within one key (SQLite numbers all keys in one total order;
    MongoDB numbers each key on its own, so seqs repeat across keys)."""
    message: OutboxMessage
    created_at: datetime


class UnitOfWork(ABC):
    """One atomic change: reads see the transaction's own writes; commit happens on clean exit."""

    @abstractmethod
    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document inside the transaction."""

    @abstractmethod
    async def insert(self, collection: str, doc_id: str, data: Doc) -> Record:
        """Insert a new document at version 1; DuplicateError if the id exists."""

    @abstractmethod
    async def replace(
        self, collection: str, doc_id: str, data: Doc, *, expected_version: int
    ) -> Record:
        """Replace a document whose version is `expected_version`; StaleWriteError otherwise."""

    @abstractmethod
    async def delete_all(self, collection: str) -> int:
        """Delete every document of a collection (e.g. to rebuild a projection); return how many."""

    @abstractmethod
    async def delete(self, collection: str, doc_id: str) -> bool:
        """Delete one document; False if it did not exist (deleting twice changes nothing)."""

    @abstractmethod
    async def delete_where(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete the documents whose top-level fields equal `where` (as `find` matches them);
        return how many. An empty `where` is refused: `delete_all` says that on purpose."""

    @abstractmethod
    async def delete_published(self, key: str) -> int:
        """Delete the outbox messages with this Kafka key that were already published (the
        outbox keeps them for replay); return how many. Unpublished ones stay and go out."""

    @abstractmethod
    def emit(self, message: OutboxMessage) -> None:
        """Queue an event in the outbox; it is stored with the transaction's other writes."""

    @abstractmethod
    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record that `consumer` handled `event_id`; False if it already had (then do nothing)."""

    @abstractmethod
    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Claim a batch at once: record every id `consumer` has not handled yet and return
        those (an id given twice is claimed once); the others were handled already."""


class Store(ABC):
    """A service's own database: one SQLite file or one MongoDB database."""

    def __init__(self) -> None:
        self._commit_listeners: list[Callable[[], None]] = []

    def add_commit_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener` after every commit that stored outbox messages (wakes the relay)."""
        self._commit_listeners.append(listener)

    def _notify_outbox_committed(self) -> None:
        """Backends call this after a commit that emitted at least one outbox message."""
        for listener in self._commit_listeners:
            listener()

    @abstractmethod
    async def open(self) -> None:
        """Connect and create what the store needs (tables, indexes); idempotent."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the store answers."""

    @abstractmethod
    async def ensure_index(self, collection: str, fields: Sequence[str]) -> None:
        """Create an index on top-level fields of a collection's documents; idempotent."""

    @abstractmethod
    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document."""

    @abstractmethod
    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[Record]:
        """Documents whose top-level fields equal `where`, ordered by a top-level field or id.

        `after=(field, value)` keeps only documents whose top-level string `field` is greater
        than `value` (code-point order on both backends): keyset paging on a unique key.
        `after=("id", doc_id)` pages by the document id.
        """

    async def scan(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        *,
        page_size: int = 500,
    ) -> AsyncIterator[Record]:
        """Every committed document whose fields equal `where`, by id, read page by page."""
        after: tuple[str, str] | None = None
        while True:
            page = await self.find(collection, where, limit=page_size, after=after)
            for found in page:
                yield found
            if len(page) < page_size:
                return
            after = ("id", page[-1].id)  # `find`'s name for the document id

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work; it commits when the block exits cleanly, else rolls back.

        On a transient conflict it raises TransientStoreError (nothing was written); use
        `with_transaction` to have the unit of work re-run instead.
        """

    async def with_transaction[T](
        self,
        work: Callable[[UnitOfWork], Awaitable[T]],
        *,
        time_limit: float = TRANSACTION_TIME_LIMIT_SECONDS,
    ) -> T:
        """Run `await work(uow)` in a unit of work and commit; re-run it from the start after a
        transient conflict, with jittered exponential back-off, until `time_limit` seconds have
        passed since the first attempt (PyMongo's `with_transaction` semantics). A real
        conflict (StaleWriteError, DuplicateError) and every other error propagate at once.
        `work` may run more than once: it must change nothing but the store.
        """
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                async with self.transaction() as uow:
                    return await work(uow)
            except TransientStoreError:
                attempt += 1
                # Not a secret: jitter that spreads contending retries apart.
                pause = random.random() * min(_BACKOFF_FIRST * 1.5**attempt, _BACKOFF_MAX)  # noqa: S311
                if time.monotonic() + pause - started >= time_limit:
                    raise
                await asyncio.sleep(pause)

    @abstractmethod
    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Unsent outbox messages, at most `limit`: for each key a prefix of its unsent
        messages in commit order (never one without those committed before it), keys roughly
        oldest first. Publish one key's records in the order returned."""

    @abstractmethod
    async def outbox_mark_sent(self, records: Sequence[OutboxRecord]) -> None:
        """Mark outbox records (as `outbox_pending` returned them) as published; idempotent."""

    @abstractmethod
    async def outbox_backlog(self) -> int:
        """How many outbox messages wait to be published."""

    @abstractmethod
    async def outbox_requeue(self) -> int:
        """Mark every retained published outbox message unsent again, so that the relay
        publishes it again, each key's messages in their original order and before the ones
        still waiting (a new broker incarnation lost them); return how many."""

    @abstractmethod
    async def outbox_trim(self, before: datetime) -> dict[str, int]:
        """Delete the outbox messages published before `before` (retention: unsent ones always
        stay); return how many were deleted per topic."""
