"""Rules `docker-compose.yml` must keep, beyond the Compose Specification's JSON Schema."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from alamal_ops.checks.yaml_subset import Node

EXEMPT_LABEL = "alamal.healthcheck-exempt"
# Variables a service may read that are not its own settings (OpenTelemetry's SDK reads these).
SHARED_ENV = re.compile(r"OTEL_[A-Z_]+")
_SECRET_NAME = re.compile(r"(?i)(password|passwd|secret|token|api_?key|private_?key|credential)")
_SECRET_VALUE = re.compile(
    r"(?i)(-----BEGIN|whsec_[A-Za-z0-9+/=]{8,}|eyJ[A-Za-z0-9_-]{10,}\.|://[^/@\s]+:[^/@\s]+@)"
)
_INTERPOLATION = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")


def schema_errors(compose: Node, schema_path: Path) -> list[str]:
    """Every violation of the Compose Specification schema, as `path: message`."""
    import jsonschema  # type: ignore[import-untyped]

    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(compose)
    )


def rule_errors(compose: Node, settings_fields: Mapping[str, Iterable[str]]) -> list[str]:
    """The platform's own rules; `settings_fields` maps a service to its settings field names."""
    found = compose.get("services") if isinstance(compose, dict) else None
    if not isinstance(compose, dict) or not isinstance(found, dict):
        return ["no services"]
    services: dict[str, Any] = found
    errors: list[str] = []
    errors += _images_pinned(services)
    errors += _healthchecks(services)
    errors += _depends_on_health(services)
    errors += _no_secret_values(compose)
    errors += _env_names(services, settings_fields)
    errors += _named_volumes(compose, services)
    return errors


def _images_pinned(services: dict[str, Any]) -> list[str]:
    errors = []
    for name, svc in services.items():
        image = svc.get("image")
        if image is None:
            if "build" not in svc:
                errors.append(f"{name}: neither image nor build")
            continue
        ref = str(image)
        tag = ref.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
        if "@sha256:" not in ref and (not tag or tag == "latest" or not re.search(r"\d", tag)):
            errors.append(f"{name}: image {ref} is not pinned to a version")
    return errors


def _healthchecks(services: dict[str, Any]) -> list[str]:
    errors = []
    for name, svc in services.items():
        labels = svc.get("labels") or {}
        exempt = isinstance(labels, dict) and bool(labels.get(EXEMPT_LABEL))
        check = svc.get("healthcheck")
        has_test = isinstance(check, dict) and bool(check.get("test")) and not check.get("disable")
        if not has_test and not exempt:
            errors.append(f"{name}: no healthcheck (or label {EXEMPT_LABEL} with the reason)")
    return errors


def _depends_on_health(services: dict[str, Any]) -> list[str]:
    errors = []
    for name, svc in services.items():
        depends = svc.get("depends_on") or {}
        if isinstance(depends, list):
            errors.append(f"{name}: depends_on must name a condition for each dependency")
            continue
        for dep, spec in depends.items():
            if dep not in services:
                errors.append(f"{name}: depends on unknown service {dep}")
                continue
            condition = spec.get("condition") if isinstance(spec, dict) else None
            if condition == "service_healthy" and not _has_test(services[dep]):
                errors.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")
    return errors


def _has_test(svc: dict[str, Any]) -> bool:
    check = svc.get("healthcheck")
    return isinstance(check, dict) and bool(check.get("test")) and not check.get("disable")


def _no_secret_values(compose: dict[str, Any]) -> list[str]:
    errors = []
    for path, key, value in _walk(compose, ""):
        if not isinstance(value, str):
            continue
        if _SECRET_VALUE.search(value):
            errors.append(f"{path}: value looks like a secret")
        elif (
            key is not None
            and _SECRET_NAME.search(key)
            and not key.endswith("_FILE")
            and not _INTERPOLATION.match(value)
        ):
            errors.append(f"{path}: {key} must come from .env or a secret file, not this file")
    return errors


def _walk(node: Any, path: str) -> Iterable[tuple[str, str | None, Any]]:
    if isinstance(node, dict):
        for key, value in node.items():
            sub = f"{path}/{key}"
            if isinstance(value, dict | list):
                yield from _walk(value, sub)
            else:
                yield sub, str(key), value
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}/{index}")


def _env_names(services: dict[str, Any], settings_fields: Mapping[str, Iterable[str]]) -> list[str]:
    errors = []
    for name, fields in settings_fields.items():
        svc = services.get(name)
        if svc is None:
            errors.append(f"{name}: service missing from the compose file")
            continue
        known = {field.upper() for field in fields}
        prefix = f"{name.upper()}_"
        env = svc.get("environment") or {}
        names = env if isinstance(env, dict) else [item.split("=", 1)[0] for item in env]
        for var in names:
            if SHARED_ENV.fullmatch(var):
                continue
            if not var.startswith(prefix) or var.removeprefix(prefix) not in known:
                errors.append(f"{name}: {var} is not a setting of the {name} service")
    return errors


def _named_volumes(compose: dict[str, Any], services: dict[str, Any]) -> list[str]:
    declared = set((compose.get("volumes") or {}).keys())
    errors = []
    for name, svc in services.items():
        for mount in svc.get("volumes") or []:
            source = str(mount).split(":", 1)[0] if isinstance(mount, str) else ""
            if source and not source.startswith((".", "/", "~", "$")) and source not in declared:
                errors.append(f"{name}: volume {source} is not declared under volumes")
    return errors
