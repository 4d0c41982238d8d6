"""Event subscribers: every consumed event merges its facts into the projection."""

from __future__ import annotations

from typing import Any

from opentelemetry.metrics import Meter

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.topics import (
    CASE_CLOSED,
    CASE_OPENED,
    CONSENT_CHANGED,
    FAMILY_REASSIGNED,
    FAMILY_REGISTERED,
    GOAL_UPDATED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    VISIT_LOGGED,
)
from alamal_reporting import ledger, store
from alamal_reporting.domain.facts import facts_of
from alamal_runtime.store import UnitOfWork

CONSUMED_TOPICS = (
    FAMILY_REGISTERED,
    CONSENT_CHANGED,
    FAMILY_REASSIGNED,
    CASE_OPENED,
    CASE_CLOSED,
    VISIT_LOGGED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    GOAL_UPDATED,
)


class Projector:
    """Merges each event's facts inside the consumer's unit of work and counts it."""

    def __init__(self, meter: Meter) -> None:
        self._projected = meter.create_counter(
            "reporting.events.projected",
            unit="{event}",
            description="Events merged into the reporting projection",
        )

    async def __call__(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Handle one event (the runtime has already claimed its id in the inbox)."""
        await store.apply(uow, facts_of(event.data))
        await ledger.record(uow, event)
        self._projected.add(1, {"event.type": event.type})
