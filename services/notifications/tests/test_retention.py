"""Notifications' retention: old delivery attempts and delivered messages go; the rest stays."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alamal_notifications.messages import (
    ATTEMPTS,
    MESSAGES,
    Attempt,
    Message,
    State,
    attempt_doc,
    message_doc,
)
from alamal_notifications.retention import RULES
from alamal_runtime.retention import Policy, RetentionSchedule
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    sqlite = SqliteStore(tmp_path / "notifications.sqlite3")
    await sqlite.open()
    yield sqlite
    await sqlite.close()


def _message(state: State, days_ago: int) -> Message:
    made = (NOW - timedelta(days=days_ago)).timestamp()
    return Message(
        id=f"msg_{state.value}_{days_ago}",
        endpoint_id="ep",
        partner_id="p",
        event_type="referral.sent",
        referral_id="r",
        body="{}",
        state=state,
        attempts=1,
        next_attempt_at=made,
        created_at=made,
    )


def _attempt(days_ago: int) -> Attempt:
    return Attempt(
        id=f"att_{days_ago}",
        endpoint_id="ep",
        message_id="m",
        at=(NOW - timedelta(days=days_ago)).timestamp(),
        status_code=200,
        latency_ms=3.0,
        error=None,
        response_excerpt="",
        trigger="event",
    )


async def test_delivery_log_and_delivered_messages_go_after_90_days_undelivered_ones_stay(
    store: Store,
) -> None:
    messages = [
        _message(State.DELIVERED, 91),
        _message(State.DELIVERED, 10),
        _message(State.FAILED, 200),  # waits for an operator's resend
        _message(State.PENDING, 200),
    ]
    async with store.transaction() as uow:
        for message in messages:
            await uow.insert(MESSAGES, message.id, message_doc(message))
        for attempt in (_attempt(91), _attempt(89)):
            await uow.insert(ATTEMPTS, attempt.id, attempt_doc(attempt))
    schedule = RetentionSchedule(
        store,
        policy=Policy.of(day_seconds=86_400, overrides={}),
        interval_seconds=3600,
        service="notifications",
        clock=lambda: NOW,
    )
    for rule in RULES:
        schedule.add(rule)

    preview = {o.rule: o.count for o in await schedule.preview()}
    ran = {o.rule: o.count for o in await schedule.run(trigger="schedule")}

    assert (
        preview
        == ran
        == {
            "notifications.delivery-attempts": 1,
            "notifications.delivered-messages": 1,
        }
    )
    left = {r.id for r in await store.find(MESSAGES, None, limit=10)}
    assert left == {"msg_delivered_10", "msg_failed_200", "msg_pending_200"}
    assert [r.id for r in await store.find(ATTEMPTS, None, limit=10)] == ["att_89"]
