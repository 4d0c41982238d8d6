"""A service that is down: a clear message in the user's language, the input kept, no trace."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from alamal_gateway.web.forms import map_fields

from .conftest import browser, csrf_of, log_in


async def test_registration_keeps_the_input_when_intake_is_down(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.4.1") as client:
        await log_in(client, user.username)
        page = await client.get("/families/new")
        answer = await client.post(
            "/families/new",
            data={
                "csrf_token": csrf_of(page.text),
                "m0_role": "mother",
                "m0_first_name": "Khadija",
                "m0_birth_year": "1979",
                "wijk": "overvecht",
                "intake_source": "gp",
                "languages": ["ar", "nl"],
                "consent_care": "yes",
                "consent_reporting": "no",
            },
        )
    assert answer.status_code == 503
    assert "tijdelijk niet beschikbaar" in answer.text
    assert 'value="Khadija"' in answer.text
    assert 'value="1979"' in answer.text
    assert 'name="consent_reporting" value="no" checked' in answer.text
    assert "Traceback" not in answer.text


async def test_form_errors_appear_next_to_the_field(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user(language="en")
    async with browser(gateway_app, address="10.0.4.2") as client:
        await log_in(client, user.username)
        page = await client.get("/families/new")
        answer = await client.post(
            "/families/new",
            data={
                "csrf_token": csrf_of(page.text),
                "m0_first_name": "Khadija",
                "m0_birth_year": "19x9",
            },
        )
    assert answer.status_code == 422
    assert 'id="m0_birth_year-error"' in answer.text
    assert "Enter a year like 1985" in answer.text
    assert 'aria-invalid="true" aria-describedby="m0_birth_year-error"' in answer.text
    assert 'value="Khadija"' in answer.text


async def test_visit_keeps_the_input_when_cases_is_down(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user(language="ar")
    case_id = uuid.uuid4()
    async with browser(gateway_app, address="10.0.4.3") as client:
        await log_in(client, user.username)
        form_page = await client.get(f"/cases/{case_id}/visits/new")
        assert form_page.status_code == 503  # the case cannot even be read
        assert 'dir="rtl"' in form_page.text
        caseload = await client.get("/caseload")
        answer = await client.post(
            f"/cases/{case_id}/visits/new",
            data={
                "csrf_token": csrf_of(caseload.text),
                "family_id": str(uuid.uuid4()),
                "kind": "phone",
                "occurred_on": "2026-03-05",
                "duration_minutes": "30",
                "topic_codes": ["money", "housing"],
                "follow_up": "7",
                "private_note": "Belt terug na de afspraak",
            },
        )
    assert answer.status_code == 503
    assert "الخدمة غير متاحة مؤقتاً" in answer.text
    assert 'value="phone" checked' in answer.text
    assert 'value="money" checked' in answer.text
    assert "Belt terug na de afspraak" in answer.text


async def test_family_page_when_intake_is_down_and_bad_ids(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.4.4") as client:
        await log_in(client, user.username)
        down = await client.get(f"/families/{uuid.uuid4()}")
        assert down.status_code == 503
        assert "Tijdelijk niet beschikbaar" in down.text
        # The reference staff quote to the operator: this request's trace id, as answered.
        trace_id = down.headers["x-trace-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        assert f'Kenmerk voor de operator: <code translate="no" dir="ltr">{trace_id}</code>' in (
            down.text
        )
        bad = await client.get("/families/not-an-id")
        assert bad.status_code == 404
        assert "Niet gevonden" in bad.text
        assert "detail" not in bad.text


def test_service_field_paths_map_to_form_fields() -> None:
    known = {"wijk": "wijk", "languages": "languages"}
    errors = map_fields(
        ["members.1.birth_year", "members.0.first_name", "wijk", "consents.2.purpose", "body"],
        known,
        rows=[0, 3],
    )
    assert errors == {
        "m3_birth_year": "birth_year",
        "m0_first_name": "invalid",
        "wijk": "invalid",
        "_form": "invalid",
    }
