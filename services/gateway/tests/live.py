"""The gateway in-process in front of the real services (intake, cases, notifications,
reporting), each served by uvicorn on a free local port with its own SQLite file, all on the
session's Tansu broker. Pages are fetched as a logged-in user, so a template error, a shape the
template does not expect, or a 500 shows up as a failing test, not in a living room."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from alamal_cases.app import create_app as cases_app
from alamal_cases.settings import CasesSettings
from alamal_gateway.accounts import User, create_user
from alamal_gateway.app import create_app as gateway_app
from alamal_intake.app import create_app as intake_app
from alamal_intake.settings import IntakeSettings
from alamal_notifications.app import create_app as notifications_app
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import TEST_SETTINGS
from alamal_reporting.app import create_app as reporting_app
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.auth import Role, mint_token
from alamal_runtime.telemetry import setup_telemetry

from .conftest import PASSWORD, browser, gateway_settings, log_in


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def served(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app with uvicorn on a free port (its lifespan runs); yield its URL."""
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Platform:
    """The running platform: the gateway app, service URLs, and a way to act as a user."""

    gateway: FastAPI
    urls: dict[str, str]
    signing_key: str
    users: dict[str, User] = field(default_factory=dict)
    services: dict[str, FastAPI] = field(default_factory=dict)
    """The services' apps (their stores are `app.state.store`), to check what they recorded."""
    logins: int = 0

    def token(self, user: User) -> str:
        """A service token for `user`, as the gateway would mint it."""
        return mint_token(
            self.signing_key,
            user_id=user.id,
            role=user.role,
            wijken=list(user.wijken),
            audience="intake",
            ttl_seconds=120,
        )

    async def call(self, user: User, service: str, method: str, path: str, **kw: Any) -> Any:
        """Call a service directly as `user` (to build data states quickly)."""
        token = mint_token(
            self.signing_key,
            user_id=user.id,
            role=user.role,
            wijken=list(user.wijken),
            audience=service,
            ttl_seconds=120,
        )
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        async with httpx.AsyncClient(base_url=self.urls[service], timeout=20) as client:
            response = await client.request(method, path, headers=headers, **kw)
        assert response.status_code < 300, (service, path, response.status_code, response.text)
        return response.json() if response.content else None

    @asynccontextmanager
    async def session(self, user: User) -> AsyncIterator[httpx.AsyncClient]:
        """A browser-like client logged in as `user`."""
        # Each session from its own address: the login rate limit per address stays out of it.
        self.logins += 1
        address = f"10.9.{self.logins // 250}.{self.logins % 250 + 1}"
        async with browser(self.gateway, address=address) as client:
            answer = await log_in(client, user.username)
            assert answer.status_code == 303, answer.text
            yield client


@asynccontextmanager
async def platform(
    tmp: Path,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    *,
    down: tuple[str, ...] = (),
    settings: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Platform]:
    """Every service up (except those in `down`), the gateway in front of them; `settings`
    overrides a service's settings (e.g. a compressed retention clock)."""
    private, public = token_keys

    def common(name: str) -> dict[str, Any]:
        return (
            (settings or {}).get(name, {})
            | {
                "store_url": f"sqlite:///{tmp}/{name}.sqlite3",
                "data_dir": tmp / name,  # intake's and cases' dev KEK
                "kafka_bootstrap": kafka_bootstrap,
                "token_public_key": public,
                "profile": "test",
                "kafka_session_timeout_ms": 2000,
                "outbox_poll_seconds": 0.1,
                "kafka_consumer_group": f"test-{name}-{uuid.uuid4().hex[:10]}",
            }
        )

    builders = {
        "intake": lambda: intake_app(
            IntakeSettings(**common("intake")),
            telemetry=setup_telemetry("intake", set_global=False),
        ),
        "cases": lambda: cases_app(
            CasesSettings(**common("cases")), telemetry=setup_telemetry("cases", set_global=False)
        ),
        "notifications": lambda: notifications_app(
            NotificationsSettings(**{**TEST_SETTINGS, **common("notifications"), "data_dir": tmp}),
            telemetry=setup_telemetry("notifications", set_global=False),
        ),
        "reporting": lambda: reporting_app(
            ReportingSettings(**common("reporting")),
            telemetry=setup_telemetry("reporting", set_global=False),
        ),
    }
    async with AsyncExitStack() as stack:
        apps = {name: build() for name, build in builders.items() if name not in down}
        urls = {name: await stack.enter_async_context(served(app)) for name, app in apps.items()}
        app = await stack.enter_async_context(
            _gateway(tmp / "gw", kafka_bootstrap, token_keys, urls)
        )
        yield Platform(gateway=app, urls=urls, signing_key=private, services=apps)


@asynccontextmanager
async def _gateway(
    folder: Path, kafka_bootstrap: str, token_keys: tuple[str, str], urls: dict[str, str]
) -> AsyncIterator[FastAPI]:
    """A gateway (its own store in `folder`) in front of the services at `urls`; a service
    left out is down for it (its URL is a port nothing listens on)."""
    settings = gateway_settings(
        folder, kafka_bootstrap, token_keys, **{f"{n}_url": u for n, u in urls.items()}
    )
    await asyncio.to_thread(folder.mkdir, exist_ok=True)
    app = gateway_app(settings, telemetry=setup_telemetry("gateway", set_global=False))
    async with app.router.lifespan_context(app):
        yield app


@asynccontextmanager
async def second_gateway(
    p: Platform,
    folder: Path,
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    *,
    down: tuple[str, ...],
) -> AsyncIterator[Platform]:
    """Another gateway in front of the same running services, to which those in `down` do not
    answer (as when one is stopped); it has its own users."""
    urls = {n: u for n, u in p.urls.items() if n not in down}
    async with _gateway(folder, kafka_bootstrap, token_keys, urls) as app:
        yield Platform(gateway=app, urls=urls, signing_key=p.signing_key, services=p.services)


async def add_user(
    p: Platform, name: str, role: Role, *, wijken: tuple[str, ...] = (), language: str = "nl"
) -> User:
    """A staff user in the gateway's store, known as `name` in the platform."""
    user = await create_user(
        p.gateway.state.store,
        username=f"{name}-{uuid.uuid4().hex[:6]}",
        password=PASSWORD,
        role=role,
        wijken=wijken,
        language=language,
        display_name=name.capitalize(),
    )
    p.users[name] = user
    return user
