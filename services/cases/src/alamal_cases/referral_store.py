"""Cases' repository for referrals and the consent and partner projections."""

from __future__ import annotations

from datetime import datetime

from alamal_cases.domain import partners
from alamal_cases.domain.consent import ConsentRecord, newer
from alamal_cases.domain.partners import PartnerStanding
from alamal_cases.domain.referrals import MeldcodeOverride, Referral, ReferralState
from alamal_contracts.codes import ConsentPurpose, LegalBasis, PartnerKind, Urgency
from alamal_runtime.store import Doc, Record, Store, UnitOfWork

REFERRALS = "referrals"
CONSENTS = "consents"
PARTNERS = "partners"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def referral_to_doc(referral: Referral) -> Doc:
    """Serialise a referral (note included: it stays in cases' store)."""
    override = referral.override
    return {
        "case_id": referral.case_id,
        "family_id": referral.family_id,
        "partner_id": referral.partner_id,
        "partner_kind": referral.partner_kind.value,
        "urgency": referral.urgency.value,
        "reason_codes": list(referral.reason_codes),
        "note": referral.note,
        "state": referral.state.value,
        "proposed_by": referral.proposed_by,
        "proposed_at": referral.proposed_at.isoformat(),
        "approved_by": referral.approved_by,
        "approved_at": _iso(referral.approved_at),
        "override": None
        if override is None
        else {"reason_code": override.reason_code, "by": override.by, "at": _iso(override.at)},
        "sent_by": referral.sent_by,
        "sent_at": _iso(referral.sent_at),
        "sent_without_approval": referral.sent_without_approval,
        "legal_basis": None if referral.legal_basis is None else referral.legal_basis.value,
        "outcome_code": referral.outcome_code,
        "updated_at": _iso(referral.updated_at),
    }


def referral_from_record(record: Record) -> Referral:
    """Rebuild a referral from its document."""
    d = record.data
    o = d["override"]
    return Referral(
        id=record.id,
        case_id=d["case_id"],
        family_id=d["family_id"],
        partner_id=d["partner_id"],
        partner_kind=PartnerKind(d["partner_kind"]),
        urgency=Urgency(d["urgency"]),
        reason_codes=tuple(d["reason_codes"]),
        note=d["note"],
        state=ReferralState(d["state"]),
        proposed_by=d["proposed_by"],
        proposed_at=datetime.fromisoformat(d["proposed_at"]),
        approved_by=d["approved_by"],
        approved_at=_dt(d["approved_at"]),
        override=None
        if o is None
        else MeldcodeOverride(o["reason_code"], o["by"], datetime.fromisoformat(o["at"])),
        sent_by=d["sent_by"],
        sent_at=_dt(d["sent_at"]),
        sent_without_approval=d["sent_without_approval"],
        legal_basis=None if d["legal_basis"] is None else LegalBasis(d["legal_basis"]),
        outcome_code=d["outcome_code"],
        updated_at=_dt(d["updated_at"]),
    )


async def add_referral(uow: UnitOfWork, referral: Referral) -> None:
    """Store a new referral."""
    await uow.insert(REFERRALS, referral.id, referral_to_doc(referral))


async def get_referral(store: Store, referral_id: str) -> Referral | None:
    """One referral, or None."""
    record = await store.get(REFERRALS, referral_id)
    return None if record is None else referral_from_record(record)


async def get_referral_in(uow: UnitOfWork, referral_id: str) -> tuple[Referral, int] | None:
    """One referral and its version, read inside a unit of work."""
    record = await uow.get(REFERRALS, referral_id)
    return None if record is None else (referral_from_record(record), record.version)


async def replace_referral(uow: UnitOfWork, referral: Referral, *, version: int) -> None:
    """Store a referral's new state; StaleWriteError if it changed since it was read."""
    await uow.replace(REFERRALS, referral.id, referral_to_doc(referral), expected_version=version)


async def referrals_of_case(store: Store, case_id: str, *, limit: int = 200) -> list[Referral]:
    """A case's referrals, oldest first."""
    records = await store.find(REFERRALS, {"case_id": case_id}, order_by="proposed_at", limit=limit)
    return [referral_from_record(r) for r in records]


def _consent_id(family_id: str, purpose: ConsentPurpose) -> str:
    return f"{family_id}:{purpose.value}"


def _consent_from(data: Doc) -> ConsentRecord:
    return ConsentRecord(
        family_id=data["family_id"],
        purpose=ConsentPurpose(data["purpose"]),
        granted=data["granted"],
        changed_at=datetime.fromisoformat(data["changed_at"]),
        text_version=data["text_version"],
    )


async def merge_consent(uow: UnitOfWork, incoming: ConsentRecord) -> None:
    """Keep the winning record for the family's purpose (works before the family is known)."""
    doc_id = _consent_id(incoming.family_id, incoming.purpose)
    record = await uow.get(CONSENTS, doc_id)
    current = None if record is None else _consent_from(record.data)
    winner = newer(current, incoming)
    if winner == current:
        return
    data = {
        "family_id": winner.family_id,
        "purpose": winner.purpose.value,
        "granted": winner.granted,
        "changed_at": winner.changed_at.isoformat(),
        "text_version": winner.text_version,
    }
    if record is None:
        await uow.insert(CONSENTS, doc_id, data)
    else:
        await uow.replace(CONSENTS, doc_id, data, expected_version=record.version)


async def consent_in(
    uow: UnitOfWork, family_id: str, purpose: ConsentPurpose
) -> ConsentRecord | None:
    """The family's current consent for one purpose, or None if none was ever recorded."""
    record = await uow.get(CONSENTS, _consent_id(family_id, purpose))
    return None if record is None else _consent_from(record.data)


def _standing_from(record: Record) -> PartnerStanding:
    d = record.data
    return PartnerStanding(
        partner_id=record.id,
        kind=PartnerKind(d["kind"]),
        active=d["active"],
        revision=d["revision"],
        changed_at=datetime.fromisoformat(d["changed_at"]),
    )


async def merge_partner(uow: UnitOfWork, incoming: PartnerStanding) -> PartnerStanding:
    """Keep the winning fact for the partner (highest revision); return the standing now."""
    record = await uow.get(PARTNERS, incoming.partner_id)
    current = None if record is None else _standing_from(record)
    winner = partners.newer(current, incoming)
    if winner == current:
        return winner
    data = {
        "kind": winner.kind.value,
        "active": winner.active,
        "revision": winner.revision,
        "changed_at": winner.changed_at.isoformat(),
    }
    if record is None:
        await uow.insert(PARTNERS, winner.partner_id, data)
    else:
        await uow.replace(PARTNERS, winner.partner_id, data, expected_version=record.version)
    return winner


async def partner_in(uow: UnitOfWork, partner_id: str) -> PartnerStanding | None:
    """A partner's registered kind and active flag as cases knows them, or None if unknown."""
    record = await uow.get(PARTNERS, partner_id)
    return None if record is None else _standing_from(record)


async def prepare(store: Store) -> None:
    """Indexes the referral queries need."""
    await store.ensure_index(REFERRALS, ["case_id", "proposed_at"])
