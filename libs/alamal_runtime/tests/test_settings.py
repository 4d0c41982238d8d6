"""Process configuration: settings read from the prefixed environment, and logging set-up."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
from pydantic import ValidationError
from pydantic_settings import SettingsConfigDict

from alamal_runtime.auth import Role, TokenVerifier, generate_keypair, mint_token
from alamal_runtime.logging import configure_logging
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.telemetry import setup_telemetry

PREFIX = "TESTSVC_"

USER_ID = "5e0c1b7a-2d4f-4e8a-b1c3-9a7f6d2e8b10"


class PrefixedSettings(ServiceSettings):
    """A service's settings, as each service declares them: its own env prefix."""

    model_config = SettingsConfigDict(env_prefix=PREFIX)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean environment for the test prefix, with the two settings that have no default."""
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv(f"{PREFIX}STORE_URL", "sqlite:///data/intake.sqlite3")
    monkeypatch.setenv(f"{PREFIX}KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    return monkeypatch


def test_settings_come_from_the_prefixed_environment(env: pytest.MonkeyPatch) -> None:
    _, public = generate_keypair()
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", public)
    env.setenv(f"{PREFIX}HTTP_PORT", "8123")
    env.setenv(f"{PREFIX}HANDLER_RETRIES", "5")
    env.setenv("HTTP_PORT", "9999")  # unprefixed: belongs to nobody

    settings = PrefixedSettings()

    assert settings.store_url.get_secret_value() == "sqlite:///data/intake.sqlite3"
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.http_port == 8123
    assert settings.handler_retries == 5
    assert settings.token_public_key_pem() == public
    assert settings.profile == "prod"


def test_a_missing_token_key_is_a_validation_error(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="TOKEN_PUBLIC_KEY"):
        PrefixedSettings()


@pytest.mark.parametrize("name", ["STORE_URL", "KAFKA_BOOTSTRAP"])
def test_a_missing_required_setting_is_a_validation_error(
    env: pytest.MonkeyPatch, name: str
) -> None:
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", generate_keypair()[1])
    env.delenv(f"{PREFIX}{name}")
    with pytest.raises(ValidationError, match=name.lower()):
        PrefixedSettings()


@pytest.mark.parametrize(
    ("name", "value"),
    [("HTTP_PORT", "0"), ("HANDLER_RETRIES", "-1"), ("PROFILE", "staging"), ("HTTP_PORT", "x")],
)
def test_out_of_range_values_are_refused(env: pytest.MonkeyPatch, name: str, value: str) -> None:
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", generate_keypair()[1])
    env.setenv(f"{PREFIX}{name}", value)
    with pytest.raises(ValidationError):
        PrefixedSettings()


def test_the_token_key_is_read_from_a_file(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    private, public = generate_keypair()
    key_file = tmp_path / "token-verify.pem"
    key_file.write_text(public, encoding="ascii")
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY_FILE", str(key_file))

    settings = PrefixedSettings()

    assert settings.token_public_key_file == key_file
    assert settings.token_public_key_pem() == public
    verifier = TokenVerifier(
        settings.token_public_key_pem(), audience="intake", issuer=settings.token_issuer
    )
    token = mint_token(private, user_id=USER_ID, role=Role.COORDINATOR)
    assert verifier.verify(token).user_id == USER_ID


def test_settings_are_frozen(env: pytest.MonkeyPatch) -> None:
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", generate_keypair()[1])
    settings = PrefixedSettings()
    with pytest.raises(ValidationError):
        settings.http_port = 1  # type: ignore[misc]


# --- logging -----------------------------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the other tests."""
    structlog_config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in ("aiokafka", "faststream")}
    yield
    structlog.contextvars.clear_contextvars()
    structlog.configure(**structlog_config)
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    for name, noisy_level in noisy.items():
        logging.getLogger(name).setLevel(noisy_level)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_logs_are_json_lines_with_the_service_and_level(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert not sys.stderr.isatty()
    configure_logging("intake", "INFO")
    log = structlog.get_logger("test")

    log.debug("hidden_below_the_level")
    log.info("family_registered", family_id="f-1")
    log.warning("something_odd")

    captured = capsys.readouterr()
    assert captured.out == ""
    lines = json_lines(captured.err)
    assert [line["event"] for line in lines] == ["family_registered", "something_odd"]
    first = lines[0]
    assert first["service"] == "intake"
    assert first["level"] == "info"
    assert first["family_id"] == "f-1"
    assert first["timestamp"].endswith("Z")
    assert "trace_id" not in first


def test_log_lines_inside_a_span_carry_its_trace_id(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    telemetry = setup_telemetry("intake", set_global=False)
    configure_logging("intake")
    log = structlog.get_logger("test")
    tracer = telemetry.tracer_provider.get_tracer("test")

    with tracer.start_as_current_span("handle request") as span:
        with structlog.contextvars.bound_contextvars(event_id="e-1"):
            log.info("inside")
        context = span.get_span_context()
    log.info("outside")
    telemetry.shutdown()

    inside, outside = json_lines(capsys.readouterr().err)
    assert inside["trace_id"] == format(context.trace_id, "032x")
    assert inside["span_id"] == format(context.span_id, "016x")
    assert inside["event_id"] == "e-1"
    assert inside["service"] == "intake"
    assert "trace_id" not in outside
    assert "event_id" not in outside


def test_exceptions_are_rendered_into_the_json_line(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("cases")
    log = structlog.get_logger("test")
    try:
        raise KeyError("case-1")
    except KeyError:
        log.exception("failed")

    [line] = json_lines(capsys.readouterr().err)
    assert line["event"] == "failed"
    assert line["level"] == "error"
    assert "KeyError" in line["exception"]


def test_a_store_url_with_credentials_never_shows_in_repr_or_dump(
    monkeypatch: pytest.MonkeyPatch, token_keys: tuple[str, str]
) -> None:
    _, public = token_keys
    monkeypatch.setenv(f"{PREFIX}STORE_URL", "mongodb://alamal:hunter2@mongo-1/alamal_intake")
    monkeypatch.setenv(f"{PREFIX}KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", public)

    settings = PrefixedSettings()

    assert "hunter2" not in repr(settings)
    assert "hunter2" not in settings.model_dump_json()
    assert "hunter2" in settings.store_url.get_secret_value()


@pytest.mark.parametrize(
    ("profile", "setting", "expected"),
    [
        pytest.param("prod", None, 500, id="prod-on-kafka"),
        pytest.param("dev", None, 20, id="dev-on-tansu"),
        pytest.param("test", None, 20, id="test-on-tansu"),
        pytest.param("prod", "50", 50, id="set-explicitly"),
    ],
)
def test_the_consumer_fetch_wait_follows_the_broker_of_the_profile(
    env: pytest.MonkeyPatch, profile: str, setting: str | None, expected: int
) -> None:
    env.setenv(f"{PREFIX}TOKEN_PUBLIC_KEY", generate_keypair()[1])
    env.setenv(f"{PREFIX}PROFILE", profile)
    if setting is not None:
        env.setenv(f"{PREFIX}KAFKA_FETCH_MAX_WAIT_MS", setting)
    assert PrefixedSettings().fetch_max_wait_ms() == expected
