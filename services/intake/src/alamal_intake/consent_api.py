"""Intake's consent API: record a family's answer for one purpose, read the history."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from alamal_intake import access
from alamal_intake.api import FAMILY_NOT_FOUND, SOURCE
from alamal_intake.audit import (
    DEFAULT_REASON,
    AccessAudit,
    AuditAction,
    AuditOutcome,
    audit,
    entry,
    write_audit,
)
from alamal_intake.consent import record_consent
from alamal_intake.deps import AccessReason, StoreDep
from alamal_intake.domain import Consent
from alamal_intake.schemas import ConsentOut, ConsentsOut, RecordConsentIn
from alamal_intake.store import get_family, load_family, replace_family
from alamal_runtime.auth import Principal
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import StaleWriteError, Store

ATTEMPTS = 2
"""A write that loses an optimistic-concurrency race is retried once, then answered with 409."""

router = APIRouter(prefix="/families", tags=["consents"])


@router.post(
    "/{family_id}/consents", status_code=status.HTTP_201_CREATED, response_model=ConsentOut
)
async def record(
    family_id: uuid.UUID,
    body: RecordConsentIn,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> ConsentOut:
    """Append the family's answer for one purpose and emit `intake.consent-changed.v1`.

    Every statement is a new record with its own event, even when it repeats the current answer
    (a fresh statement, often on a newer consent text): the history shows each time the family
    was asked. A withdrawal is a new record with `granted=false`; no record is ever edited.
    The family document is replaced at the version read; a lost race is retried once, then
    409 (not audited: nothing was read or written).
    """
    for _ in range(ATTEMPTS):
        try:
            consent = await _record_once(store, str(family_id), body, principal, reason)
        except StaleWriteError:
            continue
        if consent is None:
            await audit(
                store, _refused(principal, str(family_id), reason, AuditAction.RECORD_CONSENT)
            )
            raise HTTPProblem(404, FAMILY_NOT_FOUND)
        response.headers["Location"] = f"/families/{family_id}/consents"
        return ConsentOut.of(consent)
    raise HTTPProblem(409, "the family changed at the same time; read it again and retry")


async def _record_once(
    store: Store, family_id: str, body: RecordConsentIn, principal: Principal, reason: str
) -> Consent | None:
    """One optimistic attempt: the new record, or None when missing or out of scope."""
    async with store.transaction() as uow:
        loaded = await load_family(uow, family_id)
        if loaded is None or not access.may_record_consent(principal, loaded.family):
            return None
        now = datetime.now(UTC)
        family, consent, event = record_consent(
            loaded.family, body.to_command(), recorded_by=principal.user_id, now=now
        )
        await replace_family(uow, family, expected_version=loaded.version)
        emit(uow, event, source=SOURCE)
        await write_audit(
            uow,
            entry(
                principal,
                action=AuditAction.RECORD_CONSENT,
                family_id=family_id,
                outcome=AuditOutcome.ALLOWED,
                reason=reason,
                now=now,
            ),
        )
        return consent


@router.get("/{family_id}/consents", response_model=ConsentsOut)
async def read(
    family_id: uuid.UUID,
    principal: CurrentPrincipal,
    store: StoreDep,
    reason: AccessReason = DEFAULT_REASON,
) -> ConsentsOut:
    """The current answer per purpose and the full history; 404 like GET /families/{id}."""
    family = await get_family(store, str(family_id))
    if family is None or not access.may_read(principal, family):
        await audit(store, _refused(principal, str(family_id), reason, AuditAction.READ_CONSENTS))
        raise HTTPProblem(404, FAMILY_NOT_FOUND)
    allowed = entry(
        principal,
        action=AuditAction.READ_CONSENTS,
        family_id=family.id,
        outcome=AuditOutcome.ALLOWED,
        reason=reason,
        now=datetime.now(UTC),
    )
    await audit(store, allowed)
    return ConsentsOut.of(family)


def _refused(principal: Principal, family_id: str, reason: str, action: AuditAction) -> AccessAudit:
    return entry(
        principal,
        action=action,
        family_id=family_id,
        outcome=AuditOutcome.DENIED_OR_MISSING,
        reason=reason,
        now=datetime.now(UTC),
    )
