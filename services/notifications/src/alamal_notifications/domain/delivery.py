"""Subscriptions, webhook payloads and the retry schedule (pure: no I/O, no clock of its own)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from alamal_contracts.codes import Urgency
from alamal_notifications.domain.referrals import ReferralView


class EventType(StrEnum):
    """The event types a partner endpoint may subscribe to."""

    REFERRAL_ESCALATED = "referral.escalated"
    REFERRAL_UPDATED = "referral.updated"


TEST_EVENT_TYPE = "webhook.test"
"""The type of the signed test delivery sent when an endpoint is created."""


class FilterField(StrEnum):
    """Fields an endpoint may filter on."""

    URGENCY = "urgency"


FILTER_VALUES: Mapping[FilterField, frozenset[str]] = {
    FilterField.URGENCY: frozenset(u.value for u in Urgency),
}


@dataclass(frozen=True, slots=True)
class Subscription:
    """What an endpoint wants: event types, and per filter field the values that match."""

    event_types: frozenset[EventType]
    filters: Mapping[FilterField, frozenset[str]]

    def matches(self, event_type: EventType, view: ReferralView, *, details_shared: bool) -> bool:
        """Whether an event about `view` goes to this endpoint (unknown values never match).

        Filters on gated fields (urgency) apply only while the partner may see the details:
        otherwise every subscribed endpoint gets the message, so receiving it (or not) on an
        `urgency: [acute]` endpoint never tells the partner what the gate hides.
        """
        if event_type not in self.event_types:
            return False
        if not details_shared:
            return True
        for field, allowed in self.filters.items():
            if field is FilterField.URGENCY:
                value = None if view.urgency is None else view.urgency.value
                if value not in allowed:
                    return False
        return True


def payload(
    event_type: str, view: ReferralView, *, details_url: str, at: datetime
) -> dict[str, object]:
    """The thin webhook body: type, referral and partner ids, status and where to read the
    rest. Nothing the consent gate guards (urgency, reasons, basis) and no id shared between
    referrals (no case or family id): those are read through the partner API, gated."""
    return {
        "type": event_type,
        "timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "referral_id": view.referral_id,
            "partner_id": view.partner_id,
            # `referral.escalated` announces the sending, documented as always `sent`, even
            # when a later status (accepted, declined) reached this projection first: the
            # current status is read through the partner API or comes as `referral.updated`.
            "status": "sent" if event_type == EventType.REFERRAL_ESCALATED else view.status,
            "url": details_url,
        },
    }


def encode(body: Mapping[str, object]) -> str:
    """The exact body text that is signed and sent (the same bytes on every attempt)."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True)


def retry_delay(
    attempts_made: int,
    schedule: Sequence[float],
    *,
    jitter: float,
    rng: random.Random,
    retry_after: float | None = None,
    retry_after_cap: float,
) -> float | None:
    """Seconds until the next attempt after `attempts_made` failures; None when exhausted.

    Jitter spreads retries (+- the fraction) so endpoints that failed together do not all
    retry together; a `Retry-After` asks for at least that long, up to the cap.
    """
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = base * (1 + rng.uniform(-jitter, jitter))
    if retry_after is not None:
        delay = max(delay, min(retry_after, retry_after_cap))
    return max(delay, 0.0)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None if unusable."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def is_success(status_code: int | None) -> bool:
    """Only a 2xx counts as delivered (a redirect is a failure: it is never followed)."""
    return status_code is not None and 200 <= status_code < 300
