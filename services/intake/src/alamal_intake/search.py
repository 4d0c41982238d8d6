"""Family search: name matching and cursor pagination over a caller's scope. Pure: no I/O.

The store filters by equality on indexed top-level fields only, so the route reads the
caller's whole scope (per wijk or per trusted person, up to `store.SCAN_LIMIT` families each)
and this module filters names and pages in memory. That is fine for one coordinator's wijken
(hundreds of families); a larger scope needs a name index in the store.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alamal_intake.domain import Family

type Position = tuple[datetime, str]
"""Where a page ends: (registered_at, id), the order results are listed in."""


class BadCursorError(ValueError):
    """A cursor this service did not issue."""


def encode_cursor(position: Position) -> str:
    """An opaque cursor for the results after `position`."""
    raw = json.dumps([position[0].isoformat(), position[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for; BadCursorError if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, family_id = json.loads(raw)
        when = datetime.fromisoformat(at)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadCursorError("not a valid cursor") from exc
    if not isinstance(family_id, str) or when.tzinfo is None:
        raise BadCursorError("not a valid cursor")
    return when, family_id


def name_matches(family: Family, fragment: str) -> bool:
    """True if any member's first name or surname contains `fragment`, ignoring case."""
    needle = fragment.casefold()
    return any(
        needle in m.first_name.casefold()
        or (m.surname is not None and needle in m.surname.casefold())
        for m in family.members
    )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of results and the cursor of the next, if there is one."""

    families: list[Family]
    next_cursor: str | None


def paginate(
    families: Iterable[Family], *, name: str | None, after: Position | None, limit: int
) -> Page:
    """Match, de-duplicate, order by (registered_at, id) and cut one page after `after`."""
    unique = {f.id: f for f in families if name is None or name_matches(f, name)}
    ordered = sorted(unique.values(), key=lambda f: (f.registered_at, f.id))
    if after is not None:
        ordered = [f for f in ordered if (f.registered_at, f.id) > after]
    page = ordered[:limit]
    more = len(ordered) > limit
    last = page[-1] if page else None
    cursor = encode_cursor((last.registered_at, last.id)) if more and last else None
    return Page(families=page, next_cursor=cursor)
