"""Every service Dockerfile: multi-stage, pinned bases, non-root, health check, no secrets.

Parsed, never built (no Docker engine here). Each rule is shown to fail on a broken copy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from alamal_ops.checks.dockerfile import parse, rule_errors

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "cases", "notifications", "reporting", "gateway")


def dockerfile(service: str) -> str:
    """The service's Dockerfile text."""
    return (ROOT / "services" / service / "Dockerfile").read_text(encoding="utf-8")


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_keeps_the_image_rules(service: str) -> None:
    assert rule_errors(dockerfile(service)) == []


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_only_its_own_package_with_the_lockfile(service: str) -> None:
    runs = [i.args for i in parse(dockerfile(service)) if i.keyword == "RUN"]
    assert any(
        "uv sync --frozen --no-dev" in r and f"--package alamal-{service}" in r for r in runs
    )
    cmd = [i.args for i in parse(dockerfile(service)) if i.keyword == "CMD"]
    assert cmd == [f'["python", "-m", "alamal_{service}"]']


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert lines.count("*") == 1, "start from nothing and allow what the build needs"
    for pattern in ("**/.env", "**/*.pem", "**/*.sqlite3*", "**/tests/"):
        assert pattern in lines


def test_parser_joins_continuations_and_skips_comments() -> None:
    text = "# c\nFROM a:1 AS b\nRUN x \\\n  # inner comment\n  && y\n"
    assert [(i.line, i.keyword, i.args) for i in parse(text)] == [
        (2, "FROM", "a:1 AS b"),
        (3, "RUN", "x && y"),
    ]


# --- each rule fails when broken on purpose -----------------------------------------------------

GOOD = dockerfile("cases")


def broken(old: str, new: str) -> str:
    """The cases Dockerfile with one change (which must apply)."""
    assert old in GOOD
    return GOOD.replace(old, new)


PYTHON_FROM = next(
    i.args.split()[0] for i in parse(GOOD) if i.keyword == "FROM" and "python" in i.args
)
UV = "ghcr.io/astral-sh/uv:0.13.8"
NO_HEALTHCHECK = "\n".join(
    line
    for line in GOOD.splitlines()
    if "HEALTHCHECK" not in line and 'CMD ["python", "-c"' not in line
)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001\n", "", "sets no USER"),
        ("USER 10001:10001", "USER root", "runs as root"),
        ("/health/live", "/", "must call /health/live"),
        (PYTHON_FROM, "python:3.13-slim", "pinned by digest"),
        (PYTHON_FROM, "python:latest", "not pinned to a version"),
        (UV, "ghcr.io/astral-sh/uv:latest", "not pinned"),
        (
            "COPY pyproject.toml",
            "ADD https://example.org/x.tgz /x\nCOPY pyproject.toml",
            "ADD of a URL",
        ),
        ("PYTHONUNBUFFERED=1", "PYTHONUNBUFFERED=1 CASES_TOKEN_PUBLIC_KEY=abc", "holds a secret"),
    ],
)
def test_each_rule_reports_a_broken_dockerfile(old: str, new: str, expected: str) -> None:
    errors = rule_errors(broken(old, new))
    assert any(expected in e for e in errors), errors


def test_missing_healthcheck_is_reported() -> None:
    assert "no HEALTHCHECK in the runtime stage" in rule_errors(NO_HEALTHCHECK)


def test_single_stage_is_reported() -> None:
    one_stage = "FROM python:3.13.9-slim@sha256:" + "0" * 64 + "\nUSER 1\n"
    assert any("not multi-stage" in e for e in rule_errors(one_stage))
