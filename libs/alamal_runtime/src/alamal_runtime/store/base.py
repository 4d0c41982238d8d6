"""The store interface every service uses: documents, a unit of work, the outbox and the inbox.

Two backends implement it (SQLite for the embedded default, MongoDB for production). A unit of
work writes documents, outbox messages and inbox claims atomically: all or nothing.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

type Doc = dict[str, Any]
"""A JSON-compatible document: str, int, float, bool, None, lists and dicts of those."""

type Scalar = str | int | float | bool | None


class StoreError(Exception):
    """Base class of the errors a store raises on purpose."""


class DuplicateError(StoreError):
    """A document with that id already exists in the collection."""


class StaleWriteError(StoreError):
    """The document changed since it was read (optimistic concurrency) or does not exist."""


class StoreUnavailableError(StoreError):
    """The store cannot be reached; the caller may retry later."""


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
    """An outbox message as stored, with its position in the store's total order."""

    seq: int
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
        """

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work; it commits when the block exits cleanly, else rolls back."""

    @abstractmethod
    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """Unsent outbox messages in the order they were committed (oldest first)."""

    @abstractmethod
    async def outbox_mark_sent(self, seqs: Sequence[int]) -> None:
        """Mark outbox messages as published."""

    @abstractmethod
    async def outbox_backlog(self) -> int:
        """How many outbox messages wait to be published."""
