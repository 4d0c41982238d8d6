"""Converting between store types and MongoDB documents, and PyMongo errors into store errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from alamal_runtime.store.base import (
    DuplicateError,
    OutboxMessage,
    OutboxRecord,
    Record,
    StoreOperationError,
    StoreUnavailableError,
    TransientStoreError,
)

type Db = AsyncDatabase[dict[str, Any]]
type Session = AsyncClientSession

OUTBOX = "_outbox"
OUTBOX_KEYS = "_outbox_keys"
"""One counter document per outbox key: the last number given to that key's messages."""
INBOX = "_inbox"
COUNTERS = "_counters"
OUTBOX_COUNTER = "outbox"
"""The retired service-wide outbox counter (`_counters/outbox`), read once to migrate."""
TRANSIENT = "TransientTransactionError"
UNKNOWN_COMMIT = "UnknownTransactionCommitResult"
_WRITE_CONFLICT = 112
_NO_SUCH_TRANSACTION = 251
_MAX_TIME_EXPIRED = 50
_DUPLICATE_KEY = 11000
_INT32_MAX = 2**31 - 1


def wire_limit(limit: int) -> int:
    """A find limit as the wire takes it: beyond 32 bits no collection can reach it, so 0 (none).

    Servers differ on 64-bit limits (mongoeco refuses them), and a limit that large means all.
    """
    return 0 if limit > _INT32_MAX else limit


def transactions_supported(hello: Mapping[str, Any]) -> bool:
    """Whether a server's `hello` (and `buildInfo`) show it runs multi-document transactions."""
    return (
        "setName" in hello
        or hello.get("msg") == "isdbgrid"
        or hello.get("gitVersion") == "mongoeco"
    )


def is_mongoeco(info: Mapping[str, Any]) -> bool:
    """Whether `hello`/`buildInfo` come from mongoeco's wire server (tests only)."""
    return info.get("gitVersion") == "mongoeco"


def commit_outcome_unknown(exc: PyMongoError) -> bool:
    """Whether a failed commit may be retried as is (PyMongo's rule: the label, not a timeout)."""
    expired = isinstance(exc, OperationFailure) and exc.code == _MAX_TIME_EXPIRED
    return exc.has_error_label(UNKNOWN_COMMIT) and not expired


def _is_transient(exc: PyMongoError) -> bool:
    if exc.has_error_label(TRANSIENT):
        return True
    if isinstance(exc, OperationFailure):
        if exc.code in (_WRITE_CONFLICT, _NO_SUCH_TRANSACTION):
            return True
        # mongoeco reports its optimistic commit conflicts without a code.
        return exc.code is None and "write conflict" in str(exc).lower()
    return False


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn PyMongo's errors into the store's: duplicate, transient conflict, unavailable, or
    refused (with the server's code)."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise DuplicateError("a document with that id already exists") from exc
    except BulkWriteError as exc:
        codes = {error.get("code") for error in exc.details.get("writeErrors", [])}
        if _DUPLICATE_KEY in codes:
            raise DuplicateError("a document with that id already exists") from exc
        if _WRITE_CONFLICT in codes or _is_transient(exc):
            raise TransientStoreError("a concurrent unit of work conflicted; run again") from exc
        raise StoreOperationError(
            f"MongoDB refused a bulk write (codes {sorted(c for c in codes if c is not None)})"
        ) from exc
    except ServerSelectionTimeoutError as exc:
        # No server answered for the whole selection timeout: re-running at once cannot help.
        raise StoreUnavailableError(f"MongoDB unavailable: {type(exc).__name__}") from exc
    except PyMongoError as exc:
        # Transient first: a dropped connection or an election inside a transaction carries
        # the label too, and the driver's rule is to re-run the transaction then.
        if _is_transient(exc):
            raise TransientStoreError("a concurrent unit of work conflicted; run again") from exc
        if isinstance(exc, ConnectionFailure):
            raise StoreUnavailableError(f"MongoDB unavailable: {type(exc).__name__}") from exc
        if exc.has_error_label(UNKNOWN_COMMIT):
            raise StoreUnavailableError("MongoDB commit outcome unknown; retry") from exc
        code = exc.code if isinstance(exc, OperationFailure) else None
        # The server's message may quote the query (document values): keep the code only.
        raise StoreOperationError(
            f"MongoDB refused the operation ({type(exc).__name__}, code {code})", code=code
        ) from exc


def record(doc: dict[str, Any]) -> Record:
    """A stored document as a Record, without the `_id` and `_v` bookkeeping fields."""
    doc_id = doc.pop("_id")
    version = doc.pop("_v")
    return Record(id=str(doc_id), version=int(version), data=doc)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def outbox_record(doc: Mapping[str, Any]) -> OutboxRecord:
    """An outbox document as an OutboxRecord."""
    return OutboxRecord(
        seq=int(doc["seq"]),
        message=OutboxMessage(
            id=str(doc["_id"]),
            topic=doc["topic"],
            key=doc["key"],
            value=bytes(doc["value"]),
            headers=tuple((str(name), bytes(value)) for name, value in doc["headers"]),
            trace_carrier=dict(doc["trace_carrier"]),
        ),
        created_at=_utc(doc["created_at"]),
    )


def inbox_doc(consumer: str, event_id: str, now: datetime) -> dict[str, Any]:
    """The inbox entry recording that `consumer` handled `event_id`."""
    return {
        "_id": f"{consumer}:{event_id}",
        "consumer": consumer,
        "event_id": event_id,
        "handled_at": now,
    }
