"""Retention schedule: rules by age on a compressed clock, the dry run, the deletion log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alamal_runtime.retention import (
    RETENTION_LOG,
    AgeRule,
    Category,
    Due,
    Policy,
    RetentionSchedule,
    instant,
)
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Store]:
    store = SqliteStore(tmp_path / "retention.sqlite3")
    await store.open()
    yield store
    await store.close()


async def _seed(store: Store, collection: str, docs: dict[str, dict[str, object]]) -> None:
    async with store.transaction() as uow:
        for doc_id, data in docs.items():
            await uow.insert(collection, doc_id, data)


def _schedule(store: Store, **keep: int) -> RetentionSchedule:
    overrides = {Category(k.replace("_", "-")): v for k, v in keep.items()}
    return RetentionSchedule(
        store,
        policy=Policy.of(day_seconds=DAY.total_seconds(), overrides=overrides),
        interval_seconds=3600,
        service="svc",
        clock=lambda: NOW,
    )


def _at(days_ago: float) -> str:
    return (NOW - DAY * days_ago).isoformat(timespec="microseconds")


async def test_an_age_rule_deletes_only_what_is_older_than_its_category_and_logs_it(
    sqlite: Store,
) -> None:
    await _seed(
        sqlite,
        "attempts",
        {
            "old-iso": {"at": _at(91)},
            "old-epoch": {"at": (NOW - DAY * 100).timestamp()},
            "young": {"at": _at(89)},
            "no-time": {"status": 200},
        },
    )
    schedule = _schedule(sqlite)  # delivery logs: 90 days by default
    schedule.add(AgeRule("svc.attempts", Category.DELIVERY_LOGS, "attempts", "at"))

    [outcome] = await schedule.run(trigger="on-demand")

    assert (outcome.rule, outcome.count, outcome.keep_days) == ("svc.attempts", 2, 90)
    left = {r.id for r in await sqlite.find("attempts", None, limit=10)}
    assert left == {"young", "no-time"}
    [logged] = [r.data for r in await sqlite.find(RETENTION_LOG, None, limit=10)]
    assert logged == outcome.to_json()
    assert logged["category"] == "delivery-logs"
    assert logged["trigger"] == "on-demand"
    assert set(logged) == {
        "category",
        "rule",
        "keep_days",
        "count",
        "withheld",
        "at",
        "trigger",
        "failed",
    }  # counts, names and times: nothing of what was deleted
    assert (await schedule.last_run()) == {
        "at": NOW.isoformat(timespec="microseconds"),
        "trigger": "on-demand",
    }


async def test_a_run_that_deletes_nothing_leaves_no_log_entry_and_the_override_counts(
    sqlite: Store,
) -> None:
    await _seed(sqlite, "attempts", {"a": {"at": _at(20)}})
    schedule = _schedule(sqlite, delivery_logs=30)
    schedule.add(AgeRule("svc.attempts", Category.DELIVERY_LOGS, "attempts", "at"))
    [outcome] = await schedule.run(trigger="schedule")
    assert outcome.count == 0
    assert outcome.keep_days == 30
    assert await sqlite.find(RETENTION_LOG, None, limit=10) == []
    assert await sqlite.get("attempts", "a") is not None


async def test_the_dry_run_lists_what_a_run_then_deletes_and_deletes_nothing(
    sqlite: Store,
) -> None:
    await _seed(
        sqlite,
        "letters",
        {
            "closed-old": {"at": _at(95), "state": "resolved"},
            "open-old": {"at": _at(95), "state": "open"},
            "closed-soon": {"at": _at(80), "state": "replayed"},
        },
    )
    schedule = _schedule(sqlite)
    schedule.add(
        AgeRule(
            "svc.dead-letters",
            Category.DEAD_LETTERS,
            "letters",
            "at",
            only=lambda d: d["state"] != "open",
        )
    )

    [now] = await schedule.preview()
    [in_a_month] = await schedule.preview(within_days=30)
    assert (now.count, now.trigger) == (1, "dry-run")
    assert in_a_month.count == 2
    assert in_a_month.at == NOW + 30 * DAY
    assert len(await sqlite.find("letters", None, limit=10)) == 3  # the dry run deleted nothing
    assert await sqlite.find(RETENTION_LOG, None, limit=10) == []

    [ran] = await schedule.run(trigger="on-demand")
    assert ran.count == now.count
    left = {r.id for r in await sqlite.find("letters", None, limit=10)}
    assert left == {"open-old", "closed-soon"}  # an open letter waits for an operator


class _Broken:
    name = "svc.broken"
    category = Category.AUDIT_RECORDS

    async def due(self, store: Store, cutoff: datetime) -> Due:
        raise RuntimeError("store went away")

    async def apply(self, store: Store, ids: Sequence[str]) -> int:
        raise AssertionError("never reached")


async def test_a_failing_rule_is_logged_as_failed_and_the_others_still_run(sqlite: Store) -> None:
    await _seed(sqlite, "attempts", {"old": {"at": _at(400)}})
    schedule = _schedule(sqlite)
    schedule.add(_Broken())
    schedule.add(AgeRule("svc.attempts", Category.DELIVERY_LOGS, "attempts", "at"))
    broken, ran = await schedule.run(trigger="schedule")
    assert (broken.failed, broken.count) == ("RuntimeError", 0)
    assert ran.count == 1
    log = await schedule.deletion_log(limit=10)
    assert sorted((e["rule"], e["count"], e["failed"]) for e in log) == [
        ("svc.attempts", 1, None),
        ("svc.broken", 0, "RuntimeError"),
    ]


async def test_the_compressed_clock_makes_a_day_as_long_as_the_setting_says(
    sqlite: Store,
) -> None:
    now = datetime.now(UTC)
    await _seed(
        sqlite,
        "attempts",
        {
            "two-seconds": {"at": (now - timedelta(seconds=2)).isoformat()},
            "now": {"at": now.isoformat()},
        },
    )
    settings = ServiceSettings(
        store_url="sqlite:///unused",
        kafka_bootstrap="127.0.0.1:9092",
        token_public_key="unused",
        retention_day_seconds=0.01,
        retention_keep_days={"delivery-logs": 100},  # 100 days of 10 ms: one second
    )
    schedule = RetentionSchedule(
        sqlite,
        policy=Policy.of(
            day_seconds=settings.retention_day_seconds, overrides=settings.retention_keep_days
        ),
        interval_seconds=1,
        service="svc",
    )
    schedule.add(AgeRule("svc.attempts", Category.DELIVERY_LOGS, "attempts", "at"))
    [outcome] = await schedule.run(trigger="on-demand")
    assert outcome.count == 1
    assert await sqlite.get("attempts", "now") is not None


def test_settings_refuse_an_unknown_category_and_a_length_out_of_range() -> None:
    base = {"store_url": "sqlite:///x", "kafka_bootstrap": "h:1", "token_public_key": "k"}
    with pytest.raises(ValueError, match="retention_keep_days"):
        ServiceSettings(**base, retention_keep_days={"everything": 1})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="closed-case must be 1 to 36600 days"):
        ServiceSettings(**base, retention_keep_days={"closed-case": 0})  # type: ignore[arg-type]


def test_instant_reads_iso_text_and_epoch_seconds_and_nothing_else() -> None:
    assert instant("2026-12-01T12:00:00+00:00") == NOW
    assert instant("2026-12-01T12:00:00") == NOW  # naive text is UTC
    assert instant(NOW.timestamp()) == NOW
    assert instant(None) is None
    assert instant("yesterday") is None
    assert instant(True) is None
