"""Erasure of a family everywhere it lives (AVG art. 17, DESIGN decision 10): thin events.

Intake announces an approved erasure; every other service erases what it holds about the family
and confirms with its own event, carrying the same request id. Intake keeps a tombstone (ids and
dates, no personal data) and collects the confirmations. The events name ids only.
"""

from pydantic import Field

from alamal_contracts import topics
from alamal_contracts.events.base import EntityId, Event


class ErasureEvent(Event):
    """An event of the erasure workflow: it names the family and the erasure request only."""

    request_id: EntityId = Field(description="Id of the erasure request at intake.")


class FamilyErasureRequested(ErasureEvent):
    """An erasure of the family was approved (four eyes): every service must erase it."""

    TOPIC = topics.FAMILY_ERASURE_REQUESTED
    CE_TYPE = topics.event_type(TOPIC)


class CasesFamilyErased(ErasureEvent):
    """Cases erased everything it held about the family (cases, visits, plan, referrals)."""

    TOPIC = topics.CASES_FAMILY_ERASED
    CE_TYPE = topics.event_type(TOPIC)


class NotificationsFamilyErased(ErasureEvent):
    """Notifications erased the family's referral projection and those referrals' deliveries,
    after queueing the partners' `referral.erasure-requested` webhooks."""

    TOPIC = topics.NOTIFICATIONS_FAMILY_ERASED
    CE_TYPE = topics.event_type(TOPIC)


class ReportingFamilyErased(ErasureEvent):
    """Reporting removed the family's facts from its projection."""

    TOPIC = topics.REPORTING_FAMILY_ERASED
    CE_TYPE = topics.event_type(TOPIC)


CONFIRMATIONS: tuple[type[ErasureEvent], ...] = (
    CasesFamilyErased,
    NotificationsFamilyErased,
    ReportingFamilyErased,
)
"""The confirmation each service other than intake sends, one per service."""
