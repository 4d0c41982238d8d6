"""A keyed blind index: search name fragments without storing or reading plaintext names.

Each text is normalised (Unicode compatibility form, accents dropped, case folded, runs of
white space made one space) and cut into overlapping pairs of characters. The index stores a
truncated HMAC-SHA256 of each distinct pair under the service's index key, so the store holds
neither a name nor a pair of it. A fragment matches a document when every pair of the fragment
is among the document's tokens; that is a superset of the true matches (pairs can come from
different places or names), so the caller checks each candidate after unsealing it.

What it leaks to someone holding the store but not the key: how many distinct pairs a
document's names have, and which documents share a pair (frequency analysis over many
families could guess the commonest pairs). Tokens are truncated to 32 bits, so unrelated pairs
sometimes share a token, which blurs that further at the cost of a few more candidates.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from collections.abc import Iterable

GRAM = 2
TOKEN_BYTES = 4


def normalise(text: str) -> str:
    """The searchable form: NFKD, combining marks dropped, case folded, one space per run."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def grams(text: str) -> set[str]:
    """The overlapping character pairs of a normalised text (the text itself if shorter)."""
    if len(text) < GRAM:
        return {text} if text else set()
    return {text[i : i + GRAM] for i in range(len(text) - GRAM + 1)}


class BlindIndex:
    """Tokens of texts and of search fragments under one secret index key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _token(self, gram: str) -> str:
        mac = hmac.new(self._key, b"gram\x00" + gram.encode("utf-8"), hashlib.sha256)
        return mac.hexdigest()[: TOKEN_BYTES * 2]

    def tokens(self, texts: Iterable[str]) -> list[str]:
        """The sorted distinct tokens of every text (what a document stores)."""
        found: set[str] = set()
        for text in texts:
            found |= {self._token(g) for g in grams(normalise(text))}
        return sorted(found)

    def query(self, fragment: str) -> frozenset[str]:
        """The tokens a document must all hold to possibly contain `fragment`."""
        return frozenset(self._token(g) for g in grams(normalise(fragment)))


def contains(text: str, fragment: str) -> bool:
    """Whether `text` contains `fragment` once both are normalised (the exact check)."""
    return normalise(fragment) in normalise(text)
