"""The privacy officer's view of retention across the services: every service's deletion log
merged (newest first, bounded) and its dry run side by side. Pure: the page fetches, this sorts.

The services answer categories, rule names, counts, lengths and times only (no ids, no
personal data); this module keeps it that way and never adds anything of a family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from alamal_gateway.clients import SERVICES
from alamal_gateway.i18n import N_
from alamal_runtime.retention.api import MAX_LOOK_AHEAD_DAYS

LOG_LIMIT: Final = 100
"""Entries asked of each service and shown in all: the latest, newest first."""
DEFAULT_WITHIN_DAYS: Final = 30
"""The dry run's default look-ahead: "what would be deleted this month"."""
MAX_WITHIN_DAYS: Final = MAX_LOOK_AHEAD_DAYS
"""The services' own bound on the look-ahead."""

CATEGORY: Final = {
    "closed-case": N_("Closed case: the whole family"),
    "private-notes": N_("Private notes"),
    "audit-records": N_("Access records"),
    "delivery-logs": N_("Delivery logs"),
    "dead-letters": N_("Dead letters"),
}
RULE: Final = {
    "closed-case": N_("Erase families whose case closed"),
    "private-notes": N_("Clear the private notes of closed cases"),
    "audit-records": N_("Delete old access records"),
    "dead-letters": N_("Delete dead letters that were handled"),
    "delivery-attempts": N_("Delete old delivery attempts"),
    "delivered-messages": N_("Delete delivered messages"),
}
"""Labels of the rules, by their name without the service (`cases.private-notes`)."""
COUNTED: Final = {
    "closed-case": "retention-families",
    "private-notes": "retention-notes",
    "audit-records": "retention-access-records",
    "delivery-logs": "retention-delivery-records",
    "dead-letters": "retention-dead-letters",
}
"""The counted phrase (plurals.py) of each category: what its count counts."""
TRIGGER: Final = {
    "schedule": N_("On schedule"),
    "on-demand": N_("Run by hand"),
}


def rule_key(service: str, rule: str) -> str:
    """A rule's name without its service (`cases.private-notes` -> `private-notes`)."""
    return rule.removeprefix(f"{service}.")


def _instant(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Answer:
    """What one service answered: its deletion log and last run, and its dry run."""

    service: str
    log: list[dict[str, Any]]
    last_run: dict[str, Any] | None
    preview: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class RetentionView:
    """The merged view: what answered, who did not, the log and the dry run rows."""

    answered: tuple[str, ...]
    unreachable: tuple[str, ...]
    log: list[dict[str, Any]]
    truncated: bool
    rows: list[dict[str, Any]]
    last_runs: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    @property
    def due(self) -> int:
        """How much the dry run would delete, everything together."""
        return sum(int(row["count"]) for row in self.rows)


def _entry(service: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """One log entry as the page shows it (only the fields the services document)."""
    return {
        "service": service,
        "rule": str(entry.get("rule", "")),
        "rule_key": rule_key(service, str(entry.get("rule", ""))),
        "category": str(entry.get("category", "")),
        "count": int(entry.get("count", 0) or 0),
        "withheld": int(entry.get("withheld", 0) or 0),
        "keep_days": int(entry.get("keep_days", 0) or 0),
        "at": str(entry.get("at", "")),
        "trigger": str(entry.get("trigger", "")),
        "failed": entry.get("failed") or None,
    }


def merge(answers: Iterable[Answer], unreachable: Iterable[str]) -> RetentionView:
    """Every answering service's log merged newest first (at most LOG_LIMIT entries) and its
    dry run rows in the services' order."""
    by_service = {a.service: a for a in answers}
    missing = set(unreachable)
    order = [s for s in SERVICES if s in by_service] + sorted(set(by_service) - set(SERVICES))
    entries = [_entry(s, e) for s in order for e in by_service[s].log]
    entries.sort(key=lambda e: _instant(e["at"]), reverse=True)
    rows = [_entry(s, r) for s in order for r in by_service[s].preview]
    return RetentionView(
        answered=tuple(order),
        unreachable=tuple(s for s in SERVICES if s in missing),
        log=entries[:LOG_LIMIT],
        truncated=len(entries) > LOG_LIMIT
        or any(len(by_service[s].log) >= LOG_LIMIT for s in order),
        rows=rows,
        last_runs={s: by_service[s].last_run for s in order},
    )


def look_ahead(raw: str) -> tuple[int, bool]:
    """The dry run's look-ahead from the form (default 30), and whether the input was bad."""
    text = raw.strip()
    if not text:
        return DEFAULT_WITHIN_DAYS, False
    if not text.isdecimal() or len(text) > 5 or int(text) > MAX_WITHIN_DAYS:
        return DEFAULT_WITHIN_DAYS, True
    return int(text), False
