"""Intake's closed-case rule: a family whose case closed longer ago than the rule is erased.

Intake owns the family and the erasure workflow, so the rule lives here: intake keeps, from
cases' `case-closed` events, when each family's case closed (`retention_closures`: ids and a
date). When the `closed-case` length has passed, the schedule erases the family through the
same erasure machinery a privacy officer's request uses (issue 13): a request with reason
`retention` and ground `no-longer-necessary`, approved at once, which erases intake's data,
destroys its data key and tells every other service to erase theirs. There is no second
deletion path. No human second pair of eyes: the rule, its length in the settings and
docs/retention.md are the decision; the privacy officer sees what is due beforehand in the dry
run and afterwards in the deletion log and the erasure list (requested by
`retention:intake.closed-case`, approved by `retention:schedule`).

A family under a legal hold, or with an erasure request already open, is not erased; the dry
run and the log count it as withheld.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from alamal_intake.closures import CLOSURES, forget_closure
from alamal_intake.privacy import service
from alamal_intake.privacy import store as repo
from alamal_intake.privacy.domain import ErasureBasis, ErasureReason
from alamal_runtime.auth import Principal, Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.retention import Category, Due, instant
from alamal_runtime.store import DuplicateError, StaleWriteError, Store, UnitOfWork

RULE = "intake.closed-case"
REASON = "retention"
"""The access-audit reason of what the schedule does."""
REQUESTER = Principal(
    user_id=f"retention:{RULE}",
    role=Role.PRIVACY_OFFICER,
    wijken=frozenset(),
    token_id=RULE,
)
"""Who asks: the rule, on the privacy officer's behalf."""
APPROVER = Principal(
    user_id="retention:schedule",
    role=Role.PRIVACY_OFFICER,
    wijken=frozenset(),
    token_id="retention-schedule",  # noqa: S106 - the id of no token
)
"""Who approves: the schedule that runs the configured rule."""

log = structlog.get_logger(__name__)


class _SkipError(Exception):
    """The family is not erased now (on hold, a request open, changed meanwhile)."""


@dataclass(frozen=True, slots=True)
class ClosedCaseRule:
    """Erase the families whose case closed before the cutoff."""

    name: str = RULE
    category: Category = Category.CLOSED_CASE

    async def due(self, store: Store, cutoff: datetime) -> Due:
        """The families to erase; those on hold or with an open request are withheld."""
        ids: list[str] = []
        withheld = 0
        async for record in store.scan(CLOSURES):
            closed = instant(record.data.get("closed_at"))
            if closed is None or closed >= cutoff:
                continue
            if await store.get(ERASED_FAMILIES, record.id) is not None:
                continue  # erased meanwhile by a request; its closure goes at the next run
            guard = await store.get(service.BY_FAMILY, record.id)
            open_request = guard is not None and guard.data.get("open_request_id") is not None
            if open_request or await repo.hold_of(store, record.id) is not None:
                withheld += 1
                continue
            ids.append(record.id)
        return Due(tuple(ids), withheld)

    async def apply(self, store: Store, ids: Sequence[str]) -> int:
        """Erase each family in a unit of work of its own; return how many were erased."""
        erased = 0
        for family_id in ids:
            try:
                await store.with_transaction(functools.partial(_erase, family_id=family_id))
            except _SkipError:
                continue
            except (service.FamilyUnknownError, service.AlreadyErasedError):
                await store.with_transaction(functools.partial(forget_closure, family_id=family_id))
                continue
            erased += 1
        return erased


async def _erase(uow: UnitOfWork, *, family_id: str) -> None:
    command = service.RequestErasure(
        family_id=family_id,
        reason=ErasureReason.RETENTION,
        basis=ErasureBasis.NO_LONGER_NECESSARY,
    )
    try:
        request = await service.request_erasure(uow, command, REQUESTER, reason=REASON)
        opened, version = await service.load_open(uow, request.id)
        await service.approve_erasure(uow, opened, version, APPROVER, reason=REASON)
    except (service.ErasureRefusedError, StaleWriteError, DuplicateError) as refused:
        log.info("retention_erasure_skipped", family_id=family_id, why=type(refused).__name__)
        raise _SkipError from refused
    log.info("retention_erasure", family_id=family_id, request_id=request.id)
