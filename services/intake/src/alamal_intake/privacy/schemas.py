"""The privacy API's bodies: erasure requests and their status, search results for lookups."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from alamal_intake.domain import Family
from alamal_intake.privacy.domain import (
    CONFIRMING_SERVICES,
    ErasureBasis,
    ErasureReason,
    ErasureRequest,
    ErasureState,
)


class RequestErasureIn(BaseModel):
    """Ask to erase a family: which, how it came about, and on which legal ground (codes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family_id: uuid.UUID
    reason: ErasureReason
    basis: ErasureBasis


class ServiceStatus(BaseModel):
    """One service's part in an erasure."""

    service: str
    confirmed_at: datetime | None
    overdue: bool


class ErasureOut(BaseModel):
    """An erasure request, or the tombstone it became: ids, codes and dates only."""

    id: str
    family_id: str
    reason: ErasureReason
    basis: ErasureBasis
    state: ErasureState
    requested_by: str
    requested_at: datetime
    wijk: str | None
    decided_by: str | None
    decided_at: datetime | None
    completed_at: datetime | None
    services: list[ServiceStatus]
    """Per service: confirmed (when) or waiting, and whether it is past the alert time."""

    @classmethod
    def of(cls, request: ErasureRequest, *, overdue: tuple[str, ...] = ()) -> ErasureOut:
        """Build the response; `overdue` names the services past the alert time."""
        started = request.state in (ErasureState.ERASING, ErasureState.ERASED)
        return cls(
            id=request.id,
            family_id=request.family_id,
            reason=request.reason,
            basis=request.basis,
            state=request.state,
            requested_by=request.requested_by,
            requested_at=request.requested_at,
            wijk=request.wijk,
            decided_by=request.decided_by,
            decided_at=request.decided_at,
            completed_at=request.completed_at,
            services=[
                ServiceStatus(
                    service=s,
                    confirmed_at=request.confirmations.get(s),
                    overdue=s in overdue,
                )
                for s in CONFIRMING_SERVICES
            ]
            if started
            else [],
        )


class ErasuresOut(BaseModel):
    """A list of requests, newest first."""

    results: list[ErasureOut]


class FamilyMatchOut(BaseModel):
    """A family a privacy officer may be looking for: enough to tell families apart."""

    family_id: str
    wijk: str
    registered_at: datetime
    members: list[str]
    """Each member as `first name surname (birth year)`."""

    @classmethod
    def of(cls, family: Family) -> FamilyMatchOut:
        """Build the match from the family."""
        return cls(
            family_id=family.id,
            wijk=family.wijk.value,
            registered_at=family.registered_at,
            members=[
                " ".join(p for p in (m.first_name, m.surname) if p) + f" ({m.birth_year})"
                for m in family.members
            ],
        )


class FamilyMatchesOut(BaseModel):
    """Families whose members' names contain the text searched for."""

    results: list[FamilyMatchOut]
