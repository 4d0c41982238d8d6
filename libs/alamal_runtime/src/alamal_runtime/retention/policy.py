"""Retention categories, their default lengths and the (compressible) retention day.

Defaults and their reasoning: docs/retention.md. Pure: no I/O, importable by the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Final


class Category(StrEnum):
    """What a retention rule deletes (the deletion log names it)."""

    CLOSED_CASE = "closed-case"
    """A family whose case closed: erased in every service through the erasure machinery."""
    PRIVATE_NOTES = "private-notes"
    """The private notes of a closed case's visits (earlier than the case itself)."""
    AUDIT_RECORDS = "audit-records"
    """Access-audit records of families that are still kept."""
    DELIVERY_LOGS = "delivery-logs"
    """Webhook delivery attempts and delivered webhook messages."""
    DEAD_LETTERS = "dead-letters"
    """Dead letters an operator has replayed or resolved (open ones wait for a decision)."""


DEFAULT_KEEP_DAYS: Final[Mapping[Category, int]] = {
    Category.CLOSED_CASE: 730,
    Category.PRIVATE_NOTES: 365,
    Category.AUDIT_RECORDS: 1825,
    Category.DELIVERY_LOGS: 90,
    Category.DEAD_LETTERS: 90,
}
"""Days each category is kept (after a case's closure, or after the record was written)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """How long each category is kept, in retention days of `day` (one real day in prod)."""

    day: timedelta
    keep_days: Mapping[Category, int]

    @classmethod
    def of(cls, *, day_seconds: float, overrides: Mapping[Category, int]) -> Policy:
        """The defaults with the configured overrides."""
        return cls(day=timedelta(seconds=day_seconds), keep_days={**DEFAULT_KEEP_DAYS, **overrides})

    def keep(self, category: Category) -> timedelta:
        """How long `category` is kept."""
        return self.day * self.keep_days[category]
