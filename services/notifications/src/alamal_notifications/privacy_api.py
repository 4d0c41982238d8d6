"""Notifications' privacy API: a family's referrals and deliveries, for the privacy officer."""

from __future__ import annotations

from alamal_notifications.privacy import export_family
from alamal_runtime.privacy import export_router

router = export_router(
    export_family,
    description="""The family's referrals as the partners saw them (partner name and kind),
every delivery of them (times, endpoints, states, answers' status codes; no bodies, no
secrets), the consent projection and notifications' access audit of the family (AVG art.
15).

Every role but the privacy officer gets 403, audited.""",
)
