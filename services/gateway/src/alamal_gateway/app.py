"""Gateway's composition root: the only place its objects are built."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from alamal_gateway import accounts
from alamal_gateway.clients import ServiceClients
from alamal_gateway.demo import ensure_demo_users
from alamal_gateway.i18n import load_translations
from alamal_gateway.login_guard import Limits, LoginGuard
from alamal_gateway.offline_keys import OfflineKeys
from alamal_gateway.sessions import SessionStore
from alamal_gateway.settings import GatewaySettings
from alamal_gateway.web import (
    admin,
    casework,
    coordination,
    errors,
    families,
    family_edit,
    held_visits,
    login,
    offline,
    ops,
    partners,
    plan,
    privacy,
    registration,
    reports,
)
from alamal_gateway.web.security import SecurityHeaders
from alamal_gateway.web.state import Gateway
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.store import Store
from alamal_runtime.telemetry import Telemetry


def _templates() -> Environment:
    folder = str(resources.files("alamal_gateway").joinpath("templates"))
    return Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(settings: GatewaySettings, *, telemetry: Telemetry | None = None) -> FastAPI:
    """Build the gateway: login, sessions, the staff pages, and calls to the services."""
    runtime = ServiceRuntime(settings, service="gateway", telemetry=telemetry)
    # httpx logs every URL at INFO; `service_call` logs the same without ids.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    signing_key = settings.signing_key_pem()
    clients = ServiceClients(
        {
            "intake": _url(settings.intake_url),
            "cases": _url(settings.cases_url),
            "notifications": _url(settings.notifications_url),
            "reporting": _url(settings.reporting_url),
        },
        signing_key=signing_key,
        ttl=settings.token_ttl_seconds,
        timeout=settings.service_timeout_seconds,
        telemetry=runtime.telemetry,
    )
    gateway = Gateway(
        settings=settings,
        store=runtime.store,
        sessions=SessionStore(
            runtime.store,
            idle=timedelta(seconds=settings.session_idle_seconds),
            absolute=timedelta(seconds=settings.session_absolute_seconds),
        ),
        guard=LoginGuard(
            runtime.store,
            Limits(
                max_failures=settings.login_max_failures,
                lockout=timedelta(seconds=settings.login_lockout_seconds),
                window=timedelta(seconds=settings.login_window_seconds),
                ip_max_attempts=settings.login_ip_max_attempts,
            ),
            # Derived from the signing key: stable across restarts, never stored separately.
            address_key=hashlib.sha256(b"login-address:" + signing_key.encode()).digest(),
        ),
        clients=clients,
        templates=_templates(),
        translations=load_translations(),
        offline_keys=OfflineKeys.from_signing_key(signing_key),
    )
    runtime.on_start(accounts.prepare)
    if settings.demo_users and settings.profile == "dev" and settings.data_dir is not None:
        data_dir = settings.data_dir

        async def _demo(store: Store) -> None:
            await ensure_demo_users(store, data_dir)

        runtime.on_start(_demo)
    app = runtime.create_app(
        title="Al Amal gateway",
        routers=[
            login.router,
            family_edit.router,
            coordination.router,
            registration.router,
            families.router,
            casework.router,
            admin.router,
            ops.router,
            reports.router,
            partners.router,
            plan.router,
            privacy.router,
            offline.router,
            held_visits.router,
        ],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.gateway = gateway
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(served: FastAPI) -> AsyncIterator[None]:
        async with inner(served):
            try:
                yield
            finally:
                await clients.close()

    app.router.lifespan_context = lifespan
    static = str(resources.files("alamal_gateway").joinpath("static"))
    app.mount("/static", StaticFiles(directory=static), name="static")
    errors.install(app)
    app.add_middleware(SecurityHeaders, hsts=settings.profile == "prod")
    return app


def _url(value: object | None) -> str | None:
    return None if value is None else str(value)
