"""docker-compose.yml: Compose Specification schema and the platform's own rules.

No Docker engine runs here, so the file is parsed and checked, never started. Each rule has a
test that breaks a copy on purpose and expects the check to say so.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from alamal_cases.settings import CasesSettings
from alamal_gateway.settings import GatewaySettings
from alamal_intake.settings import IntakeSettings
from alamal_notifications.settings import NotificationsSettings
from alamal_ops.checks import compose as rules
from alamal_ops.checks.yaml_subset import YamlSubsetError, load
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "deploy" / "schema" / "compose-spec.json"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "intake": IntakeSettings,
    "cases": CasesSettings,
    "notifications": NotificationsSettings,
    "reporting": ReportingSettings,
    "gateway": GatewaySettings,
}
FIELDS = {name: list(cls.model_fields) for name, cls in SETTINGS.items()}


@pytest.fixture
def compose() -> Any:
    """A fresh parse of the real file (tests may change it)."""
    return load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_compose_file_matches_the_compose_specification(compose: Any) -> None:
    assert rules.schema_errors(compose, SCHEMA) == []


def test_compose_file_keeps_the_platform_rules(compose: Any) -> None:
    assert rules.rule_errors(compose, FIELDS) == []


def test_every_service_and_the_tracing_pipeline_are_there(compose: Any) -> None:
    services = set(compose["services"])
    assert {
        "kafka",
        "mongodb",
        "mongodb-init",
        "otel-collector",
        "jaeger",
        "prometheus",
    } <= services
    assert set(SETTINGS) <= services
    for name in SETTINGS:
        svc = compose["services"][name]
        assert svc["build"] == {"context": ".", "dockerfile": f"services/{name}/Dockerfile"}
        env = svc["environment"]
        prefix = name.upper()
        assert env[f"{prefix}_STORE_URL"].endswith(f"/alamal_{name}?replicaSet=rs0")
        assert env[f"{prefix}_KAFKA_BOOTSTRAP"] == "kafka:9092"
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318"


def test_keys_reach_services_as_secret_files(compose: Any) -> None:
    services = compose["services"]
    for name in ("intake", "cases", "notifications", "reporting"):
        assert "token_verify" in services[name]["secrets"]
        assert services[name]["environment"][f"{name.upper()}_TOKEN_PUBLIC_KEY_FILE"] == (
            "/run/secrets/token_verify"
        )
    assert services["gateway"]["secrets"] == ["token_signing"]
    assert "token_signing" not in str({k: v for k, v in services.items() if k != "gateway"}), (
        "only the gateway may mount the signing key"
    )


def test_env_example_lists_every_variable_the_compose_file_reads() -> None:
    import re

    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    listed = {line.split("=", 1)[0] for line in example.splitlines() if re.match(r"[A-Z]", line)}
    assert used <= listed, f"missing from .env.example: {sorted(used - listed)}"


# --- each check fails when the file is broken on purpose ---------------------------------------


def test_schema_check_reports_an_unknown_key(compose: Any) -> None:
    compose["services"]["intake"]["helthcheck"] = {"test": ["CMD", "true"]}
    assert any("helthcheck" in e for e in rules.schema_errors(compose, SCHEMA))


def test_schema_check_reports_a_bad_depends_on_condition(compose: Any) -> None:
    compose["services"]["cases"]["depends_on"]["kafka"]["condition"] = "service_ready"
    assert rules.schema_errors(compose, SCHEMA) != []


@pytest.mark.parametrize("image", ["mongo", "mongo:latest", "apache/kafka:latest"])
def test_unpinned_image_is_reported(compose: Any, image: str) -> None:
    compose["services"]["mongodb"]["image"] = image
    assert any("mongodb: image" in e for e in rules.rule_errors(compose, FIELDS))


def test_missing_healthcheck_is_reported(compose: Any) -> None:
    del compose["services"]["cases"]["healthcheck"]
    errors = rules.rule_errors(compose, FIELDS)
    assert any(e.startswith("cases: no healthcheck") for e in errors)
    assert any("waits for cases to be healthy" in e for e in errors)


def test_disabled_healthcheck_without_a_reason_is_reported(compose: Any) -> None:
    del compose["services"]["otel-collector"]["labels"][rules.EXEMPT_LABEL]
    errors = rules.rule_errors(compose, FIELDS)
    assert any(e.startswith("otel-collector: no healthcheck") for e in errors)


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("INTAKE_STORE_URL", "mongodb://admin:hunter2@mongodb:27017/alamal_intake"),
        ("INTAKE_TOKEN_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----"),
        ("NOTIFICATIONS_SECRETS_KEY", "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="),
    ],
)
def test_secret_looking_values_are_reported(compose: Any, var: str, value: str) -> None:
    service = var.split("_", 1)[0].lower()
    compose["services"][service]["environment"][var] = value
    assert any("secret" in e for e in rules.rule_errors(compose, FIELDS))


def test_env_name_unknown_to_the_settings_is_reported(compose: Any) -> None:
    compose["services"]["reporting"]["environment"]["REPORTING_STOER_URL"] = "x"
    compose["services"]["cases"]["environment"]["INTAKE_HTTP_PORT"] = "1"
    errors = rules.rule_errors(compose, FIELDS)
    assert "reporting: REPORTING_STOER_URL is not a setting of the reporting service" in errors
    assert "cases: INTAKE_HTTP_PORT is not a setting of the cases service" in errors


def test_undeclared_named_volume_is_reported(compose: Any) -> None:
    broken = copy.deepcopy(compose)
    del broken["volumes"]["mongo-data"]
    assert "mongodb: volume mongo-data is not declared under volumes" in rules.rule_errors(
        broken, FIELDS
    )


def test_service_missing_from_the_file_is_reported(compose: Any) -> None:
    del compose["services"]["gateway"]
    assert "gateway: service missing from the compose file" in rules.rule_errors(compose, FIELDS)


# --- the YAML subset loader ---------------------------------------------------------------------


def test_loader_reads_the_subset_like_a_yaml_loader() -> None:
    text = (
        "a: 1\n"
        "b:\n"
        "  c: 'it''s'   # comment\n"
        '  d: ["x, y", z, 3]\n'
        "  e:\n"
        "    - ./p:/q:ro\n"
        '    - "127.0.0.1:80:80"\n'
        "  f: true\n"
        "  g:\n"
        "h: ${X:-a#b}\n"
    )
    assert load(text) == {
        "a": 1,
        "b": {
            "c": "it's",
            "d": ["x, y", "z", 3],
            "e": ["./p:/q:ro", "127.0.0.1:80:80"],
            "f": True,
            "g": None,
        },
        "h": "${X:-a#b}",
    }


@pytest.mark.parametrize(
    "text",
    [
        "a: &anchor 1\n",
        "a: {b: 1}\n",
        "a: |\n  text\n",
        "a:\n  - b: 1\n",
        "a: 1\na: 2\n",
        "a:\n\t- b\n",
        "a: 'open\n",
        "a: [1, [2]]\n",
    ],
)
def test_loader_refuses_what_it_does_not_support(text: str) -> None:
    with pytest.raises(YamlSubsetError):
        load(text)


def test_loader_agrees_with_pyyaml_when_it_is_installed() -> None:
    yaml = pytest.importorskip("yaml")
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert load(text) == yaml.safe_load(text)
