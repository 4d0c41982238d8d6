"""Fixtures shared by every test layer: the real embedded broker, a mongoeco wire server and
service-token keys."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from alamal_runtime.auth import Role, generate_keypair, mint_token
from alamal_stack.mongoeco_server import MongoecoServer
from alamal_stack.tansu import TansuBroker

type Mint = Callable[..., str]

pytest_plugins = ("alamal_stack.openapi_recorder",)
"""Every error a service answers in the tests must be in its OpenAPI (checked at the end)."""


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """One real Tansu broker (Kafka protocol) on 127.0.0.1 for the whole test session."""
    with TansuBroker() as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def mongoeco_uri() -> Iterator[str]:
    """One mongoeco wire server (MongoDB's wire protocol) for the whole session; give each
    store its own database (`alamal_stack.mongoeco_server.database_url`)."""
    with MongoecoServer() as server:
        yield server.uri


@pytest.fixture(scope="session")
def token_keys() -> tuple[str, str]:
    """A fresh Ed25519 pair (private PEM, public PEM) for signing test service tokens."""
    return generate_keypair()


@pytest.fixture(scope="session")
def mint(token_keys: tuple[str, str]) -> Mint:
    """Mint a service token: `mint(user_id=..., role=Role.COORDINATOR, wijken={...})`."""
    private, _ = token_keys

    def _mint(*, user_id: str, role: Role, wijken: set[str] | None = None, **kw: object) -> str:
        return mint_token(private, user_id=user_id, role=role, wijken=wijken or set(), **kw)  # type: ignore[arg-type]

    return _mint
