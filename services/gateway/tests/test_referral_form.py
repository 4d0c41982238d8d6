"""The referral form picks a partner by name from notifications' directory; without that list
nothing can be proposed (no typed id, no posted kind: cases decides on the registered kind)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from alamal_gateway.app import _templates
from alamal_gateway.i18n import Translator, load_translations
from alamal_gateway.web.core import page_html

from .conftest import browser, csrf_of, log_in

TEMPLATE = (
    Path(__file__).resolve().parents[1] / "src" / "alamal_gateway" / "templates" / "referral.html"
)


async def test_without_the_partner_directory_no_referral_can_be_proposed(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    """Notifications (and so the directory) is down: the answer says so, offers no form and no
    field to type an id or a kind into, and keeps nothing half-sent."""
    user = await make_user(language="en")
    case_id = uuid.uuid4()
    async with browser(gateway_app, address="10.0.11.1") as client:
        await log_in(client, user.username)
        caseload = await client.get("/caseload")
        answer = await client.post(
            f"/cases/{case_id}/referrals/new",
            data={
                "csrf_token": csrf_of(caseload.text),
                "family_id": str(uuid.uuid4()),
                "partner_id": str(uuid.uuid4()),
                "partner_kind": "police",
                "urgency": "urgent",
                "reason_codes": ["safety-child"],
            },
        )
    assert answer.status_code == 503
    assert "The partner list is not available right now" in answer.text
    assert f'action="/cases/{case_id}/referrals/new"' not in answer.text
    assert 'name="partner_kind"' not in answer.text
    assert 'name="partner_id"' not in answer.text


def test_the_form_has_no_typed_id_and_no_kind_field() -> None:
    """The template itself: the partner is a choice from the directory, by name."""
    text = TEMPLATE.read_text(encoding="utf-8")
    assert 'name="partner_kind"' not in text
    assert '<input id="partner_id"' not in text
    assert '<select id="partner_id" name="partner_id"' in text
    assert "{{ p.name }}" in text


def _referral_card(language: str, outcome_code: str | None) -> str:
    """The family page's referral card of one declined referral, rendered in `language`."""
    t = Translator(language, load_translations()[language])
    referral = {  # as cases answers it (every field present)
        "id": str(uuid.uuid4()),
        "case_id": str(uuid.uuid4()),
        "family_id": str(uuid.uuid4()),
        "note": None,
        "proposed_by": str(uuid.uuid4()),
        "proposed_at": "2026-11-30T09:00:00Z",
        "approved_by": str(uuid.uuid4()),
        "approved_at": "2026-11-30T09:30:00Z",
        "meldcode_override": None,
        "sent_by": str(uuid.uuid4()),
        "sent_without_approval": False,
        "updated_at": "2026-11-30T10:00:01Z",
        "partner_id": "p-1",
        "partner_kind": "welfare",
        "urgency": "urgent",
        "state": "declined",
        "reason_codes": ["safety"],
        "sent_at": "2026-11-30T10:00:00Z",
        "legal_basis": "consent",
        "outcome_code": outcome_code,
    }
    return page_html(
        _templates(),
        t,
        "family_referrals.html",
        user=None,
        csrf_token="x",
        path="/families/x",
        case={"id": str(uuid.uuid4())},
        item={"referrals": [referral]},
        partners={"p-1": {"name": "Buurtteam Overvecht"}},
        consents={},
    )


@pytest.mark.parametrize(
    ("language", "says"),
    [
        ("nl", "Niet bezorgd: deze partner is niet meer actief."),
        ("en", "Not delivered: this partner is no longer active."),
        ("ar", "لم تصل الإحالة: هذا الشريك لم يعد نشطًا."),
    ],
)
def test_a_referral_declined_because_the_partner_was_deactivated_says_so(
    language: str, says: str
) -> None:
    """Sent in the moment before cases learnt of a deactivation, the referral comes back
    declined / partner-inactive: the card says it was not delivered, in the page's language;
    a partner's own 'declined' does not."""
    card = _referral_card(language, "partner-inactive")
    assert says in card
    assert "Buurtteam Overvecht" in card
    assert says not in _referral_card(language, None)
    assert says not in _referral_card(language, "no-capacity")
