"""Login: argon2, secure session cookie, lockout, rate limit, audit, CSRF, expiry, logout."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from alamal_gateway.accounts import USERS
from alamal_gateway.login_guard import AUDIT
from alamal_gateway.passwords import hash_password, verify_password
from alamal_gateway.sessions import SESSIONS, SessionStore, session_key
from alamal_gateway.web.security import SecurityHeaders
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import PASSWORD, browser, csrf_of, log_in

SESSION = "__Host-alamal-session"


def test_argon2id_hash_verifies_only_the_right_password() -> None:
    hashed = hash_password("a long enough password")
    assert hashed.startswith("$argon2id$")
    assert "a long enough password" not in hashed
    assert verify_password(hashed, "a long enough password")
    assert not verify_password(hashed, "a long enough passworD")
    assert not verify_password(None, "a long enough password")
    assert not verify_password("not a hash", "x")


async def test_login_sets_a_secure_session_cookie(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.1.1") as client:
        answer = await log_in(client, user.username)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/caseload"
        cookie = answer.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION}=")
        for attribute in ("Secure", "HttpOnly", "SameSite=lax", "Path=/"):
            assert attribute in cookie
        assert (await client.get("/caseload")).status_code == 200


async def test_pages_need_a_login_and_the_right_role(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    async with browser(gateway_app, address="10.0.1.2") as client:
        answer = await client.get("/caseload")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=/caseload"
        user = await make_user()
        await log_in(client, user.username)
        assert (await client.get("/admin/users")).status_code == 403
        assert (await client.get("/operator")).status_code == 403


async def test_wrong_password_is_refused_and_audited_without_secrets(
    gateway_app: FastAPI, make_user: Callable[..., Any], store: Store
) -> None:
    user = await make_user(username="audit-me")
    async with browser(gateway_app, address="10.0.1.3") as client:
        answer = await log_in(client, "audit-me", "Wrong-Password-123")
        assert answer.status_code == 401
        assert "Inloggen is niet gelukt." in answer.text
        unknown = await log_in(client, "nobody-here", "Wrong-Password-123")
        assert unknown.status_code == 401
        assert unknown.text.count("Inloggen is niet gelukt") == 1  # no account enumeration
    records = [r.data for r in await store.find(AUDIT, limit=1000)]
    mine = [r for r in records if r["user_id"] == user.id]
    assert [r["outcome"] for r in mine] == ["bad-credentials"]
    assert any(r["user_id"] is None and r["outcome"] == "bad-credentials" for r in records)
    dumped = json.dumps(records)
    for secret in ("Wrong-Password-123", "audit-me", "nobody-here", "10.0.1.3"):
        assert secret not in dumped


async def test_lockout_after_repeated_failures_even_with_the_right_password(
    gateway_app: FastAPI, make_user: Callable[..., Any], store: Store
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.1.4") as client:
        for _ in range(3):  # login_max_failures=3 in the test settings
            assert (await log_in(client, user.username, "Wrong-Password-123")).status_code == 401
        locked = await log_in(client, user.username, PASSWORD)
        assert locked.status_code == 401
        # The same words as a wrong password: a lockout does not confirm the account exists.
        assert "Inloggen is niet gelukt" in locked.text
        assert SESSION not in locked.headers.get("set-cookie", "")
    outcomes = [r.data["outcome"] for r in await store.find(AUDIT, {"user_id": user.id})]
    assert "locked" in outcomes


async def test_rate_limit_per_address(gateway_app: FastAPI, make_user: Callable[..., Any]) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.1.5") as client:
        for i in range(25):  # login_ip_max_attempts=25 in the test settings
            answer = await log_in(client, f"guess-{i}", "Wrong-Password-123")
            assert answer.status_code == 401
        refused = await log_in(client, user.username, PASSWORD)
        assert refused.status_code == 401
        assert "Inloggen is niet gelukt." in refused.text  # the words of a wrong password
        assert SESSION not in refused.headers.get("set-cookie", "")
    async with browser(gateway_app, address="10.0.1.6") as other:
        assert (await log_in(other, user.username, PASSWORD)).status_code == 303


async def test_posts_without_the_csrf_token_are_rejected(
    gateway_app: FastAPI, make_user: Callable[..., Any]
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.1.7") as client:
        page = await client.get("/login")
        no_token = await client.post(
            "/login", data={"username": user.username, "password": PASSWORD}
        )
        assert no_token.status_code == 403
        wrong = await client.post(
            "/login",
            data={"username": user.username, "password": PASSWORD, "csrf_token": "x" * 43},
        )
        assert wrong.status_code == 403
        assert SESSION not in wrong.headers.get("set-cookie", "")
        assert csrf_of(page.text)
        await log_in(client, user.username)
        form = {"m0_first_name": "Fatima", "m0_birth_year": "1986"}
        assert (await client.post("/families/new", data=form)).status_code == 403
        pre_login_token = csrf_of(page.text)
        forged = await client.post("/families/new", data={**form, "csrf_token": pre_login_token})
        assert forged.status_code == 403
        assert "Het formulier is verlopen" in forged.text


async def test_logout_ends_the_session_on_the_server(
    gateway_app: FastAPI, make_user: Callable[..., Any], store: Store
) -> None:
    user = await make_user()
    async with browser(gateway_app, address="10.0.1.8") as client:
        answer = await log_in(client, user.username)
        cookie = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
        page = await client.get("/caseload")
        out = await client.post("/logout", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303
        record = await store.get(SESSIONS, session_key(cookie))
        assert record is not None
        assert record.data["revoked"] is True
    async with browser(gateway_app, address="10.0.1.8") as replay:
        replay.cookies.set(SESSION, cookie, domain="gateway.test")
        assert (await replay.get("/caseload")).status_code == 303


async def test_sessions_expire_when_idle_and_after_the_absolute_limit(store: Store) -> None:
    sessions = SessionStore(store, idle=timedelta(minutes=30), absolute=timedelta(hours=2))
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    cookie, _ = await sessions.start("8d0f2c36-1a54-4a38-9c0c-5d4ad0b5a001", now=t0)
    assert await sessions.current(cookie, now=t0 + timedelta(minutes=29)) is not None
    assert await sessions.current(cookie, now=t0 + timedelta(minutes=61)) is None  # idle
    busy, _ = await sessions.start("8d0f2c36-1a54-4a38-9c0c-5d4ad0b5a001", now=t0)
    at = t0
    while at < t0 + timedelta(hours=2):
        at += timedelta(minutes=20)
        alive = await sessions.current(busy, now=at)
        assert (alive is not None) == (at - t0 <= timedelta(hours=2))
    assert await sessions.current(busy, now=t0 + timedelta(hours=2, minutes=5)) is None
    assert await sessions.current("not-a-session", now=t0) is None


async def test_security_headers_on_every_page(gateway_app: FastAPI) -> None:
    async with browser(gateway_app, address="10.0.1.9") as client:
        answer = await client.get("/login")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"
    # Scripts come from the gateway's own files; a JSON data block is never executed.
    scripts = re.findall(r"<script\b[^>]*>", answer.text)
    assert scripts, "the offline layer's script is on every page"
    assert all('src="/static/' in s or 'type="application/json"' in s for s in scripts)
    assert "strict-transport-security" not in answer.headers  # not the production profile


@pytest.mark.parametrize(
    ("hsts", "base", "expected"),
    [
        (True, "https://gw.test", True),
        (True, "http://gw.test", False),
        (False, "https://gw.test", False),
    ],
)
async def test_hsts_only_in_production_and_only_over_https(
    hsts: bool, base: str, expected: bool
) -> None:
    app = Starlette(routes=[Route("/", lambda _: PlainTextResponse("ok"))])
    wrapped = SecurityHeaders(app, hsts=hsts)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=wrapped), base_url=base) as c:
        answer = await c.get("/")
    assert ("strict-transport-security" in answer.headers) is expected
    if expected:
        assert answer.headers["strict-transport-security"].startswith("max-age=31536000")


async def test_admin_creates_a_user_who_can_then_log_in(
    gateway_app: FastAPI, make_user: Callable[..., Any], store: Store
) -> None:
    admin = await make_user(Role.ADMIN, wijken=())
    async with browser(gateway_app, address="10.0.2.1") as client:
        await log_in(client, admin.username)
        page = await client.get("/admin/users")
        assert page.status_code == 200
        short = await client.post(
            "/admin/users",
            data={
                "csrf_token": csrf_of(page.text),
                "username": "naima",
                "role": "coordinator",
                "wijken": "overvecht",
                "language": "ar",
                "password": "short",
            },
        )
        assert short.status_code == 422
        assert "minstens 12 tekens" in short.text
        assert 'value="naima"' in short.text
        created = await client.post(
            "/admin/users",
            data={
                "csrf_token": csrf_of(page.text),
                "username": "naima",
                "role": "coordinator",
                "wijken": "overvecht",
                "language": "ar",
                "password": PASSWORD,
            },
        )
        assert created.status_code == 303
    stored = json.dumps([r.data for r in await store.find(USERS, limit=1000)])
    assert PASSWORD not in stored
    assert "$argon2id$" in stored
    async with browser(gateway_app, address="10.0.2.2") as client:
        assert (await log_in(client, "naima")).status_code == 303
        caseload = await client.get("/caseload")
        assert 'dir="rtl"' in caseload.text
        assert 'lang="ar"' in caseload.text
