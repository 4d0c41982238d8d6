"""The referral form picks a partner by name from notifications' directory; without that list
nothing can be proposed (no typed id, no posted kind: cases decides on the registered kind)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI

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
