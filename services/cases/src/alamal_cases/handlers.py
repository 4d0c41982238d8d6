"""Cases' event handlers: each runs inside a unit of work that also claims the event's inbox id."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import structlog

from alamal_cases import referral_store, store
from alamal_cases.domain import consent, open_case
from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import ConsentChanged, FamilyRegistered
from alamal_runtime.events import emit
from alamal_runtime.store import UnitOfWork

SOURCE = "/alamal/cases"
log = structlog.get_logger(__name__)


async def on_family_registered(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Open a case for a newly registered family, once, whatever the redeliveries."""
    registered = event.data
    if not isinstance(registered, FamilyRegistered):
        raise TypeError(f"expected FamilyRegistered, got {type(registered).__name__}")
    # Merge, never overwrite: a later consent change may have arrived before the registration.
    for record in consent.from_registration(registered):
        await referral_store.merge_consent(uow, record)
    if await store.family_known(uow, registered.family_id):
        log.info("family_already_known", family_id=registered.family_id)
        return
    case, ref, opened = open_case(registered, case_id=str(uuid.uuid4()), now=datetime.now(UTC))
    await store.add_case(uow, case, ref)
    emit(uow, opened, source=SOURCE)
    log.info("case_opened", case_id=case.id, family_id=case.family_id)


async def on_consent_changed(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Fold a consent change into the projection, whatever the order or the redeliveries."""
    changed = event.data
    if not isinstance(changed, ConsentChanged):
        raise TypeError(f"expected ConsentChanged, got {type(changed).__name__}")
    await referral_store.merge_consent(uow, consent.from_change(changed))
    log.info("consent_projected", family_id=changed.family_id, purpose=changed.purpose.value)
