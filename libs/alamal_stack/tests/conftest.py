"""Shared fixtures: one real Tansu broker per session, and the fake service's spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alamal_stack.services import ServiceSpec
from alamal_stack.tansu import TansuBroker

TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    """A real broker for the whole session, started with the synchronous API."""
    tansu = TansuBroker(log_dir=tmp_path_factory.mktemp("tansu"))
    tansu.start()
    yield tansu
    tansu.stop()


@pytest.fixture
def fake_spec() -> ServiceSpec:
    """A registry entry for `fake_service.py` in this folder."""
    return ServiceSpec("fake", "fake_service", "FAKE_", 8199)


@pytest.fixture
def fake_env() -> dict[str, str]:
    """Extra environment that lets the fake service module be found."""
    return {"PYTHONPATH": str(TESTS_DIR)}
