"""Unit tests: cursor pagination."""

from __future__ import annotations

import pytest

from alamal_runtime.paging import BadCursorError, decode_cursor, encode_cursor, paginate

ITEMS = [("2026-01-0" + str(d), f"id{d}") for d in range(1, 8)]


def key(item: tuple[str, str]) -> tuple[str, str]:
    return item


@pytest.mark.parametrize("descending", [False, True])
def test_pages_cover_every_item_once_in_order(descending: bool) -> None:
    seen: list[tuple[str, str]] = []
    cursor = None
    for _ in range(10):
        page = paginate(ITEMS, key=key, key_parts=2, cursor=cursor, limit=3, descending=descending)
        seen += page.items
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted(ITEMS, reverse=descending)


def test_the_last_page_has_no_cursor_and_an_empty_list_pages_fine() -> None:
    assert paginate(ITEMS, key=key, key_parts=2, cursor=None, limit=7).next_cursor is None
    cursor = encode_cursor(ITEMS[2])
    assert paginate([], key=key, key_parts=2, cursor=cursor, limit=3).items == []


@pytest.mark.parametrize("bad", ["%%%", "bm90IGpzb24", encode_cursor(["only-one"]), "WzEsMl0"])
def test_foreign_cursors_are_refused(bad: str) -> None:
    with pytest.raises(BadCursorError):
        decode_cursor(bad, parts=2)
    with pytest.raises(BadCursorError):
        paginate(ITEMS, key=key, key_parts=2, cursor=bad, limit=3)
