"""The retention schedule: a service's rules, their dry run and the deletion log.

A rule finds what is due (`due`: ids of what it would delete, given the cutoff its category's
length makes) and deletes it (`apply`). The schedule runs every rule at its interval and on
demand, one run at a time per process; two processes running at once delete nothing twice
(a deletion of what is gone counts nothing). Each rule that deleted something leaves one
deletion-log entry: category, rule, how many, the rule's length, when, what started it. The
log holds no ids and no personal data.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import batched
from typing import Any, Protocol

import structlog

from alamal_runtime.retention.policy import Category, Policy
from alamal_runtime.store import (
    Doc,
    DuplicateError,
    Scalar,
    StaleWriteError,
    Store,
    UnitOfWork,
)

RETENTION_LOG = "retention_log"
"""The deletion log: one document per rule and run that deleted something."""
RETENTION_STATE = "retention_state"
LAST_RUN = "last-run"
BATCH = 200
"""Documents deleted per unit of work."""

log = structlog.get_logger(__name__)


def instant(value: object) -> datetime | None:
    """A stored time (ISO text or epoch seconds) as an aware datetime; None if it is neither."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    return None


@dataclass(frozen=True, slots=True)
class Due:
    """What a rule would delete now: ids, and how many are past their time but must stay."""

    ids: tuple[str, ...] = ()
    withheld: int = 0
    """Past the rule's length but kept (a legal hold, an erasure already under way)."""


class Rule(Protocol):
    """One retention rule of a service."""

    @property
    def name(self) -> str:
        """The rule's name in the deletion log, e.g. `intake.closed-case`."""
        ...

    @property
    def category(self) -> Category:
        """What it deletes; its length comes from the policy."""
        ...

    async def due(self, store: Store, cutoff: datetime) -> Due:
        """What is older than `cutoff` and would be deleted."""
        ...

    async def apply(self, store: Store, ids: Sequence[str]) -> int:
        """Delete what `due` named; return how many went (gone meanwhile counts nothing)."""
        ...


@dataclass(frozen=True, slots=True)
class AgeRule:
    """Documents of one collection whose time field is older than the cutoff."""

    name: str
    category: Category
    collection: str
    field: str
    where: Mapping[str, Scalar] | None = None
    only: Callable[[Doc], bool] | None = None
    """Further condition on a document (e.g. a dead letter that is no longer open)."""

    async def due(self, store: Store, cutoff: datetime) -> Due:
        """Ids of the documents written before `cutoff`."""
        ids: list[str] = []
        async for record in store.scan(self.collection, self.where):
            stamp = instant(record.data.get(self.field))
            if stamp is None or stamp >= cutoff:
                continue
            if self.only is None or self.only(record.data):
                ids.append(record.id)
        return Due(tuple(ids))

    async def apply(self, store: Store, ids: Sequence[str]) -> int:
        """Delete them, a batch per unit of work (`now` is for rules that keep a time)."""
        deleted = 0
        for chunk in batched(ids, BATCH, strict=False):

            async def work(uow: UnitOfWork, chunk: tuple[str, ...] = chunk) -> int:
                return sum([await uow.delete(self.collection, doc_id) for doc_id in chunk])

            deleted += await store.with_transaction(work)
        return deleted


@dataclass(frozen=True, slots=True)
class Outcome:
    """One rule's result in a run or a dry run."""

    category: Category
    rule: str
    keep_days: int
    count: int
    """Deleted (a run) or that would be deleted (a dry run)."""
    withheld: int
    at: datetime
    """When the run was; for a dry run, the moment it looked ahead to."""
    trigger: str
    """`schedule`, `on-demand` or `dry-run`."""
    failed: str | None = None
    """The error type if the rule failed (the others still ran)."""

    def to_json(self) -> dict[str, Any]:
        """As the API answers it and the log stores it."""
        return {
            "category": self.category.value,
            "rule": self.rule,
            "keep_days": self.keep_days,
            "count": self.count,
            "withheld": self.withheld,
            "at": self.at.isoformat(timespec="microseconds"),
            "trigger": self.trigger,
            "failed": self.failed,
        }


def _now() -> datetime:
    return datetime.now(UTC)


