"""Notifications' retention rules: the delivery log and delivered webhook messages.

An attempt (status, latency, an excerpt of the receiver's answer) and a delivered message (the
signed body: ids and codes) are kept for `delivery-logs` days after they were made, long
enough to answer a partner's "did you send it?"; a message not yet delivered (pending, or
failed and waiting for an operator's resend) stays. Lengths and reasoning: docs/retention.md.
"""

from __future__ import annotations

from alamal_notifications.messages import ATTEMPTS, MESSAGES, State
from alamal_runtime.retention import AgeRule, Category

RULES = (
    AgeRule(
        name="notifications.delivery-attempts",
        category=Category.DELIVERY_LOGS,
        collection=ATTEMPTS,
        field="at",
    ),
    AgeRule(
        name="notifications.delivered-messages",
        category=Category.DELIVERY_LOGS,
        collection=MESSAGES,
        field="created_at",
        where={"state": State.DELIVERED.value},
    ),
)
