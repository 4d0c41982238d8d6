"""Assign a family's trusted person (and the father's, in Tussen In): coordinators only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response

from alamal_intake import access
from alamal_intake.api import FAMILY_NOT_FOUND, SOURCE, etag
from alamal_intake.audit import DEFAULT_REASON, AuditAction, AuditOutcome, audit, entry, write_audit
from alamal_intake.deps import AccessReason, StoreDep
from alamal_intake.domain import AssignmentError, Family, reassign
from alamal_intake.family_api import STALE, Refused
from alamal_intake.family_schemas import AssignmentsOut, ReassignIn
from alamal_intake.store import load_family, replace_family
from alamal_runtime.auth import Principal
from alamal_runtime.events import emit
from alamal_runtime.http import CurrentPrincipal, HTTPProblem, field_error
from alamal_runtime.store import StaleWriteError, Store

router = APIRouter(prefix="/families", tags=["assignment"])


@router.post("/{family_id}/assignment", response_model=AssignmentsOut)
async def assign(
    family_id: uuid.UUID,
    body: ReassignIn,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    reason: AccessReason = DEFAULT_REASON,
) -> AssignmentsOut:
    """Change who supports the family; each change is kept in its history and announced.

    A coordinator of the family's wijk only: a trusted person who can see the family gets 403,
    anyone else 404. A change emits `intake.family-reassigned.v1` (ids only); naming the
    people already assigned changes nothing and emits nothing. A father's trusted person
    needs a father in the project Tussen In (422).
    """
    try:
        family, version = await _assign_once(store, str(family_id), body, principal, reason)
    except StaleWriteError:
        raise HTTPProblem(409, STALE) from None
    except AssignmentError as error:
        raise field_error("father_trusted_person_id", str(error)) from None
    except Refused as refused:
        await audit(
            store,
            entry(
                principal,
                action=AuditAction.ASSIGN_FAMILY,
                family_id=str(family_id),
                outcome=AuditOutcome.DENIED_OR_MISSING,
                reason=reason,
                now=datetime.now(UTC),
            ),
        )
        raise HTTPProblem(refused.status_code, refused.detail) from None
    response.headers["ETag"] = etag(version)
    return AssignmentsOut.of(family)


async def _assign_once(
    store: Store, family_id: str, body: ReassignIn, principal: Principal, reason: str
) -> tuple[Family, int]:
    """Apply the assignment in one unit of work: family, history, event and audit together."""
    async with store.transaction() as uow:
        loaded = await load_family(uow, family_id)
        if loaded is None or not access.may_read(principal, loaded.family):
            raise Refused(404, FAMILY_NOT_FOUND)
        if not access.may_assign(principal, loaded.family):
            raise Refused(403, "only a coordinator of the family's wijk assigns trusted persons")
        now = datetime.now(UTC)
        family, event = reassign(
            loaded.family, body.to_command(), assigned_by=principal.user_id, now=now
        )
        if event is None:
            return family, loaded.version
        version = await replace_family(uow, family, expected_version=loaded.version)
        emit(uow, event, source=SOURCE)
        await write_audit(
            uow,
            entry(
                principal,
                action=AuditAction.ASSIGN_FAMILY,
                family_id=family_id,
                outcome=AuditOutcome.ALLOWED,
                reason=reason,
                now=now,
            ),
        )
    return family, version
