"""Cases' event handlers: each runs inside a unit of work that also claims the event's inbox id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_cases import referral_store, store
from alamal_cases.domain import consent, open_case, partners
from alamal_cases.domain.assignment import assign, from_reassignment, from_registration
from alamal_cases.domain.referrals import (
    IllegalTransitionError,
    ReferralRejectedError,
    record_answer,
)
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import (
    ConsentChanged,
    FamilyReassigned,
    FamilyRegistered,
    PartnerFact,
    PartnerStatusReported,
)
from alamal_runtime.events import emit
from alamal_runtime.store import UnitOfWork

SOURCE = "/alamal/cases"
log = structlog.get_logger(__name__)


def _data[T](event: CloudEvent[Any], model: type[T]) -> T:
    data = event.data
    if not isinstance(data, model):
        raise TypeError(f"expected {model.__name__}, got {type(data).__name__}")
    return data


async def on_family_registered(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Open a case for a newly registered family, once, whatever the redeliveries."""
    registered = _data(event, FamilyRegistered)
    # Merge, never overwrite: a later consent change or reassignment may have come first.
    for record in consent.from_registration(registered):
        await referral_store.merge_consent(uow, record)
    assignment = await store.merge_assignment(uow, from_registration(registered))
    if await store.family_known(uow, registered.family_id):
        log.info("family_already_known", family_id=registered.family_id)
        return
    case, ref, opened = open_case(registered, case_id=str(uuid.uuid4()), now=datetime.now(UTC))
    case = assign(case, assignment)
    await store.add_case(uow, case, ref)
    emit(uow, opened, source=SOURCE)
    log.info("case_opened", case_id=case.id, family_id=case.family_id)


async def on_consent_changed(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Fold a consent change into the projection, whatever the order or the redeliveries."""
    changed = _data(event, ConsentChanged)
    await referral_store.merge_consent(uow, consent.from_change(changed))
    log.info("consent_projected", family_id=changed.family_id, purpose=changed.purpose.value)


async def on_family_reassigned(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Move the family's open case to the newly assigned trusted persons (latest wins)."""
    reassigned = _data(event, FamilyReassigned)
    assignment = await store.merge_assignment(uow, from_reassignment(reassigned))
    case_id = await store.open_case_of_family(uow, reassigned.family_id)
    found = None if case_id is None else await store.get_case_versioned(uow, case_id)
    if found is None:
        log.info("reassignment_kept_for_later", family_id=reassigned.family_id)
        return
    case, version = found
    moved = assign(case, assignment)
    if moved != case:
        await store.replace_case(uow, moved, version=version)
    log.info("case_reassigned", case_id=case.id, changed=moved != case)


async def on_partner_status_reported(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Apply a partner's status from the partner API (emits `cases.referral-updated.v1`).

    A status the referral's state does not allow (a duplicate, or an answer that crossed a
    coordinator's entry) changes nothing and is logged by code: the partner API checked it
    already, so this is a race, not bad data worth a dead letter.
    """
    reported = _data(event, PartnerStatusReported)
    found = await referral_store.get_referral_in(uow, reported.referral_id)
    if found is None or found[0].partner_id != reported.partner_id:
        raise LookupError("status for a referral not addressed to this partner")
    referral, version = found
    try:
        changed, updated = record_answer(
            referral, reported.status, outcome_code=reported.outcome_code, now=reported.reported_at
        )
    except (IllegalTransitionError, ReferralRejectedError) as exc:
        log.warning(
            "partner_status_not_applied", referral_id=referral.id, reason=type(exc).__name__
        )
        return
    await referral_store.replace_referral(uow, changed, version=version)
    emit(uow, updated, source=SOURCE)
    log.info("partner_status_applied", referral_id=referral.id, state=changed.state.value)


async def on_partner_fact(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Fold a partner fact (registered or changed) into the projection the gate decides on."""
    fact = _data(event, PartnerFact)
    standing = await referral_store.merge_partner(uow, partners.from_fact(fact))
    log.info(
        "partner_projected",
        partner_id=fact.partner_id,
        revision=standing.revision,
        kind=standing.kind.value,
        active=standing.active,
    )
