"""Change a family's details under optimistic concurrency (ETag / If-Match), and search."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Response
from fastapi.exceptions import RequestValidationError

from alamal_contracts.codes import Wijk
from alamal_intake import access
from alamal_intake.api import FAMILY_NOT_FOUND, etag
from alamal_intake.audit import DEFAULT_REASON, AuditAction, AuditOutcome, audit, entry, write_audit
from alamal_intake.deps import AccessReason, StoreDep
from alamal_intake.domain import Family, update_family
from alamal_intake.family_schemas import FamilySummaryOut, SearchOut, UpdateFamilyIn
from alamal_intake.schemas import FamilyOut
from alamal_intake.search import BadCursorError, decode_cursor, paginate
from alamal_intake.store import load_family, replace_family, search_candidates
from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import Doc, StaleWriteError, Store

router = APIRouter(prefix="/families", tags=["families"])

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=40,
        description='The ETag of the version the change is based on, e.g. `"3"`.',
    ),
]
STALE = "the family changed since it was read; read it again and reapply the change"


class Refused(Exception):  # noqa: N818 - an answer, not a failure
    """A refusal decided inside a unit of work: roll back, audit, then answer with it."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


def parse_if_match(value: str | None) -> int | None:
    """The version an `If-Match` names, or None when it names no single version."""
    if value is None or not (len(value) >= 3 and value[0] == value[-1] == '"'):
        return None
    digits = value[1:-1]
    return int(digits) if digits.isdigit() and len(digits) <= 12 else None


@router.patch("/{family_id}", response_model=FamilyOut)
async def update(
    family_id: uuid.UUID,
    body: UpdateFamilyIn,
    principal: CurrentPrincipal,
    store: StoreDep,
    response: Response,
    if_match: IfMatch = None,
    reason: AccessReason = DEFAULT_REASON,
) -> FamilyOut:
    """Change the fields sent; requires `If-Match` with the version read (428 without, 409 stale).

    Members are replaced as a whole. Only a coordinator moves a family, and only between her
    own wijken (403). Out of scope and missing are one 404. A stale write is not audited:
    nothing was read or written.
    """
    expected = parse_if_match(if_match)
    if expected is None:
        raise HTTPProblem(428, 'send If-Match with the ETag of GET /families/{id}, e.g. "3"')
    try:
        family, version = await _update_once(
            store, str(family_id), body, principal, reason, expected
        )
    except StaleWriteError:
        raise HTTPProblem(409, STALE) from None
    except Refused as refused:
        await audit(
            store,
            entry(
                principal,
                action=AuditAction.UPDATE_FAMILY,
                family_id=str(family_id),
                outcome=AuditOutcome.DENIED_OR_MISSING,
                reason=reason,
                now=datetime.now(UTC),
            ),
        )
        raise HTTPProblem(refused.status_code, refused.detail) from None
    response.headers["ETag"] = etag(version)
    return FamilyOut.of(family)


async def _update_once(
    store: Store,
    family_id: str,
    body: UpdateFamilyIn,
    principal: Principal,
    reason: str,
    expected: int,
) -> tuple[Family, int]:
    """Apply the change at the expected version; Refused or StaleWriteError otherwise."""
    command = body.to_command()
    async with store.transaction() as uow:
        loaded = await load_family(uow, family_id)
        if loaded is None or not access.may_update(principal, loaded.family):
            raise Refused(404, FAMILY_NOT_FOUND)
        if loaded.version != expected:
            raise StaleWriteError(family_id)
        moves_to = command.wijk if isinstance(command.wijk, Wijk) else loaded.family.wijk
        if moves_to is not loaded.family.wijk and not access.may_move_to(principal, moves_to.value):
            raise Refused(403, "only a coordinator moves a family, and only into her wijken")
        family = update_family(loaded.family, command)
        version = await replace_family(uow, family, expected_version=expected)
        await write_audit(
            uow,
            entry(
                principal,
                action=AuditAction.UPDATE_FAMILY,
                family_id=family_id,
                outcome=AuditOutcome.ALLOWED,
                reason=reason,
                now=datetime.now(UTC),
            ),
        )
    return family, version


@router.get("", response_model=SearchOut)
async def search(
    principal: CurrentPrincipal,
    store: StoreDep,
    name: Annotated[str | None, Query(min_length=2, max_length=100)] = None,
    wijk: Wijk | None = None,
    trusted_person_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    reason: AccessReason = DEFAULT_REASON,
) -> SearchOut:
    """Families in the caller's scope whose members' names contain `name` (any case).

    Ordered by registration, then id; `next_cursor` continues. A trusted person sees only her
    families; a coordinator her wijken (a `wijk` outside them is 403). Every returned family
    is audited as one `search-family` record; the name searched for is never stored.
    """
    try:
        after = None if cursor is None else decode_cursor(cursor)
    except BadCursorError:
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "not a valid cursor", "type": "value_error"}]
        ) from None
    queries = _scope_queries(principal, wijk=wijk, trusted_person_id=trusted_person_id)
    if queries is None:
        await audit(
            store,
            entry(
                principal,
                action=AuditAction.SEARCH_FAMILY,
                family_id=None,
                outcome=AuditOutcome.DENIED_OR_MISSING,
                reason=reason,
                now=datetime.now(UTC),
            ),
        )
        raise HTTPProblem(403, "the filters reach outside your families or wijken")
    wanted = str(trusted_person_id) if trusted_person_id else None
    candidates = await search_candidates(
        store,
        queries,
        keep=lambda doc: _in_filters(doc, wijk=wijk, trusted_person_id=wanted),
        name=name,
        after=after,
        limit=limit,
    )
    page = paginate(candidates, name=name, after=after, limit=limit)
    if page.families:
        now = datetime.now(UTC)
        async with store.transaction() as uow:
            for family in page.families:
                await write_audit(
                    uow,
                    entry(
                        principal,
                        action=AuditAction.SEARCH_FAMILY,
                        family_id=family.id,
                        outcome=AuditOutcome.ALLOWED,
                        reason=reason,
                        now=now,
                    ),
                )
    return SearchOut(
        results=[FamilySummaryOut.of(f) for f in page.families], next_cursor=page.next_cursor
    )


def _scope_queries(
    principal: Principal, *, wijk: Wijk | None, trusted_person_id: uuid.UUID | None
) -> list[dict[str, str]] | None:
    """The indexed store queries covering the caller's scope, or None if the filters exceed it."""
    if principal.role is Role.TRUSTED_PERSON:
        if trusted_person_id is not None and str(trusted_person_id) != principal.user_id:
            return None
        me = principal.user_id
        return [{"trusted_person_id": me}, {"father_trusted_person_id": me}]
    if principal.role is Role.COORDINATOR:
        if wijk is not None and wijk.value not in principal.wijken:
            return None
        wijken = [wijk.value] if wijk is not None else sorted(principal.wijken)
        return [{"wijk": w} for w in wijken]
    return None


def _in_filters(doc: Doc, *, wijk: Wijk | None, trusted_person_id: str | None) -> bool:
    """Whether a stored family (its plaintext fields) passes the wijk and person filters."""
    if wijk is not None and doc["wijk"] != wijk.value:
        return False
    return trusted_person_id is None or trusted_person_id in (
        doc["trusted_person_id"],
        doc.get("father_trusted_person_id"),
    )
