"""The trace UI's wiring without starting it: where services send spans, the trace links, the
project it is installed from, and the link setting the services accept."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from alamal_runtime.settings import ServiceSettings
from alamal_stack.trace_ui import PROJECT, TraceUI, project_dir


def test_services_export_spans_only_and_to_one_project(tmp_path: Path) -> None:
    ui = TraceUI(tmp_path / "trace-ui", log_dir=tmp_path / "logs", port=6006)
    assert ui.service_env() == {
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:6006/v1/traces",
        "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={PROJECT}",
        "OTEL_BSP_SCHEDULE_DELAY": "1000",
    }
    assert ui.trace_link("ab" * 16) == f"http://127.0.0.1:6006/redirects/traces/{'ab' * 16}"
    assert ui.rss_bytes() is None  # not started


def test_the_trace_ui_is_a_project_of_its_own_with_a_pinned_lock() -> None:
    project = project_dir()
    assert (project / "uv.lock").is_file()
    assert 'dependencies = ["arize-phoenix==' in (project / "pyproject.toml").read_text()
    root = (project.parents[1] / "pyproject.toml").read_text()
    assert "tools/" not in root.split("[tool.uv.workspace]")[1].split("\n\n")[0]


@pytest.mark.parametrize(
    ("link", "valid"),
    [
        ("http://127.0.0.1:6006/redirects/traces/{trace_id}", True),
        ("http://jaeger:16686/trace/{trace_id}", True),
        ("http://jaeger:16686/trace/", False),
        ("javascript:alert(1)//{trace_id}", False),
    ],
)
def test_the_trace_link_setting_needs_a_web_url_with_the_trace_id(link: str, valid: bool) -> None:
    settings = {"store_url": "sqlite:///x", "kafka_bootstrap": "k:1", "token_public_key": "k"}
    if valid:
        assert ServiceSettings(trace_link=link, **settings).trace_link == link
    else:
        with pytest.raises(ValidationError):
            ServiceSettings(trace_link=link, **settings)