class RetentionSchedule:
    """A service's rules, run on a schedule and on demand, with the deletion log."""

    def __init__(
        self,
        store: Store,
        *,
        policy: Policy,
        interval_seconds: float,
        service: str,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.store = store
        self.policy = policy
        self.interval_seconds = interval_seconds
        self.service = service
        self._clock = clock
        self._rules: list[Rule] = []
        self._lock = asyncio.Lock()

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules, in the order they run."""
        return tuple(self._rules)

    def add(self, rule: Rule) -> None:
        """Run `rule` from now on; its name must be new."""
        if any(r.name == rule.name for r in self._rules):
            raise ValueError(f"retention rule {rule.name} is declared twice")
        self._rules.append(rule)

    def keep_days(self, rule: Rule) -> int:
        """The rule's length in (retention) days."""
        return self.policy.keep_days[rule.category]

    async def preview(self, *, within_days: int = 0) -> list[Outcome]:
        """Dry run: what each rule would delete `within_days` from now, deleting nothing."""
        at = self._clock() + self.policy.day * within_days
        outcomes = []
        for rule in self._rules:
            due = await rule.due(self.store, at - self.policy.keep(rule.category))
            outcomes.append(self._outcome(rule, len(due.ids), due.withheld, at, "dry-run"))
        return outcomes

    async def run(self, *, trigger: str) -> list[Outcome]:
        """Run every rule now; log what each deleted. A failing rule does not stop the rest."""
        async with self._lock:
            now = self._clock()
            outcomes = []
            for rule in self._rules:
                try:
                    due = await rule.due(self.store, now - self.policy.keep(rule.category))
                    count = await rule.apply(self.store, due.ids) if due.ids else 0
                    outcome = self._outcome(rule, count, due.withheld, now, trigger)
                except Exception as exc:  # the other rules still run
                    log.exception("retention_rule_failed", rule=rule.name)
                    outcome = self._outcome(rule, 0, 0, now, trigger, failed=type(exc).__name__)
                outcomes.append(outcome)
                if outcome.count or outcome.failed:
                    await self._log(outcome)
            await self._note_run(now, trigger)
            deleted = {o.rule: o.count for o in outcomes if o.count}
            log.info("retention_ran", trigger=trigger, deleted=deleted)
            return outcomes

    async def run_forever(self) -> None:
        """Run the rules every interval until cancelled; a failed run is logged and retried."""
        while True:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self.run(trigger="schedule")
            except asyncio.CancelledError:
                raise
            except Exception:  # the schedule goes on (the store may be back)
                log.exception("retention_run_failed")

    def _outcome(
        self,
        rule: Rule,
        count: int,
        withheld: int,
        at: datetime,
        trigger: str,
        *,
        failed: str | None = None,
    ) -> Outcome:
        return Outcome(
            category=rule.category,
            rule=rule.name,
            keep_days=self.keep_days(rule),
            count=count,
            withheld=withheld,
            at=at,
            trigger=trigger,
            failed=failed,
        )

    async def _log(self, outcome: Outcome) -> None:
        async def work(uow: UnitOfWork) -> None:
            await uow.insert(RETENTION_LOG, str(uuid.uuid4()), outcome.to_json())

        await self.store.with_transaction(work)

    async def _note_run(self, now: datetime, trigger: str) -> None:
        data = {"at": now.isoformat(timespec="microseconds"), "trigger": trigger}

        async def work(uow: UnitOfWork) -> None:
            current = await uow.get(RETENTION_STATE, LAST_RUN)
            if current is None:
                await uow.insert(RETENTION_STATE, LAST_RUN, data)
            else:
                await uow.replace(RETENTION_STATE, LAST_RUN, data, expected_version=current.version)

        # Another process may note its run at the same moment: either note will do.
        with contextlib.suppress(StaleWriteError, DuplicateError):
            await self.store.with_transaction(work)

    async def last_run(self) -> dict[str, Any] | None:
        """When the rules last ran and what started it."""
        record = await self.store.get(RETENTION_STATE, LAST_RUN)
        return None if record is None else dict(record.data)

    async def deletion_log(self, *, limit: int) -> list[dict[str, Any]]:
        """The deletion log, newest first."""
        records = await self.store.find(
            RETENTION_LOG, None, order_by="at", descending=True, limit=limit
        )
        return [dict(r.data) for r in records]


async def prepare_retention(store: Store) -> None:
    """The deletion log's index."""
    await store.ensure_index(RETENTION_LOG, ["at"])
