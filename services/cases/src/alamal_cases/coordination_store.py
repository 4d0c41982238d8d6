"""Queries the coordination views need beyond the per-case ones: referrals by state."""

from __future__ import annotations

from alamal_cases.domain.referrals import Referral, ReferralState
from alamal_cases.referral_store import REFERRALS, referral_from_record
from alamal_cases.store import MAX_SCAN
from alamal_runtime.store import Store


async def referrals_in_state(store: Store, state: ReferralState) -> list[Referral]:
    """Every referral in one state (the inbox filters them by the caller's cases)."""
    records = await store.find(
        REFERRALS, {"state": state.value}, order_by="proposed_at", limit=MAX_SCAN
    )
    return [referral_from_record(r) for r in records]


async def prepare(store: Store) -> None:
    """The index the approvals inbox reads by."""
    await store.ensure_index(REFERRALS, ["state", "proposed_at"])
