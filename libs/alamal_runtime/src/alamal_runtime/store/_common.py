"""Checks and helpers both backends share, so they accept and refuse exactly the same input."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from alamal_runtime.store.base import Doc, OutboxMessage, Scalar, UnitOfWork

# Collection names become SQL index names and MongoDB collection names; a leading underscore is
# reserved for the store's own bookkeeping (`_outbox`, `_inbox`, `_counters`).
_COLLECTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")
# Field names are spliced into SQL (`json_extract(body, '$.name')`), so they are strictly checked.
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}")
RESERVED_KEYS = frozenset({"_id", "_v"})
ID_FIELD = "id"
"""`order_by="id"` orders by the document id."""


def check_collection(name: str) -> str:
    """Return `name` if it is a valid collection name, else raise ValueError."""
    if not _COLLECTION.fullmatch(name):
        raise ValueError(f"invalid collection name {name!r}: letters, digits, '_' and '-' only")
    return name


def check_field(name: str) -> str:
    """Return `name` if it is a valid top-level field name, else raise ValueError."""
    if not _FIELD.fullmatch(name):
        raise ValueError(f"invalid field name {name!r}: letters, digits and '_' only")
    return name


def check_fields(names: Iterable[str]) -> list[str]:
    """Validate a non-empty list of field names."""
    checked = [check_field(name) for name in names]
    if not checked:
        raise ValueError("an index needs at least one field")
    return checked


def check_doc(data: Doc) -> Doc:
    """Refuse documents that use the keys the backends reserve for id and version."""
    reserved = RESERVED_KEYS.intersection(data)
    if reserved:
        raise ValueError(f"document keys {sorted(reserved)} are reserved by the store")
    return data


def check_limit(limit: int) -> int:
    """A positive result limit."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    return limit


def check_after(after: tuple[str, str] | None) -> tuple[str, str] | None:
    """A valid `after=(field, value)` bound: a checked field name and a string value."""
    if after is None:
        return None
    field, value = after
    if not isinstance(value, str):
        raise TypeError("`after` compares strings only")
    return check_field(field), str.__str__(value)


def normalize_filter(where: Mapping[str, Scalar] | None) -> dict[str, Scalar]:
    """Validate filter fields and turn enum-like values into plain str, int, float or bool."""
    return {check_field(field): _plain(value) for field, value in (where or {}).items()}


def check_where(where: Mapping[str, Scalar]) -> dict[str, Scalar]:
    """A non-empty equality filter for a deletion (deleting everything is `delete_all`)."""
    if not where:
        raise ValueError("delete_where needs at least one field; use delete_all for everything")
    return normalize_filter(where)


def _plain(value: Scalar) -> Scalar:
    # bool before int: bool is a subclass of int but must stay a boolean.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str.__str__(value)
    raise TypeError(f"cannot filter on {type(value).__name__} values")


def check_not_nested(current: asyncio.Task[Any] | None, owner: asyncio.Task[Any] | None) -> None:
    """Refuse to wait for a write lock the current task already holds (it would deadlock)."""
    if current is not None and current is owner:
        raise RuntimeError("this task already holds a unit of work on the store (deadlock)")


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class EmittingUnitOfWork(UnitOfWork):
    """What both backends' units of work share: queued outbox messages and an end of use."""

    def __init__(self) -> None:
        self._emitted: list[OutboxMessage] = []
        self._active = True

    def finish(self) -> list[OutboxMessage]:
        """End the unit of work's use and hand over the emitted messages."""
        self._active = False
        return self._emitted

    def _check(self) -> None:
        if not self._active:
            raise RuntimeError("the unit of work has already ended")

    def emit(self, message: OutboxMessage) -> None:
        """Queue an event; it is stored at commit, in emit order."""
        self._check()
        self._emitted.append(message)
