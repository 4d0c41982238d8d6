"""Erasure requests, four eyes and legal holds (AVG art. 17). Pure: no I/O.

A privacy officer records a request with its reason and legal ground (codes, never free text:
what remains of an erasure must hold no personal data). Someone else approves it: a coordinator
of the family's wijk or another privacy officer, never the requester. A family under a legal
hold (a report to Veilig Thuis under the Meldcode must be kept, AVG art. 17(3)(b)) cannot be
erased; the hold's reason is shown. Once approved, intake erases its own data at once and waits
for every other service to confirm; the request is then the family's tombstone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

CONFIRMING_SERVICES: Final = ("intake", "cases", "notifications", "reporting")
"""Every service that holds data about a family; an erasure is complete when all confirmed."""


class ErasureReason(StrEnum):
    """How the erasure came about."""

    FAMILY_REQUEST = "family-request"
    RETENTION = "retention"
    PRIVACY_OFFICER = "privacy-officer"


class ErasureBasis(StrEnum):
    """The ground of AVG art. 17(1) the erasure rests on."""

    NO_LONGER_NECESSARY = "no-longer-necessary"
    CONSENT_WITHDRAWN = "consent-withdrawn"
    OBJECTION = "objection"
    UNLAWFUL_PROCESSING = "unlawful-processing"
    LEGAL_OBLIGATION = "legal-obligation"


class ErasureState(StrEnum):
    """Where a request stands."""

    REQUESTED = "requested"
    REJECTED = "rejected"
    ERASING = "erasing"
    ERASED = "erased"


class HoldReason(StrEnum):
    """Why a family's data must be kept despite a request (AVG art. 17(3))."""

    MELDCODE_REPORT = "meldcode-report"


class ErasureRefusedError(Exception):
    """The request cannot be made or decided; `code` says why (shown translated)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class LegalHold:
    """The family must be kept: a report to Veilig Thuis (ids only)."""

    family_id: str
    reason: HoldReason
    since: datetime
    referral_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """A request to erase a family; after approval, its tombstone (ids, codes and dates)."""

    id: str
    family_id: str
    reason: ErasureReason
    basis: ErasureBasis
    requested_by: str
    requested_at: datetime
    state: ErasureState = ErasureState.REQUESTED
    wijk: str | None = None
    """The family's wijk, to find the coordinators who may approve; dropped at approval."""
    decided_by: str | None = None
    decided_at: datetime | None = None
    confirmations: dict[str, datetime] = field(default_factory=dict)
    """Per service, when it confirmed that it erased the family."""
    completed_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Requested or being erased: no second request for the family meanwhile."""
        return self.state in (ErasureState.REQUESTED, ErasureState.ERASING)

    def waiting_for(self) -> tuple[str, ...]:
        """The services that have not confirmed yet."""
        if self.state is not ErasureState.ERASING:
            return ()
        return tuple(s for s in CONFIRMING_SERVICES if s not in self.confirmations)

    def overdue(self, now: datetime, within: timedelta) -> tuple[str, ...]:
        """The services that have not confirmed within `within` of the approval."""
        if self.decided_at is None or now - self.decided_at < within:
            return ()
        return self.waiting_for()


def request_erasure(
    *,
    request_id: str,
    family_id: str,
    wijk: str,
    reason: ErasureReason,
    basis: ErasureBasis,
    requested_by: str,
    now: datetime,
    open_requests: list[ErasureRequest],
    hold: LegalHold | None,
) -> ErasureRequest:
    """A new request; refused while the family is on hold or already has an open request."""
    check_no_hold(hold)
    if any(r.open for r in open_requests):
        raise ErasureRefusedError("pending", "the family already has an open erasure request")
    return ErasureRequest(
        id=request_id,
        family_id=family_id,
        reason=reason,
        basis=basis,
        requested_by=requested_by,
        requested_at=now,
        wijk=wijk,
    )


def check_no_hold(hold: LegalHold | None) -> None:
    """Refuse while a legal hold applies, naming its reason."""
    if hold is not None:
        raise ErasureRefusedError(
            f"legal-hold:{hold.reason.value}",
            "the family's data must be kept: a report to Veilig Thuis under the Meldcode"
            " (AVG art. 17(3)(b))",
        )


def _decidable(request: ErasureRequest) -> None:
    if request.state is not ErasureState.REQUESTED:
        raise ErasureRefusedError(
            f"not-{ErasureState.REQUESTED.value}", f"the request is {request.state.value}"
        )


def approve(
    request: ErasureRequest, *, by: str, now: datetime, hold: LegalHold | None
) -> ErasureRequest:
    """Four eyes: someone other than the requester approves; intake confirms its own part.

    Who may approve at all (role, wijk) is decided by the caller's access rules.
    """
    _decidable(request)
    if by == request.requested_by:
        raise ErasureRefusedError("four-eyes", "someone other than the requester must approve")
    check_no_hold(hold)
    return dataclasses.replace(
        request,
        state=ErasureState.ERASING,
        wijk=None,
        decided_by=by,
        decided_at=now,
        confirmations={"intake": now},
    )


def reject(request: ErasureRequest, *, by: str, now: datetime) -> ErasureRequest:
    """The approver says no, or the requester withdraws the request."""
    _decidable(request)
    return dataclasses.replace(
        request, state=ErasureState.REJECTED, wijk=None, decided_by=by, decided_at=now
    )


def confirm(request: ErasureRequest, service: str, *, at: datetime) -> ErasureRequest:
    """Note a service's confirmation (once); the erasure is complete when all confirmed."""
    if request.state is not ErasureState.ERASING or service in request.confirmations:
        return request
    if service not in CONFIRMING_SERVICES:
        raise ValueError(f"unknown service {service!r}")
    confirmations = {**request.confirmations, service: at}
    done = all(s in confirmations for s in CONFIRMING_SERVICES)
    return dataclasses.replace(
        request,
        confirmations=confirmations,
        state=ErasureState.ERASED if done else ErasureState.ERASING,
        completed_at=at if done else None,
    )
