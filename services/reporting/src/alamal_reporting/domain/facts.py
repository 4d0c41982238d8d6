"""Facts the projection keeps per entity, and their commutative, idempotent merge (pure).

Each event becomes one fact document: a few named parts (e.g. a referral's `escalated` part and
its `status` part). Two facts about the same entity merge part by part, keeping for each part the
winner by a fixed ranking (latest timestamp, highest revision, ...) and, on a tie, the larger
canonical JSON. So merging is commutative, associative and idempotent: any order and any
duplication of the same events give the same stored facts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alamal_contracts.codes import ConsentPurpose, MemberRole
from alamal_contracts.events import (
    CaseClosed,
    CaseOpened,
    ConsentChanged,
    EventBase,
    FamilyReassigned,
    FamilyRegistered,
    GoalUpdated,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)

type Part = dict[str, Any]
type FactDoc = dict[str, Part]

FAMILIES = "rp-families"
CASES = "rp-cases"
VISITS = "rp-visits"
REFERRALS = "rp-referrals"
GOALS = "rp-goals"
COLLECTIONS = (FAMILIES, CASES, VISITS, REFERRALS, GOALS)

PARENT_ROLES = frozenset({MemberRole.MOTHER, MemberRole.FATHER})
CHILD_ROLES = frozenset({MemberRole.CHILD, MemberRole.YOUTH})


def stamp(moment: datetime) -> str:
    """A UTC instant as fixed-width text, so that text order is time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(text: str) -> datetime:
    """Read back a `stamp`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Fact:
    """One event's contribution to one stored entity."""

    collection: str
    entity_id: str
    parts: FactDoc


# Per part: the ranking (the larger wins) and whether the smaller wins instead.
_Rank = Callable[[Part], tuple[Any, ...]]
_RANKS: Mapping[str, tuple[_Rank, bool]] = {
    "reg": (lambda p: (p["registered_at"],), False),
    # On the same instant a withdrawal wins over a grant: the safe side for privacy.
    "consent": (lambda p: (p["at"], not p["granted"]), False),
    "assign": (lambda p: (p["at"],), False),
    "opened": (lambda p: (p["opened_at"],), False),
    "closed": (lambda p: (p["closed_at"],), False),
    "visit": (lambda p: (p["occurred_on"],), False),
    "escalated": (lambda p: (p["escalated_at"],), False),
    "status": (lambda p: (p["at"], p["status"]), False),
    # The first answer and the first acceptance count for the partner's timeliness.
    "answered": (lambda p: (p["at"],), True),
    "accepted": (lambda p: (p["at"],), True),
    "goal": (lambda p: (p["revision"], p["updated_at"], p["status"]), False),
}


def _canonical(part: Part) -> str:
    return json.dumps(part, sort_keys=True, separators=(",", ":"))


def _pick(name: str, a: Part, b: Part) -> Part:
    rank, smaller_wins = _RANKS[name]
    ka, kb = (rank(a), _canonical(a)), (rank(b), _canonical(b))
    if smaller_wins:
        return a if ka <= kb else b
    return a if ka >= kb else b


def family_of(collection: str, entity_id: str, doc: FactDoc) -> str | None:
    """The family a stored entity (or a fact) is about: a family's own id, else the
    `family_id` its parts carry (erasure finds and skips a family's facts by it)."""
    if collection == FAMILIES:
        return entity_id
    return next((p["family_id"] for p in doc.values() if "family_id" in p), None)


def merge(a: FactDoc, b: FactDoc) -> FactDoc:
    """Merge two facts about one entity, part by part (commutative and idempotent)."""
    merged: FactDoc = dict(a)
    for name, part in b.items():
        merged[name] = part if name not in merged else _pick(name, merged[name], part)
    return merged


def facts_of(event: EventBase) -> list[Fact]:
    """The facts one contract event contributes (none for events reporting does not use)."""
    match event:
        case FamilyRegistered():
            return [_registered(event)]
        case ConsentChanged(purpose=ConsentPurpose.REPORTING):
            consent = {"at": stamp(event.changed_at), "granted": event.granted}
            return [Fact(FAMILIES, event.family_id, {"consent": consent})]
        case FamilyReassigned():
            assign = {
                "at": stamp(event.reassigned_at),
                "trusted_person_id": event.trusted_person_id,
            }
            return [Fact(FAMILIES, event.family_id, {"assign": assign})]
        case CaseOpened():
            opened = {
                "family_id": event.family_id,
                "wijk": event.wijk.value,
                "opened_at": stamp(event.opened_at),
            }
            return [Fact(CASES, event.case_id, {"opened": opened})]
        case CaseClosed():
            closed = {
                "family_id": event.family_id,
                "closed_at": stamp(event.closed_at),
                "outcome_codes": sorted(event.outcome_codes),
            }
            return [Fact(CASES, event.case_id, {"closed": closed})]
        case VisitLogged():
            return [_visit(event)]
        case ReferralEscalated():
            return [_escalated(event)]
        case ReferralUpdated():
            return [_updated(event)]
        case GoalUpdated():
            goal = {
                "family_id": event.family_id,
                "case_id": event.case_id,
                "area": event.area.value,
                "status": event.status.value,
                "revision": event.revision,
                "updated_at": stamp(event.updated_at),
            }
            return [Fact(GOALS, event.goal_id, {"goal": goal})]
        case _:
            return []


def _registered(event: FamilyRegistered) -> Fact:
    children = sum(m.count for m in event.member_counts if m.role in CHILD_ROLES)
    parents = sum(m.count for m in event.member_counts if m.role in PARENT_ROLES)
    at = stamp(event.registered_at)
    reg = {
        "wijk": event.wijk.value,
        "projects": sorted(p.value for p in event.projects),
        "intake_source": event.intake_source.value,
        "children": children,
        "parents": parents,
        "registered_at": at,
    }
    # Absent means not granted (contract): the registration sets the consent as of its time.
    granted = any(c.purpose is ConsentPurpose.REPORTING and c.granted for c in event.consents)
    return Fact(FAMILIES, event.family_id, {"reg": reg, "consent": {"at": at, "granted": granted}})


def _visit(event: VisitLogged) -> Fact:
    visit = {
        "family_id": event.family_id,
        "case_id": event.case_id,
        "kind": event.kind.value,
        "occurred_on": event.occurred_on.isoformat(),
        "duration_minutes": event.duration_minutes,
        "topics": sorted(t.value for t in event.topic_codes),
        "trusted_person_id": event.trusted_person_id,
    }
    return Fact(VISITS, event.visit_id, {"visit": visit})


def _escalated(event: ReferralEscalated) -> Fact:
    escalated = {
        "family_id": event.family_id,
        "partner_kind": event.partner_kind.value,
        "urgency": event.urgency.value,
        "legal_basis": event.legal_basis.value,
        "escalated_at": stamp(event.escalated_at),
    }
    return Fact(REFERRALS, event.referral_id, {"escalated": escalated})


def _updated(event: ReferralUpdated) -> Fact:
    at = stamp(event.updated_at)
    status = {"family_id": event.family_id, "status": event.status.value, "at": at}
    parts: FactDoc = {"status": status, "answered": {"at": at}}
    if event.status.value == "accepted":
        parts["accepted"] = {"at": at}
    return Fact(REFERRALS, event.referral_id, parts)
