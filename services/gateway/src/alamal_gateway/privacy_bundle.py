"""A family's whole export (AVG art. 15): every service's part, one JSON plus a Dutch document.

The bundle is built when the privacy officer asks for it and handed over in that one answer: it
is never stored, so there is no copy to find later. If any service cannot answer, there is no
bundle at all: an export that silently lacks a service's data would tell the family wrongly
what is held about it.
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from jinja2 import Environment

from alamal_gateway.clients import (
    SERVICES,
    Caller,
    NotFoundError,
    ServiceClients,
    ServiceError,
    ServiceUnavailableError,
)
from alamal_runtime.privacy import EXPORT_REASON

FORMAT: Final = "alamal-avg-export/1"
GONE: Final = 410


class FamilyUnknownError(Exception):
    """Intake knows no family with that id."""


class FamilyErasedError(Exception):
    """The family was erased: there is nothing left to export."""


class ExportIncompleteError(Exception):
    """One or more services did not answer: no bundle (never a silently partial one)."""

    def __init__(self, services: list[str]) -> None:
        super().__init__(", ".join(services))
        self.services = services


@dataclass(frozen=True, slots=True)
class Bundle:
    """One family's export: the JSON document and the same data as a Dutch HTML page."""

    family_id: str
    data: dict[str, Any]
    html: str

    def json_text(self) -> str:
        """The machine-readable export."""
        return json.dumps(self.data, ensure_ascii=False, indent=2, sort_keys=True)

    def zip_bytes(self) -> bytes:
        """Both files in one ZIP archive (the download)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"gezin-{self.family_id}.json", self.json_text())
            archive.writestr(f"gezin-{self.family_id}.html", self.html)
        return buffer.getvalue()


async def _part(
    clients: ServiceClients, caller: Caller, service: str, family_id: str
) -> tuple[str, Any]:
    try:
        reply = await clients.call(
            service,
            "GET",
            f"/privacy/families/{family_id}/export",
            caller,
            headers={"X-Access-Reason": EXPORT_REASON},
        )
    except ServiceError as exc:
        return service, exc
    return service, reply.data


async def collect(
    clients: ServiceClients, caller: Caller, family_id: str, *, now: datetime | None = None
) -> dict[str, Any]:
    """Every service's export of the family, asked at once; raise unless all answered."""
    answers = dict(await asyncio.gather(*(_part(clients, caller, s, family_id) for s in SERVICES)))
    intake = answers["intake"]
    if isinstance(intake, NotFoundError):
        raise FamilyUnknownError(family_id)
    if isinstance(intake, ServiceUnavailableError) and intake.status == GONE:
        raise FamilyErasedError(family_id)
    failed = [s for s in SERVICES if isinstance(answers[s], Exception)]
    if failed:
        raise ExportIncompleteError(failed)
    return {
        "format": FORMAT,
        "family_id": family_id,
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "generated_by": caller.user_id,
        "services": {s: answers[s] for s in SERVICES},
    }


LABELS: Final = {
    # intake
    "family": "Gezin",
    "members": "Gezinsleden",
    "role": "Rol",
    "birth_year": "Geboortejaar",
    "first_name": "Voornaam",
    "surname": "Achternaam",
    "languages": "Talen",
    "wijk": "Wijk",
    "projects": "Projecten",
    "intake_source": "Aangemeld via",
    "trusted_person_id": "Vertrouwenspersoon (id)",
    "father_trusted_person_id": "Vertrouwenspersoon van de vader (id)",
    "registered_by": "Aangemeld door (id)",
    "registered_at": "Aangemeld op",
    "address": "Adres",
    "street": "Straat",
    "house_number": "Huisnummer",
    "postcode": "Postcode",
    "city": "Plaats",
    "phone": "Telefoon",
    "notes": "Notities",
    "consents": "Toestemmingen",
    "purpose": "Doel",
    "granted": "Gegeven",
    "recorded_by": "Vastgelegd door (id)",
    "recorded_at": "Vastgelegd op",
    "text_version": "Versie van de toestemmingstekst",
    "basis": "Grond",
    "assignments": "Toewijzingen",
    "assigned_by": "Toegewezen door (id)",
    "assigned_at": "Toegewezen op",
    "erasure_requests": "Verzoeken om verwijdering",
    "legal_hold": "Wettelijke bewaarplicht",
    "access_audit": "Wie de gegevens inzag of wijzigde",
    "user_id": "Medewerker (id)",
    "action": "Handeling",
    "outcome": "Uitkomst",
    "reason": "Reden",
    "at": "Tijdstip",
    # cases
    "cases": "Casussen",
    "case": "Casus",
    "status": "Status",
    "opened_at": "Geopend op",
    "closed_at": "Gesloten op",
    "closed_by": "Gesloten door (id)",
    "outcome_codes": "Uitkomsten",
    "visits": "Contacten",
    "kind": "Soort",
    "occurred_on": "Datum",
    "duration_minutes": "Duur (minuten)",
    "topic_codes": "Onderwerpen",
    "strengths_observed": "Gezien: eigen kracht",
    "private_note": "Notitie",
    "follow_up_on": "Vervolg op",
    "logged_at": "Vastgelegd op",
    "strengths": "Eigen kracht",
    "items": "Punten",
    "goals": "Doelen",
    "area": "Levensgebied",
    "description": "Omschrijving",
    "progress_notes": "Voortgang",
    "text": "Tekst",
    "referrals": "Doorverwijzingen",
    "referral": "Doorverwijzing",
    "partner": "Partner",
    "partner_kind": "Soort partner",
    "urgency": "Urgentie",
    "reason_codes": "Redenen",
    "note": "Toelichting",
    "state": "Stand",
    "legal_basis": "Wettelijke grondslag",
    "assignment": "Toewijzing",
    # notifications
    "deliveries": "Verzendingen aan de partner",
    "event_type": "Soort bericht",
    "attempts": "Pogingen",
    "status_code": "Antwoord (HTTP-status)",
    "name": "Naam",
    "created_at": "Aangemaakt op",
    # reporting
    "rp-families": "Gezin (rapportagegegevens)",
    "rp-cases": "Casussen (rapportagegegevens)",
    "rp-visits": "Contacten (rapportagegegevens)",
    "rp-referrals": "Doorverwijzingen (rapportagegegevens)",
    "rp-goals": "Doelen (rapportagegegevens)",
}
SECTIONS: Final = {
    "intake": "Aanmelding, gezinsgegevens en toestemmingen",
    "cases": "Begeleiding: casussen, contacten, plan en doorverwijzingen",
    "notifications": "Doorverwijzingen zoals partners ze zagen, en de verzendingen",
    "reporting": "Gegevens voor rapportages (zonder namen)",
}


def label(key: str) -> str:
    """A Dutch label for a field name (the name itself, readable, when none is known)."""
    return LABELS.get(key, key.replace("_", " "))


def shown(value: Any) -> str:
    """A scalar as the Dutch document shows it."""
    if value is None:
        return "—"
    if value is True:
        return "ja"
    if value is False:
        return "nee"
    return str(value)


def render_html(templates: Environment, data: dict[str, Any]) -> str:
    """The readable Dutch document of a bundle, for print."""
    return templates.get_template("privacy_export.html").render(
        bundle=data, sections=SECTIONS, label=label, shown=shown
    )


async def build(
    clients: ServiceClients, templates: Environment, caller: Caller, family_id: str
) -> Bundle:
    """Collect every service's part and render the bundle; raises as `collect` does."""
    data = await collect(clients, caller, family_id)
    return Bundle(family_id=family_id, data=data, html=render_html(templates, data))
