"""A family's data in cases, whole: its export (AVG art. 15) and its erasure (art. 17).

Cases holds the family's cases, the visits with their private notes and strengths seen, the
strengths-based plan (strengths, goals, progress notes), the referrals with their notes and the
partners' answers, visits saved offline and held for a coordinator, the devices' visit keys,
the consent and assignment projections and the access audit. Erasure deletes
all of it in one unit of work and confirms with `cases.family-erased.v1`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_cases import held_visit_store, plan_store, referral_store, store
from alamal_cases.handlers import SOURCE
from alamal_contracts.codes import ConsentPurpose
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import CasesFamilyErased, FamilyErasureRequested
from alamal_runtime.audit import audit_of_family
from alamal_runtime.erasure import forget_family, mark_erased
from alamal_runtime.events import emit
from alamal_runtime.privacy import export_document, jsonable
from alamal_runtime.store import Store, UnitOfWork

log = structlog.get_logger(__name__)
MAX_READ = 100_000
FAMILY_COLLECTIONS = (
    store.CASES,
    store.VISITS,
    plan_store.GOALS,
    referral_store.REFERRALS,
    referral_store.CONSENTS,
    held_visit_store.HELD_VISITS,
    held_visit_store.VISIT_KEYS,
)
"""Collections whose documents name the family in a top-level `family_id`."""


async def _case_ids(store_: Store, family_id: str) -> list[str]:
    return [c.id for c in await store.cases_of_family(store_, family_id)]


async def export_family(store_: Store, family_id: str) -> dict[str, Any]:
    """Every case of the family with its visits, plan and referrals, the projections about the
    family, and every access to it cases has audited."""
    cases = []
    for case in await store.cases_of_family(store_, family_id):
        visits = await store_.find(store.VISITS, {"case_id": case.id}, limit=MAX_READ)
        cases.append(
            {
                "case": jsonable(case),
                "visits": [jsonable(store.visit_from_record(v)) for v in visits],
                "strengths": jsonable(await plan_store.get_strengths(store_, case.id)),
                "goals": jsonable(await plan_store.goals_of_case(store_, case.id)),
                "referrals": jsonable(
                    await referral_store.referrals_of_case(store_, case.id, limit=MAX_READ)
                ),
            }
        )
    consents = [
        record.data
        for purpose in ConsentPurpose
        if (record := await store_.get(referral_store.CONSENTS, f"{family_id}:{purpose.value}"))
    ]
    family = await store_.get(store.FAMILIES, family_id)
    assignment = await store_.get(store.ASSIGNMENTS, family_id)
    held = await store_.find(held_visit_store.HELD_VISITS, {"family_id": family_id}, limit=MAX_READ)
    keys = await store_.find(held_visit_store.VISIT_KEYS, {"family_id": family_id}, limit=MAX_READ)
    return export_document(
        "cases",
        family_id,
        cases=cases,
        family=None if family is None else family.data,
        assignment=None if assignment is None else assignment.data,
        consents=consents,
        # Visits saved offline that met a closed or reassigned case, held for a coordinator.
        held_visits=[jsonable(held_visit_store.held_from_record(r)) for r in held],
        # The idempotency keys devices sent for the family's visits (ids and dates only).
        visit_keys=[{"id": r.id, **r.data} for r in keys],
        access_audit=jsonable(await audit_of_family(store_, family_id, limit=MAX_READ)),
    )


class Eraser:
    """Handles `intake.family-erasure-requested.v1`: erases the family, then confirms."""

    def __init__(self, store_: Store) -> None:
        self._store = store_

    async def __call__(self, event: CloudEvent[Any], uow: UnitOfWork) -> None:
        """Delete everything about the family in this unit of work and emit the confirmation;
        a redelivered request changes nothing (the marker says it was done)."""
        requested = event.data
        if not isinstance(requested, FamilyErasureRequested):
            raise TypeError(f"expected FamilyErasureRequested, got {type(requested).__name__}")
        family_id = requested.family_id
        if not await mark_erased(uow, family_id, requested.request_id, now=datetime.now(UTC)):
            log.info("erasure_already_done", request_id=requested.request_id)
            return
        # Strengths are keyed by case: the committed cases are complete, since no other unit
        # of work commits while this one holds the store (and the marker stops new events).
        deleted = 0
        for case_id in await _case_ids(self._store, family_id):
            deleted += int(await uow.delete(plan_store.STRENGTHS, case_id))
        for collection in FAMILY_COLLECTIONS:
            deleted += await uow.delete_where(collection, {"family_id": family_id})
        deleted += int(await uow.delete(store.FAMILIES, family_id))
        deleted += int(await uow.delete(store.ASSIGNMENTS, family_id))
        deleted += await forget_family(uow, family_id)
        emit(
            uow,
            CasesFamilyErased(family_id=family_id, request_id=requested.request_id),
            source=SOURCE,
        )
        log.info("family_erased", request_id=requested.request_id, documents=deleted)
