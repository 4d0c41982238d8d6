"""The privacy pages' roles and failures with the services down: who reaches them, and an export
that fails whole and clearly instead of being silently partial. (The pages with the services up
are driven end to end in tests/e2e/test_erasure.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

from alamal_gateway.accounts import STAFF_ROLES
from alamal_runtime.auth import Role

from .conftest import browser, csrf_of, log_in


async def test_a_privacy_officer_lands_on_the_privacy_page(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    officer = await make_user(Role.PRIVACY_OFFICER, wijken=())
    async with browser(gateway_app, address="10.0.13.1") as client:
        await log_in(client, officer.username)
        home = await client.get("/")
        page = await client.get("/privacy")
    assert home.status_code == 303
    assert home.headers["location"] == "/privacy"
    assert page.status_code == 503  # intake is down: no list, no made-up one
    assert "Tijdelijk niet beschikbaar" in page.text
    assert 'href="/privacy"' in page.text  # the menu entry


@pytest.mark.parametrize("role", [Role.TRUSTED_PERSON, Role.ADMIN, Role.OPERATOR])
async def test_other_roles_do_not_reach_the_privacy_pages(
    gateway_app: FastAPI, make_user: Callable[..., Any], role: Role
) -> None:
    user = await make_user(role)
    family = uuid.uuid4()
    async with browser(gateway_app, address=f"10.0.13.{2 + list(Role).index(role)}") as client:
        await log_in(client, user.username)
        answers = [
            await client.get("/privacy"),
            await client.get(f"/privacy/families/{family}"),
            await client.get(f"/privacy/erasures/{family}"),
        ]
        home = await client.get("/")
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert 'href="/privacy"' not in home.text


async def test_an_export_with_services_down_fails_whole_and_says_which(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    officer = await make_user(Role.PRIVACY_OFFICER, wijken=(), language="en")
    family = uuid.uuid4()
    async with browser(gateway_app, address="10.0.13.9") as client:
        await log_in(client, officer.username)
        page = await client.get(f"/privacy/families/{family}")
        answer = await client.post(
            f"/privacy/families/{family}/export", data={"csrf_token": csrf_of(page.text)}
        )
        forged = await client.post(f"/privacy/families/{family}/export", data={})
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("text/html")
    assert "no export was made" in answer.text
    assert "Registration of families, Casework, Messages to partners, Reports" in answer.text
    assert forged.status_code == 403  # no CSRF token: nothing is asked of the services


def test_the_user_admin_offers_the_privacy_officer_role() -> None:
    assert Role.PRIVACY_OFFICER in STAFF_ROLES
