"""Converting between store types and MongoDB documents, and PyMongo errors into store errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from alamal_runtime.store.base import (
    DuplicateError,
    OutboxMessage,
    OutboxRecord,
    Record,
    StaleWriteError,
    StoreOperationError,
    StoreUnavailableError,
)

OUTBOX = "_outbox"
INBOX = "_inbox"
COUNTERS = "_counters"
OUTBOX_COUNTER = "outbox"
_WRITE_CONFLICT = 112
_NO_SUCH_TRANSACTION = 251
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


def _is_conflict(exc: PyMongoError) -> bool:
    if exc.has_error_label("TransientTransactionError"):
        return True
    if isinstance(exc, OperationFailure):
        if exc.code in (_WRITE_CONFLICT, _NO_SUCH_TRANSACTION):
            return True
        # mongoeco reports its optimistic commit conflicts without a code.
        return exc.code is None and "write conflict" in str(exc).lower()
    return False


@contextmanager
def mapped_errors() -> Iterator[None]:
    """Turn PyMongo's errors into the store's: duplicate, stale (conflict), unavailable."""
    try:
        yield
    except DuplicateKeyError as exc:
        raise DuplicateError("a document with that id already exists") from exc
    except BulkWriteError as exc:
        codes = {error.get("code") for error in exc.details.get("writeErrors", [])}
        if _DUPLICATE_KEY in codes:
            raise DuplicateError("a document with that id already exists") from exc
        if _WRITE_CONFLICT in codes or _is_conflict(exc):
            raise StaleWriteError("a concurrent unit of work conflicted; retry it") from exc
        raise StoreOperationError(
            f"MongoDB refused a bulk write (codes {sorted(c for c in codes if c is not None)})"
        ) from exc
    except ConnectionFailure as exc:
        raise StoreUnavailableError(f"MongoDB unavailable: {type(exc).__name__}") from exc
    except PyMongoError as exc:
        if exc.has_error_label("UnknownTransactionCommitResult"):
            raise StoreUnavailableError("MongoDB commit outcome unknown; retry") from exc
        if _is_conflict(exc):
            raise StaleWriteError("a concurrent unit of work conflicted; retry it") from exc
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


def outbox_docs(
    messages: Sequence[OutboxMessage], first_seq: int, now: datetime
) -> list[dict[str, Any]]:
    """Outbox documents for messages in emit order, numbered from `first_seq`."""
    return [
        {
            "_id": m.id,
            "seq": first_seq + offset,
            "topic": m.topic,
            "key": m.key,
            "value": m.value,
            "headers": [[name, value] for name, value in m.headers],
            "trace_carrier": dict(m.trace_carrier),
            "created_at": now,
            "sent_at": None,
        }
        for offset, m in enumerate(messages)
    ]


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
