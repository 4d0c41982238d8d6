"""Partners as the one source of truth for their kind: registering, changing, announcing.

Notifications owns partners. Every change of what other services may know of a partner (its
kind, whether it is active) bumps its `revision` and emits a partner fact in the same unit of
work (`notifications.partner-registered.v1` / `notifications.partner-changed.v1`), so cases'
consent gate decides on the kind registered here, never on a kind a request declares.

Partners stored before these events existed are announced at start-up (`announce_partners`):
once per revision, so a restart announces nothing twice; `force` announces every partner again
(e.g. for a consumer whose projection was lost). Consumers keep the highest revision, so a
repeat changes nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Final

import structlog

from alamal_contracts.codes import PartnerKind
from alamal_contracts.events import PartnerChanged, PartnerRegistered
from alamal_notifications import store as repo
from alamal_notifications.operational import SOURCE
from alamal_runtime.events import emit
from alamal_runtime.store import Store, UnitOfWork

log = structlog.get_logger(__name__)
MAX_PARTNERS: Final = 10_000


def registered_fact(partner: repo.Partner) -> PartnerRegistered:
    """The fact announcing a partner at its current revision."""
    return PartnerRegistered(
        partner_id=partner.id,
        kind=partner.kind,
        active=partner.active,
        revision=partner.revision,
        changed_at=partner.changed_at or partner.created_at,
    )


def changed_fact(partner: repo.Partner) -> PartnerChanged:
    """The fact telling a partner's new kind or active flag."""
    return PartnerChanged(
        partner_id=partner.id,
        kind=partner.kind,
        active=partner.active,
        revision=partner.revision,
        changed_at=partner.changed_at or partner.created_at,
    )


async def register_partner(
    uow: UnitOfWork, *, name: str, kind: PartnerKind, now: datetime
) -> repo.Partner:
    """Store a new, active partner and announce it (revision 1)."""
    partner = repo.Partner(
        id=str(uuid.uuid4()),
        name=name,
        kind=kind,
        created_at=now,
        changed_at=now,
        revision=1,
        announced_revision=1,
    )
    await repo.put_partner(uow, partner)
    emit(uow, registered_fact(partner), source=SOURCE)
    return partner


async def change_partner(
    uow: UnitOfWork,
    partner: repo.Partner,
    *,
    name: str | None,
    kind: PartnerKind | None,
    active: bool | None,
    now: datetime,
) -> repo.Partner:
    """Apply an admin's change; a new kind or active flag is a new revision, emitted at once."""
    changed = replace(partner, name=partner.name if name is None else name)
    new_kind = partner.kind if kind is None else kind
    new_active = partner.active if active is None else active
    if (new_kind, new_active) != (partner.kind, partner.active):
        revision = partner.revision + 1
        changed = replace(
            changed,
            kind=new_kind,
            active=new_active,
            revision=revision,
            announced_revision=revision,
            changed_at=now,
        )
        emit(uow, changed_fact(changed), source=SOURCE)
        log.info(
            "partner_fact_changed",
            partner_id=partner.id,
            kind=new_kind.value,
            active=new_active,
            revision=revision,
        )
    await repo.put_partner(uow, changed)
    return changed


async def announce_partners(store: Store, *, force: bool = False) -> int:
    """Emit a partner fact for every partner not yet announced at its revision (all: `force`).

    One unit of work per partner, so a partner registered meanwhile is never overwritten.
    Returns how many partners were announced.
    """
    records = await store.find(repo.PARTNERS, order_by="id", limit=MAX_PARTNERS)
    announced = 0
    for record in records:
        async with store.transaction() as uow:
            partner = await repo.get_partner(uow, record.id)
            if partner is None or (not force and partner.announced_revision >= partner.revision):
                continue
            stamped = replace(
                partner,
                announced_revision=partner.revision,
                changed_at=partner.changed_at or partner.created_at,
            )
            await repo.put_partner(uow, stamped)
            emit(uow, registered_fact(stamped), source=SOURCE)
            announced += 1
    if announced:
        log.info("partners_announced", count=announced, forced=force)
    return announced


async def announce_at_start(store: Store) -> None:
    """Start-up hook: announce the partners other services have not heard of yet."""
    await announce_partners(store)
