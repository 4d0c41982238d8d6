"""Family search: name matching and cursor pagination over a caller's scope. Pure: no I/O.

Names are sealed at rest. The store narrows the caller's scope (per wijk or per trusted
person, up to `store.SCAN_LIMIT` families each) by the keyed blind index of name fragments
without reading a name, opens only the candidates, and this module checks each candidate's
names (the index allows false positives) and cuts a page. Matching ignores case, accents and
runs of white space (`Ozdemir` finds `Özdemir`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from alamal_intake.domain import Family
from alamal_runtime.sealing import contains

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
    """True if any member's first name or surname contains `fragment` (case and accents aside)."""
    return any(
        contains(m.first_name, fragment)
        or (m.surname is not None and contains(m.surname, fragment))
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
