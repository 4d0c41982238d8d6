"""Kafka topic names, `<producer>.<event>.v<N>`, and the CloudEvents types derived from them."""

import re
from typing import Final

TOPIC_PATTERN: Final = re.compile(r"^[a-z][a-z0-9-]*\.[a-z][a-z0-9-]*\.v[1-9][0-9]*$")
CE_TYPE_PREFIX: Final = "nl.alamal."

FAMILY_REGISTERED: Final = "intake.family-registered.v1"
CONSENT_CHANGED: Final = "intake.consent-changed.v1"
FAMILY_REASSIGNED: Final = "intake.family-reassigned.v1"
CASE_OPENED: Final = "cases.case-opened.v1"
CASE_CLOSED: Final = "cases.case-closed.v1"
VISIT_LOGGED: Final = "cases.visit-logged.v1"
REFERRAL_ESCALATED: Final = "cases.referral-escalated.v1"
REFERRAL_UPDATED: Final = "cases.referral-updated.v1"
GOAL_UPDATED: Final = "cases.goal-updated.v1"
PARTNER_STATUS_REPORTED: Final = "notifications.partner-status-reported.v1"
ENDPOINT_DISABLED: Final = "notifications.endpoint-disabled.v1"
FAMILY_ERASURE_REQUESTED: Final = "intake.family-erasure-requested.v1"
CASES_FAMILY_ERASED: Final = "cases.family-erased.v1"
NOTIFICATIONS_FAMILY_ERASED: Final = "notifications.family-erased.v1"
REPORTING_FAMILY_ERASED: Final = "reporting.family-erased.v1"
PARTNER_REGISTERED: Final = "notifications.partner-registered.v1"
PARTNER_CHANGED: Final = "notifications.partner-changed.v1"

ALL_EVENT_TOPICS: Final[tuple[str, ...]] = (
    FAMILY_REGISTERED,
    CONSENT_CHANGED,
    FAMILY_REASSIGNED,
    CASE_OPENED,
    CASE_CLOSED,
    VISIT_LOGGED,
    REFERRAL_ESCALATED,
    REFERRAL_UPDATED,
    GOAL_UPDATED,
    PARTNER_STATUS_REPORTED,
    ENDPOINT_DISABLED,
    FAMILY_ERASURE_REQUESTED,
    CASES_FAMILY_ERASED,
    NOTIFICATIONS_FAMILY_ERASED,
    REPORTING_FAMILY_ERASED,
    PARTNER_REGISTERED,
    PARTNER_CHANGED,
)

_SERVICE_PATTERN: Final = re.compile(r"^[a-z][a-z0-9-]*$")


def dead_letter_topic(consumer_service: str) -> str:
    """Name the dead-letter topic of a consuming service, e.g. `cases.dead-letter.v1`."""
    if not _SERVICE_PATTERN.fullmatch(consumer_service):
        raise ValueError("a service name is lowercase letters, digits and hyphens")
    return f"{consumer_service}.dead-letter.v1"


def event_type(topic: str) -> str:
    """Return the CloudEvents `type` of a topic's events: `nl.alamal.` + topic."""
    if not TOPIC_PATTERN.fullmatch(topic):
        raise ValueError("a topic is named <producer>.<event>.v<N>")
    return CE_TYPE_PREFIX + topic


def producer_of(topic: str) -> str:
    """Return the producing service of a topic, e.g. `intake` for `intake.family-registered.v1`."""
    if not TOPIC_PATTERN.fullmatch(topic):
        raise ValueError("a topic is named <producer>.<event>.v<N>")
    return topic.split(".", 1)[0]
