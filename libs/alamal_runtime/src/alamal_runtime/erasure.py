"""What every service does the same way when a family is erased (DESIGN decision 10).

Each service keeps a marker per erased family (its id and the erasure request's id: no personal
data). Events about a marked family are skipped by every consumer from then on, whatever order
the topics deliver them in: an event that was still on its way (a visit logged on another
topic just before the erasure) cannot bring the family back. The service's own erasure handler
deletes what it holds; `forget_family` deletes what the runtime keeps about a family in every
service: the access audit of the family, the published events of the family that the outbox
keeps for replay, and, in a service that seals personal data, the family's data key (the store
then makes the deletions unrecoverable: see `Store`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from alamal_contracts.envelope import CloudEvent
from alamal_contracts.events import ErasureEvent, Event
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.messaging.consumer import Handler
from alamal_runtime.sealing import SealedUnitOfWork
from alamal_runtime.store import UnitOfWork

ERASED_FAMILIES = "erased_families"
"""One document per erased family: `{request_id, erased_at}`, keyed by the family id."""

log = structlog.get_logger(__name__)


async def erased_by(uow: UnitOfWork, family_id: str) -> str | None:
    """The id of the erasure request that erased the family here, or None."""
    record = await uow.get(ERASED_FAMILIES, family_id)
    return None if record is None else str(record.data["request_id"])


async def mark_erased(uow: UnitOfWork, family_id: str, request_id: str, *, now: datetime) -> bool:
    """Mark the family erased in this service; False if it was already (then change nothing)."""
    if await uow.get(ERASED_FAMILIES, family_id) is not None:
        return False
    await uow.insert(
        ERASED_FAMILIES,
        family_id,
        {"request_id": request_id, "erased_at": now.isoformat(timespec="microseconds")},
    )
    return True


async def forget_family(uow: UnitOfWork, family_id: str) -> int:
    """Delete the family's access audit and its published outbox events, and destroy its data
    key where the service seals personal data (crypto-shredding: every copy of what was sealed
    with it, backups included, can no longer be read); return how many documents went."""
    audited = await uow.delete_where(ACCESS_AUDIT, {"family_id": family_id})
    published = await uow.delete_published(family_id)
    if isinstance(uow, SealedUnitOfWork):
        await uow.destroy_family_key(family_id)
    return audited + published


def skip_erased(handler: Handler) -> Handler:
    """Wrap a consumer's handler: events about an erased family change nothing.

    The erasure workflow's own events (the request and the confirmations) always pass.
    """

    async def guarded(event: CloudEvent[Any], uow: UnitOfWork) -> None:
        data = event.data
        about_a_family = isinstance(data, Event) and not isinstance(data, ErasureEvent)
        if about_a_family and await uow.get(ERASED_FAMILIES, data.family_id) is not None:
            log.info("event_of_erased_family_skipped", event_type=event.type)
            return
        await handler(event, uow)

    return guarded
