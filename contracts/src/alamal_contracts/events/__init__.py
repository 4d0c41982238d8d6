"""Event models, one per topic, and the registries that find a model by topic or type."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from alamal_contracts.events.base import EntityId, Event, Part, Timestamp
from alamal_contracts.events.cases import (
    CaseClosed,
    CaseOpened,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)
from alamal_contracts.events.intake import (
    ConsentChanged,
    ConsentFlag,
    FamilyReassigned,
    FamilyRegistered,
    MemberCount,
)

EVENT_MODELS: Final[tuple[type[Event], ...]] = (
    FamilyRegistered,
    ConsentChanged,
    FamilyReassigned,
    CaseOpened,
    CaseClosed,
    VisitLogged,
    ReferralEscalated,
    ReferralUpdated,
)

EVENTS: Final[Mapping[str, type[Event]]] = MappingProxyType({m.TOPIC: m for m in EVENT_MODELS})
"""Event model by Kafka topic (read-only)."""

EVENTS_BY_TYPE: Final[Mapping[str, type[Event]]] = MappingProxyType(
    {m.CE_TYPE: m for m in EVENT_MODELS}
)
"""Event model by CloudEvents `type` (read-only)."""

__all__ = [
    "EVENTS",
    "EVENTS_BY_TYPE",
    "EVENT_MODELS",
    "CaseClosed",
    "CaseOpened",
    "ConsentChanged",
    "ConsentFlag",
    "EntityId",
    "Event",
    "FamilyReassigned",
    "FamilyRegistered",
    "MemberCount",
    "Part",
    "ReferralEscalated",
    "ReferralUpdated",
    "Timestamp",
    "VisitLogged",
]
