"""Cursor pagination: opaque cursors naming where a page ended, and the 422 for a bad one.

A cursor is the URL-safe base64 of a JSON list of strings (the sort key of the last item
shown). It is not a secret and not signed: a forged cursor only moves the window within what
the caller may see anyway, because every list is filtered by scope before it is paged.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from fastapi.exceptions import RequestValidationError

MAX_CURSOR_CHARS = 400


class BadCursorError(ValueError):
    """A cursor this service did not issue."""


def encode_cursor(position: Sequence[str]) -> str:
    """An opaque cursor for the items after `position`."""
    raw = json.dumps(list(position), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, parts: int) -> tuple[str, ...]:
    """The position a cursor stands for; BadCursorError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursorError("not a valid cursor") from exc
    if (
        not isinstance(position, list)
        or len(position) != parts
        or not all(isinstance(p, str) for p in position)
    ):
        raise BadCursorError("not a valid cursor")
    return tuple(position)


def cursor_error() -> RequestValidationError:
    """The 422 for a cursor query parameter this service did not issue."""
    return RequestValidationError(
        [{"loc": ("query", "cursor"), "msg": "not a valid cursor", "type": "value_error"}]
    )


@dataclass(frozen=True, slots=True)
class Page[T]:
    """One page of items and the cursor of the next page, if there is one."""

    items: list[T]
    next_cursor: str | None


def paginate[T](
    items: Sequence[T],
    *,
    key: Callable[[T], tuple[str, ...]],
    key_parts: int,
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Page[T]:
    """Order by `key` (unique per item, `key_parts` strings), skip past the cursor, cut `limit`.

    Raises BadCursorError for a cursor of the wrong shape.
    """
    ordered = sorted(items, key=key, reverse=descending)
    if cursor is not None:
        after = decode_cursor(cursor, parts=key_parts)
        if descending:
            ordered = [i for i in ordered if key(i) < after]
        else:
            ordered = [i for i in ordered if key(i) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    return Page(items=page, next_cursor=encode_cursor(key(page[-1])) if more and page else None)


def page_or_422[T](
    items: Sequence[T],
    *,
    key: Callable[[T], tuple[str, ...]],
    key_parts: int,
    cursor: str | None,
    limit: int,
    descending: bool = False,
) -> Page[T]:
    """`paginate` for a route: a cursor this service did not issue is a 422 on `cursor`."""
    try:
        return paginate(
            items, key=key, key_parts=key_parts, cursor=cursor, limit=limit, descending=descending
        )
    except BadCursorError:
        raise cursor_error() from None
