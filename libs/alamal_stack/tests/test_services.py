"""Unit tests: the service registry and the environment contract (no I/O)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from alamal_stack.services import (
    SERVICES,
    ServiceSpec,
    mongodb_store_url,
    select_services,
    service_env,
    store_url,
)

INTAKE = ServiceSpec("intake", "alamal_intake", "INTAKE_", 8101)


def _env(environ: dict[str, str], spec: ServiceSpec = INTAKE) -> dict[str, str]:
    return service_env(
        spec,
        port=9101,
        data_dir=Path("/srv/data"),
        bootstrap="127.0.0.1:19092",
        verify_key=Path("/srv/data/keys/token-verify.pem"),
        partitions=3,
        environ=environ,
    )


def test_env_contract_sets_every_managed_variable() -> None:
    env = _env({"PATH": "/usr/bin"})
    assert env == {
        "PATH": "/usr/bin",
        "PYTHONUNBUFFERED": "1",
        "INTAKE_PROFILE": "dev",
        "INTAKE_HTTP_HOST": "127.0.0.1",
        "INTAKE_HTTP_PORT": "9101",
        "INTAKE_STORE_URL": "sqlite:////srv/data/intake/intake.sqlite3",
        "INTAKE_KAFKA_BOOTSTRAP": "127.0.0.1:19092",
        "INTAKE_KAFKA_TOPIC_PARTITIONS": "3",
        "INTAKE_TOKEN_PUBLIC_KEY_FILE": "/srv/data/keys/token-verify.pem",
        "INTAKE_DATA_DIR": "/srv/data/intake",
    }


def test_only_a_signing_service_gets_the_signing_key_and_peer_urls() -> None:
    gateway = next(s for s in SERVICES if s.name == "gateway")
    peers = {"intake": "http://127.0.0.1:1", "gateway": "http://127.0.0.1:2"}
    signing = Path("/srv/data/keys/token-signing.pem")
    common = {
        "port": 9100,
        "data_dir": Path("/srv/data"),
        "bootstrap": "b:1",
        "verify_key": Path("/srv/data/keys/token-verify.pem"),
        "partitions": 1,
        "environ": {},
    }
    env = service_env(gateway, signing_key=signing, peers=peers, **common)  # type: ignore[arg-type]
    assert env["GATEWAY_TOKEN_SIGNING_KEY_FILE"] == str(signing)
    assert env["GATEWAY_INTAKE_URL"] == "http://127.0.0.1:1"
    assert "GATEWAY_GATEWAY_URL" not in env
    plain = service_env(INTAKE, signing_key=signing, peers=peers, **common)  # type: ignore[arg-type]
    assert not any("SIGNING" in k or k == "INTAKE_GATEWAY_URL" for k in plain)
    with pytest.raises(ValueError, match="signing key"):
        service_env(gateway, **common)  # type: ignore[arg-type]


def test_env_passes_otel_log_level_and_own_prefix_but_nothing_else() -> None:
    env = _env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
            "LOG_LEVEL": "DEBUG",
            "INTAKE_MAX_BODY_BYTES": "2048",
            "CASES_HTTP_PORT": "1",
            "AWS_SECRET_ACCESS_KEY": "nope",
            "LC_ALL": "C.UTF-8",
        }
    )
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"
    assert env["INTAKE_LOG_LEVEL"] == "DEBUG"
    assert env["INTAKE_MAX_BODY_BYTES"] == "2048"
    assert env["LC_ALL"] == "C.UTF-8"
    assert "CASES_HTTP_PORT" not in env
    assert "AWS_SECRET_ACCESS_KEY" not in env


def test_prefixed_log_level_wins_and_managed_values_cannot_be_overridden() -> None:
    env = _env(
        {"LOG_LEVEL": "DEBUG", "INTAKE_LOG_LEVEL": "WARNING", "INTAKE_STORE_URL": "mongodb://x/y"}
    )
    assert env["INTAKE_LOG_LEVEL"] == "WARNING"
    assert env["INTAKE_STORE_URL"] == "sqlite:////srv/data/intake/intake.sqlite3"


def test_ports_follow_the_base_port() -> None:
    assert INTAKE.port(None) == 8101
    assert INTAKE.port(9000) == 9001


def test_command_runs_the_module_with_this_interpreter() -> None:
    assert INTAKE.command() == [sys.executable, "-m", "alamal_intake"]


def test_store_url_is_absolute_sqlite_file_per_service(tmp_path: Path) -> None:
    assert store_url(INTAKE, tmp_path) == f"sqlite:///{tmp_path.resolve()}/intake/intake.sqlite3"


def test_on_mongodb_each_service_gets_its_own_database_with_the_url_options_kept() -> None:
    rs = "mongodb://user:pw@m1:27017,m2:27017/?replicaSet=rs0&tls=true"
    assert mongodb_store_url(INTAKE, rs) == (
        "mongodb://user:pw@m1:27017,m2:27017/alamal_intake?replicaSet=rs0&tls=true"
    )
    assert mongodb_store_url(INTAKE, "mongodb://127.0.0.1:5/other?directConnection=true") == (
        "mongodb://127.0.0.1:5/alamal_intake?directConnection=true"
    )
    env = service_env(
        INTAKE,
        port=9101,
        data_dir=Path("/srv/data"),
        bootstrap="127.0.0.1:19092",
        verify_key=Path("/srv/data/keys/token-verify.pem"),
        partitions=3,
        environ={"INTAKE_STORE_URL": "sqlite:///elsewhere.db"},
        store=mongodb_store_url(INTAKE, rs),
    )
    assert env["INTAKE_STORE_URL"] == mongodb_store_url(INTAKE, rs)


def test_registry_is_consistent() -> None:
    names = [s.name for s in SERVICES]
    assert {"intake", "cases"} <= set(names)
    assert len(set(names)) == len(names)
    assert len({s.default_port for s in SERVICES}) == len(SERVICES)
    for spec in SERVICES:
        assert spec.env_prefix == spec.name.upper() + "_"
        assert spec.module == "alamal_" + spec.name


def test_select_services_keeps_registry_order_and_rejects_unknown() -> None:
    assert select_services(None) == SERVICES
    assert [s.name for s in select_services(["cases", "intake"])] == ["intake", "cases"]
    assert [s.name for s in select_services([" cases", ""])] == ["cases"]
    with pytest.raises(ValueError, match="unknown service"):
        select_services(["intake", "billing"])
