"""Registering a family without JavaScript: people added one at a time, the complete ones shown
as one line each (with a button to change them), in nl, en and ar. The final send to intake is
walked in test_pages_live.py and the browser test; here intake is down."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from alamal_gateway.i18n import LANGUAGES
from alamal_runtime.auth import Role

from .conftest import browser, csrf_of, log_in
from .pagecheck import latin_in_arabic, raw_codes

FATIMA = {"m0_role": "mother", "m0_first_name": "Fatima", "m0_birth_year": "1986"}
YASMINE = {"m1_role": "child", "m1_first_name": "Yasmine", "m1_birth_year": "2016"}


def open_fields(html: str) -> list[str]:
    """The member rows shown as fields (by their first-name input's id)."""
    return re.findall(r'id="(m\d+)_first_name"', html)


def lines(html: str) -> list[str]:
    """The people shown as one line each (by the row their hidden fields belong to)."""
    return re.findall(r'<input type="hidden" name="(m\d+)_first_name"', html)


def layout(html: str) -> tuple[list[str], list[str]]:
    """(the rows shown as lines, the rows shown as fields)."""
    return lines(html), open_fields(html)


async def post(client: Any, page: str, **data: Any) -> Any:
    return await client.post("/families/new", data={"csrf_token": csrf_of(page), **data})


@pytest.mark.parametrize("language", LANGUAGES)
async def test_people_are_added_one_at_a_time_and_kept_as_lines(
    gateway_app: FastAPI, make_user: Callable[..., Any], language: str
) -> None:
    user = await make_user(language=language)
    async with browser(gateway_app, address="10.0.6.1") as client:
        await log_in(client, user.username)
        start = (await client.get("/families/new")).text
        assert layout(start) == ([], ["m0"])
        assert 'name="rows" value="1"' in start
        hint = {"nl": "Begin met de persoon", "en": "Start with the person", "ar": "يُبدأ"}
        assert hint[language] in start

        one = await post(client, start, rows="1", action="add-member", **FATIMA)
        assert one.status_code == 200
        assert layout(one.text) == (["m0"], ["m1"])
        assert 'name="rows" value="2"' in one.text
        assert "<bdi>Fatima</bdi>" in one.text
        assert 'value="edit-0"' in one.text
        assert hint[language] not in one.text  # said once, before anyone is listed

        two = await post(client, one.text, rows="2", action="add-member", **FATIMA, **YASMINE)
        assert layout(two.text) == (["m0", "m1"], ["m2"])
        for html in (start, one.text, two.text):
            assert not raw_codes(html, language)
            if language == "ar":
                assert not latin_in_arabic(html)


async def test_a_person_can_be_changed_and_an_unfinished_one_stays_open(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user(language="en")
    async with browser(gateway_app, address="10.0.6.2") as client:
        await log_in(client, user.username)
        page = (await client.get("/families/new")).text
        both = {"rows": "3", **FATIMA, **YASMINE}

        change = await post(client, page, action="edit-0", **both)
        assert change.status_code == 200
        assert open_fields(change.text) == ["m0", "m2"]
        assert lines(change.text) == ["m1"]
        assert 'id="m0_first_name" name="m0_first_name" dir="auto" value="Fatima"' in change.text

        # A year still missing: that person is finished first, no row is added after it.
        unfinished = {**FATIMA, "m1_role": "child", "m1_first_name": "Adam", "rows": "2"}
        again = await post(client, page, action="add-member", **unfinished)
        assert again.status_code == 422
        assert open_fields(again.text) == ["m1"]
        assert 'id="m1_birth_year-error"' in again.text
        assert 'name="rows" value="2"' in again.text
        nobody = await post(client, page, action="add-member", rows="1", m0_role="child")
        assert nobody.status_code == 422
        assert open_fields(nobody.text) == ["m0"]
        assert 'id="m0_first_name-error"' in nobody.text

        # Rows emptied in the middle are taken out and the rest numbered from 0.
        gap = {"rows": "3", **FATIMA, "m2_role": "child", "m2_first_name": "Sara"}
        gap |= {"m2_birth_year": "2019"}
        closed = await post(client, page, action="add-member", **gap)
        assert layout(closed.text) == (["m0", "m1"], ["m2"])
        assert 'name="m1_first_name" value="Sara"' in closed.text

        # A made-up button value is no row to change.
        odd = await post(client, page, action="edit-99", **both)
        assert odd.status_code == 422  # sent as a registration: its answers are missing


async def test_errors_open_the_row_they_belong_to(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.6.3") as client:
        await log_in(client, user.username)
        page = (await client.get("/families/new")).text
        bad_year = {**FATIMA, **YASMINE, "m1_birth_year": "1850", "rows": "2"}
        answer = await post(client, page, **bad_year, intake_source="school", consent_care="yes")
        assert answer.status_code == 422
        assert layout(answer.text) == (["m0"], ["m1"])
        assert 'id="m1_birth_year-error"' in answer.text
        nothing = await post(client, page, rows="1")
        assert nothing.status_code == 422
        for field in ("m0_role", "m0_first_name", "m0_birth_year", "intake_source"):
            assert f'id="{field}-error"' in nothing.text, field
        assert 'id="consent_care-error"' in nothing.text


async def test_everyone_is_kept_when_intake_is_down(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.6.4") as client:
        await log_in(client, user.username)
        page = (await client.get("/families/new")).text
        answer = await post(
            client,
            page,
            rows="3",
            **FATIMA,
            **YASMINE,
            intake_source="school",
            languages=["ar"],
            consent_care="yes",
            share=["share-youth-care"],
        )
        assert answer.status_code == 503
        assert layout(answer.text) == (["m0", "m1"], ["m2"])
        assert 'name="share" value="share-youth-care" checked' in answer.text
        assert 'value="Yasmine"' in answer.text
        reference = f'<code translate="no" dir="ltr">{answer.headers["x-trace-id"]}</code>'
        assert reference in answer.text  # to quote to the operator


async def test_a_coordinator_chooses_the_trusted_person(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    coordinator = await make_user(Role.COORDINATOR, wijken=("overvecht",))
    trusted = await make_user(display_name="Youssef", wijken=("overvecht",))
    async with browser(gateway_app, address="10.0.6.5") as client:
        await log_in(client, coordinator.username)
        page = (await client.get("/families/new")).text
        assert f'value="{trusted.id}"' in page
        answer = await post(
            client, page, rows="1", **FATIMA, intake_source="school", consent_care="yes"
        )
        assert answer.status_code == 422
        assert 'id="trusted_person_id-error"' in answer.text
