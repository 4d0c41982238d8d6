"""Intake test fixtures: the service in-process on the session broker, its own store per module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from alamal_intake.app import create_app
from alamal_intake.settings import IntakeSettings
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_runtime.telemetry import setup_telemetry

type Mint = Callable[..., str]

PLANTED_NAMES = ("Fatima", "El Amrani", "Yasmine")
"""Personal values planted in every registration; they must never leave intake's store."""
PLANTED_BIRTH_YEARS = (1984, 2016)
ERASURE_ALERT_SECONDS = 1.5
"""Test modules alert on an erasure a service has not confirmed within this time."""


def family_body(
    trusted_person_id: str | None = None, *, wijk: str = "overvecht", **overrides: Any
) -> dict[str, Any]:
    """A valid POST /families body carrying the planted names and birth years."""
    body: dict[str, Any] = {
        "members": [
            {
                "role": "mother",
                "birth_year": PLANTED_BIRTH_YEARS[0],
                "first_name": PLANTED_NAMES[0],
                "surname": PLANTED_NAMES[1],
                "languages": ["ar", "nl"],
            },
            {"role": "child", "birth_year": PLANTED_BIRTH_YEARS[1], "first_name": PLANTED_NAMES[2]},
        ],
        "wijk": wijk,
        "projects": ["tussen-in"],
        "languages": ["nl", "ar"],
        "intake_source": "school",
        "consents": [
            {"purpose": "care", "granted": True},
            {"purpose": "reporting", "granted": False},
        ],
    }
    if trusted_person_id is not None:
        body["trusted_person_id"] = trusted_person_id
    body.update(overrides)
    return body


@dataclass(frozen=True, slots=True)
class Caller:
    """A staff user with her own service token."""

    user_id: str
    headers: dict[str, str]


@pytest.fixture(scope="session")
def caller(mint: Mint) -> Callable[..., Caller]:
    """Make a caller: `caller(Role.COORDINATOR, wijken={"overvecht"})`, with a fresh user id."""

    def _caller(role: Role, *, wijken: set[str] | None = None, **kw: object) -> Caller:
        user_id = str(uuid.uuid4())
        token = mint(user_id=user_id, role=role, wijken=wijken or set(), **kw)
        return Caller(user_id=user_id, headers={"Authorization": f"Bearer {token}"})

    return _caller


@pytest.fixture(scope="module")
async def client(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    """Intake running in-process (lifespan started) on the session broker; one store per module."""
    _, public_pem = token_keys
    store_dir = tmp_path_factory.mktemp("intake")
    settings = IntakeSettings(
        store_url=f"sqlite:///{store_dir}/intake.sqlite3",
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=public_pem,
        profile="test",
        # Intake consumes (legal holds, erasure confirmations): one consumer group per module,
        # as Tansu ignores a clean leave and a shared group would wait for departed members.
        kafka_consumer_group=f"test-intake-{uuid.uuid4().hex[:12]}",
        kafka_session_timeout_ms=3000,
        erasure_confirm_within_seconds=ERASURE_ALERT_SECONDS,
        erasure_check_seconds=0.2,
        data_dir=store_dir,
    )
    app = create_app(settings, telemetry=setup_telemetry("intake", set_global=False))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://intake.test", timeout=10
        ) as http,
    ):
        yield http


@pytest.fixture
def intake_store(client: httpx.AsyncClient) -> Store:
    """The store of the in-process intake behind `client`, for what no endpoint shows."""
    transport = client._transport  # the ASGI transport built by the `client` fixture
    assert isinstance(transport, httpx.ASGITransport)
    store: Store = transport.app.state.store  # type: ignore[attr-defined]
    return store
