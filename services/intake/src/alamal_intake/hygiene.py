"""Text hygiene for what staff type: no control characters, no bidi overrides.

A name with a right-to-left override (U+202E) shows differently from what is stored, and a
control character can break a page, a CSV export or a log line. Both are refused with a 422 on
the field; nothing is silently removed, so what is stored is what was typed. Notes may hold tab
and newline. Arabic text needs none of the refused characters: the ordinary right-to-left and
left-to-right marks (U+200E, U+200F) stay allowed.
"""

from __future__ import annotations

import re
from typing import Final

_CONTROL: Final = "\x00-\x1f\x7f-\x9f"
_BIDI_OVERRIDES: Final = "\u202a-\u202e\u2066-\u2069"
_REFUSED_IN_NAMES: Final = re.compile(f"[{_CONTROL}{_BIDI_OVERRIDES}]")
_REFUSED_IN_NOTES: Final = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_BIDI_OVERRIDES}]")


def clean_name(value: str) -> str:
    """A one-line text (name, street, city): refuse every control character and bidi override."""
    if _REFUSED_IN_NAMES.search(value):
        raise ValueError("control characters and bidi overrides are not allowed")
    return value


def clean_note(value: str) -> str:
    """A free text (notes): tab and newline allowed, other control characters and bidi refused."""
    if _REFUSED_IN_NOTES.search(value):
        raise ValueError(
            "control characters (except tab and newline) and bidi overrides are not allowed"
        )
    return value
