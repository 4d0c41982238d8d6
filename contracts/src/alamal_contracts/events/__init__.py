"""Event models, one per topic, and the registries that find a model by topic or type."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from alamal_contracts.events.base import (
    EntityId,
    Event,
    EventBase,
    OperationalEvent,
    Part,
    Timestamp,
)
from alamal_contracts.events.cases import (
    CaseClosed,
    CaseOpened,
    GoalUpdated,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)
from alamal_contracts.events.erasure import (
    CONFIRMATIONS,
    CasesFamilyErased,
    ErasureEvent,
    FamilyErasureRequested,
    NotificationsFamilyErased,
    ReportingFamilyErased,
)
from alamal_contracts.events.intake import (
    ConsentChanged,
    ConsentFlag,
    FamilyReassigned,
    FamilyRegistered,
    MemberCount,
)
from alamal_contracts.events.notifications import (
    EndpointDisabled,
    PartnerChanged,
    PartnerFact,
    PartnerRegistered,
    PartnerStatusReported,
)

EVENT_MODELS: Final[tuple[type[EventBase], ...]] = (
    FamilyRegistered,
    ConsentChanged,
    FamilyReassigned,
    CaseOpened,
    CaseClosed,
    VisitLogged,
    ReferralEscalated,
    ReferralUpdated,
    GoalUpdated,
    PartnerStatusReported,
    EndpointDisabled,
    FamilyErasureRequested,
    CasesFamilyErased,
    NotificationsFamilyErased,
    ReportingFamilyErased,
    PartnerRegistered,
    PartnerChanged,
)

EVENTS: Final[Mapping[str, type[EventBase]]] = MappingProxyType({m.TOPIC: m for m in EVENT_MODELS})
"""Event model by Kafka topic (read-only)."""

EVENTS_BY_TYPE: Final[Mapping[str, type[EventBase]]] = MappingProxyType(
    {m.CE_TYPE: m for m in EVENT_MODELS}
)
"""Event model by CloudEvents `type` (read-only)."""

__all__ = [
    "CONFIRMATIONS",
    "EVENTS",
    "EVENTS_BY_TYPE",
    "EVENT_MODELS",
    "CaseClosed",
    "CaseOpened",
    "CasesFamilyErased",
    "ConsentChanged",
    "ConsentFlag",
    "EndpointDisabled",
    "EntityId",
    "ErasureEvent",
    "Event",
    "EventBase",
    "FamilyErasureRequested",
    "FamilyReassigned",
    "FamilyRegistered",
    "GoalUpdated",
    "MemberCount",
    "NotificationsFamilyErased",
    "OperationalEvent",
    "Part",
    "PartnerChanged",
    "PartnerFact",
    "PartnerRegistered",
    "PartnerStatusReported",
    "ReferralEscalated",
    "ReferralUpdated",
    "ReportingFamilyErased",
    "Timestamp",
    "VisitLogged",
]
