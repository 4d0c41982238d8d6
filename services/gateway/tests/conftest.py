"""Gateway test fixtures: the gateway in-process on the session broker, with its own store."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from alamal_gateway.accounts import User, create_user
from alamal_gateway.app import create_app
from alamal_gateway.settings import GatewaySettings
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_runtime.telemetry import setup_telemetry

PASSWORD = "correct horse battery staple"
BASE = "https://gateway.test"


def closed_port_url() -> str:
    """A URL on a local port nothing listens on (a service that is down)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def gateway_settings(
    tmp: Any, kafka_bootstrap: str, token_keys: tuple[str, str], **overrides: Any
) -> GatewaySettings:
    """Settings of an in-process gateway; the services are down unless overridden."""
    private, _ = token_keys
    down = closed_port_url()
    values: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp}/gateway.sqlite3",
        "kafka_bootstrap": kafka_bootstrap,
        "token_signing_key": private,
        "profile": "test",
        "intake_url": down,
        "cases_url": down,
        "notifications_url": down,
        "reporting_url": down,
        "service_timeout_seconds": 2.0,
        "kafka_consumer_group": f"test-gateway-{uuid.uuid4().hex[:12]}",
        "login_max_failures": 3,
        "login_ip_max_attempts": 25,
    }
    values.update(overrides)
    return GatewaySettings(**values)


@pytest.fixture(scope="module")
async def gateway_app(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[FastAPI]:
    """The gateway running in-process with every service down."""
    settings = gateway_settings(tmp_path_factory.mktemp("gateway"), kafka_bootstrap, token_keys)
    app = create_app(settings, telemetry=setup_telemetry("gateway", set_global=False))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
def store(gateway_app: FastAPI) -> Store:
    """The gateway's own store."""
    result: Store = gateway_app.state.store
    return result


def browser(app: FastAPI, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A cookie-keeping client, as a browser on `address` (https, so Secure cookies flow)."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 50000)),
        base_url=BASE,
        timeout=10,
    )


@pytest.fixture
async def make_user(store: Store) -> Callable[..., Any]:
    """Create a user with a unique username and the test password."""

    async def _make(role: Role = Role.TRUSTED_PERSON, **kw: Any) -> User:
        name = kw.pop("username", f"u{uuid.uuid4().hex[:10]}")
        return await create_user(
            store,
            username=name,
            password=PASSWORD,
            role=role,
            wijken=kw.pop("wijken", ("overvecht",)),
            **kw,
        )

    return _make


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The synchroniser token of the first form on a page."""
    match = _CSRF.search(html)
    assert match is not None, "no csrf token on the page"
    return match.group(1)


async def log_in(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    """Fetch the login page, then post the form with its token."""
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
    )
