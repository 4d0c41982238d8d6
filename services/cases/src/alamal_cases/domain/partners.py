"""Partners as cases knows them: projected from notifications' partner facts. Pure.

Notifications owns partners; cases keeps, per partner, the fact with the highest revision
(notifications counts a partner's kind and active changes). Merging is commutative and
idempotent, so facts arriving twice, out of order, or before any referral give one final
state. A request never tells cases a partner's kind: the consent gate uses the kind here.

When a partner's registered kind changes after referrals exist:
- a referral not sent yet keeps the kind it was proposed under, and cannot be sent (409): the
  approval, consent check and any Meldcode override were for the old kind, so staff propose it
  again to the partner under its new kind;
- a referral already sent is not changed; what the partner may read through the partner API is
  decided by notifications on the partner's kind as registered now.
A deactivated partner gets no new referrals (422 on `partner_id`) and none is sent to it (409).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from alamal_contracts.codes import PartnerKind
from alamal_contracts.events import PartnerFact


@dataclass(frozen=True, slots=True)
class PartnerStanding:
    """One partner's registered kind and active flag, as of `revision`."""

    partner_id: str
    kind: PartnerKind
    active: bool
    revision: int
    changed_at: datetime


def from_fact(fact: PartnerFact) -> PartnerStanding:
    """The standing a partner fact tells."""
    return PartnerStanding(
        partner_id=fact.partner_id,
        kind=fact.kind,
        active=fact.active,
        revision=fact.revision,
        changed_at=fact.changed_at,
    )


def _rank(standing: PartnerStanding) -> tuple[int, datetime, bool, str]:
    # Revisions are unique per partner; the rest only makes a (never expected) tie
    # deterministic, preferring the inactive reading.
    return (standing.revision, standing.changed_at, not standing.active, standing.kind.value)


def newer(current: PartnerStanding | None, incoming: PartnerStanding) -> PartnerStanding:
    """The standing that wins: the highest revision."""
    if current is None or _rank(incoming) > _rank(current):
        return incoming
    return current


def merge(
    facts: Iterable[PartnerStanding], into: Mapping[str, PartnerStanding] | None = None
) -> dict[str, PartnerStanding]:
    """Fold standings into the current one per partner, in any order, repeats harmless."""
    current = dict(into or {})
    for fact in facts:
        current[fact.partner_id] = newer(current.get(fact.partner_id), fact)
    return current
