"""Admin API: partner organisations and their partner-API credentials."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import APIRouter, Response
from pydantic import BaseModel

from alamal_contracts.codes import PartnerKind
from alamal_notifications import credentials, partner_facts
from alamal_notifications import store as repo
from alamal_notifications.deps import AdminDep, ServicesDep
from alamal_notifications.schemas import (
    AnnounceOut,
    CredentialOut,
    PartnerIn,
    PartnerOut,
    PartnerPatch,
)
from alamal_runtime.auth import Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem

router = APIRouter(prefix="/partners", tags=["partners"])
log = structlog.get_logger(__name__)
PARTNER_NOT_FOUND = "partner not found"
MAX_LIST = 1000


@router.post("", status_code=201, response_model=PartnerOut)
async def create_partner(
    body: PartnerIn, _: AdminDep, services: ServicesDep, response: Response
) -> PartnerOut:
    """Register a partner organisation (emits `notifications.partner-registered.v1`)."""
    async with services.store.transaction() as uow:
        partner = await partner_facts.register_partner(
            uow, name=body.name, kind=body.kind, now=datetime.now(UTC)
        )
    log.info("partner_created", partner_id=partner.id, kind=partner.kind.value)
    response.headers["Location"] = f"/partners/{partner.id}"
    return PartnerOut.of(partner)


@router.post("/announce", response_model=AnnounceOut)
async def announce_partners(_: AdminDep, services: ServicesDep) -> AnnounceOut:
    """Emit every partner's fact again (harmless repeats), e.g. for a rebuilt projection."""
    count = await partner_facts.announce_partners(services.store, force=True)
    return AnnounceOut(announced=count)


@router.get("", response_model=list[PartnerOut])
async def list_partners(_: AdminDep, services: ServicesDep) -> list[PartnerOut]:
    """Every partner organisation, by id."""
    records = await services.store.find(repo.PARTNERS, order_by="id", limit=MAX_LIST)
    return [PartnerOut.of(repo.partner_from(r)) for r in records]


class PartnerEntryOut(BaseModel):
    """A partner as staff see it: id, name, kind and whether referrals may go to it."""

    id: str
    name: str
    kind: PartnerKind
    active: bool


@router.get("/directory", response_model=list[PartnerEntryOut])
async def partner_directory(
    principal: CurrentPrincipal, services: ServicesDep
) -> list[PartnerEntryOut]:
    """The partners staff choose from when proposing a referral (active ones) and whose names
    referral cards show (all); no endpoints, no secrets."""
    if principal.role not in (Role.TRUSTED_PERSON, Role.COORDINATOR, Role.ADMIN):
        raise HTTPProblem(403, "not allowed for your role")
    records = await services.store.find(repo.PARTNERS, order_by="id", limit=MAX_LIST)
    partners = [repo.partner_from(r) for r in records]
    return [PartnerEntryOut(id=p.id, name=p.name, kind=p.kind, active=p.active) for p in partners]


@router.get("/{partner_id}", response_model=PartnerOut)
async def read_partner(partner_id: uuid.UUID, _: AdminDep, services: ServicesDep) -> PartnerOut:
    """One partner organisation."""
    record = await services.store.get(repo.PARTNERS, str(partner_id))
    if record is None:
        raise HTTPProblem(404, PARTNER_NOT_FOUND)
    return PartnerOut.of(repo.partner_from(record))


@router.patch("/{partner_id}", response_model=PartnerOut)
async def change_partner(
    partner_id: uuid.UUID, body: PartnerPatch, _: AdminDep, services: ServicesDep
) -> PartnerOut:
    """Rename, change the registered kind or (de)activate; a new kind or flag is emitted.

    A new kind applies to referrals not yet sent only if proposed again (cases refuses to send
    one proposed under the old kind), and to the details a partner may read from now on.
    """
    async with services.store.transaction() as uow:
        partner = await repo.get_partner(uow, str(partner_id))
        if partner is None:
            raise HTTPProblem(404, PARTNER_NOT_FOUND)
        changed = await partner_facts.change_partner(
            uow,
            partner,
            name=body.name,
            kind=body.kind,
            active=body.active,
            now=datetime.now(UTC),
        )
    log.info("partner_changed", partner_id=changed.id, revision=changed.revision)
    return PartnerOut.of(changed)


@router.post("/{partner_id}/credentials", status_code=201, response_model=CredentialOut)
async def create_credential(
    partner_id: uuid.UUID, _: AdminDep, services: ServicesDep
) -> CredentialOut:
    """A new partner-API credential; its secret is in this answer only (only a hash is kept)."""
    client_id, secret = credentials.new_credential()
    async with services.store.transaction() as uow:
        if await repo.get_partner(uow, str(partner_id)) is None:
            raise HTTPProblem(404, PARTNER_NOT_FOUND)
        await credentials.add(uow, client_id=client_id, partner_id=str(partner_id), secret=secret)
    log.info("partner_credential_created", partner_id=str(partner_id), client_id=client_id)
    return CredentialOut(client_id=client_id, client_secret=secret, partner_id=str(partner_id))


@router.delete("/{partner_id}/credentials/{client_id}", status_code=204)
async def revoke_credential(
    partner_id: uuid.UUID, client_id: str, _: AdminDep, services: ServicesDep
) -> Response:
    """Revoke a credential at once."""
    async with services.store.transaction() as uow:
        if not await credentials.revoke(uow, client_id=client_id, partner_id=str(partner_id)):
            raise HTTPProblem(404, "credential not found")
    log.info("partner_credential_revoked", partner_id=str(partner_id), client_id=client_id)
    return Response(status_code=204)
