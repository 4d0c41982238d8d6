"""Notifications' own consent gate: may this partner see a referral's details now?"""

from __future__ import annotations

from alamal_notifications import store as repo
from alamal_notifications.domain.referrals import (
    ReferralView,
    RegisteredPartner,
    may_see_details,
    share_purpose,
)


async def details_shared(reader: repo.Reader, view: ReferralView) -> bool:
    """Decide from notifications' partner record and consent projection, never the event's kind."""
    partner = await repo.get_partner(reader, view.partner_id)
    if partner is None:
        return False
    purpose = share_purpose(partner.kind)
    consent = None if purpose is None else await repo.get_consent(reader, view.family_id, purpose)
    return may_see_details(view, RegisteredPartner(partner.kind, partner.active), consent)
