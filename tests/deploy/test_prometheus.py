"""Alerting rules: promtool validates and unit-tests them, and they read only real metrics.

The metric catalogue is built from the services' own instruments (the runtime's service app and
metrics, notifications' delivery and endpoint metrics), named as the collector's Prometheus
exporter names them, so renaming an instrument or an attribute breaks this test, not the 3 a.m.
alert. promtool is Debian's `prometheus` package; `.ci/run` installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import APIRouter, HTTPException
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    Gauge,
    Histogram,
    InMemoryMetricReader,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from alamal_intake.privacy.monitor import ErasureMonitor
from alamal_notifications.endpoint_metrics import DisabledEndpointsGauge
from alamal_notifications.metrics import DeliveryMetrics
from alamal_notifications.sender import Outcome
from alamal_ops.checks import prometheus as prom
from alamal_runtime.auth import generate_keypair
from alamal_runtime.messaging.dead_letter import DeadLetter
from alamal_runtime.metrics import CountingDeadLetterSink
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.telemetry import Telemetry

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus"
ALERTS = RULES_DIR / "alerts.yml"
ALERT_TESTS = RULES_DIR / "alerts.test.yml"
# Metrics an alert is written against before their lane exports them (see COORDINATION.md):
# metric -> (OpenTelemetry instrument name, labels the alert uses).
ANNOUNCED: dict[str, tuple[str, set[str]]] = {}


def _promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("CI is set but promtool is missing (install Debian's `prometheus` package)")
    pytest.skip("promtool not installed (Debian package `prometheus`): promtool checks skipped")


def _run(*args: str, cwd: Path = RULES_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed tool, arguments from this test
        [_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def _alerts(path: Path = ALERTS) -> list[dict[str, Any]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


# --- promtool ------------------------------------------------------------------------------------


def test_promtool_checks_the_config_and_the_rules() -> None:
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml")):
        result = _run(*args)
        assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = _run("test", "rules", "alerts.test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_fail_on_a_broken_rule(tmp_path: Path) -> None:
    for name in ("prometheus.yml", "alerts.test.yml"):
        shutil.copy(RULES_DIR / name, tmp_path / name)
    text = ALERTS.read_text(encoding="utf-8")
    broken = text.replace("(alamal_consumer_lag) > 1000", "(alamal_consumer_lag) > 100000")
    assert broken != text
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    result = _run("test", "rules", "alerts.test.yml", cwd=tmp_path)
    assert result.returncode != 0
    assert "ConsumerLagHigh" in result.stdout + result.stderr


def test_promtool_check_rejects_a_bad_expression(tmp_path: Path) -> None:
    text = ALERTS.read_text(encoding="utf-8").replace("> 1000", "> > 1000", 1)
    (tmp_path / "alerts.yml").write_text(text, encoding="utf-8")
    assert _run("check", "rules", "alerts.yml", cwd=tmp_path).returncode != 0


# --- every alert is tested firing and not firing -------------------------------------------------


def _coverage(alerts: list[dict[str, Any]], tests: dict[str, Any]) -> list[str]:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    errors = []
    for rule in alerts:
        name = rule["alert"]
        if name not in firing:
            errors.append(f"{name}: no test shows it firing")
        if name not in quiet:
            errors.append(f"{name}: no test shows it not firing")
    return errors


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    assert _coverage(_alerts(), tests) == []


def test_coverage_check_reports_an_untested_alert() -> None:
    tests = yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))
    alerts = [*_alerts(), {"alert": "Untested", "expr": "up == 0"}]
    assert _coverage(alerts, tests) == [
        "Untested: no test shows it firing",
        "Untested: no test shows it not firing",
    ]


def test_the_issue_asks_for_every_alert() -> None:
    names = {rule["alert"] for rule in _alerts()}
    assert {
        "DeadLettersAppearing",
        "ConsumerLagHigh",
        "OutboxBacklogGrowing",
        "WebhookEndpointDisabled",
        "ErasureNotConfirmed",
        "HighErrorRate",
    } <= names
    for rule in _alerts():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert {"summary", "runbook"} <= set(rule["annotations"]), rule["alert"]


# --- alerts read the metrics the services export --------------------------------------------------


async def _exported() -> prom.Catalogue:
    """Drive the real instruments once and name what they export as Prometheus would."""
    reader = InMemoryMetricReader()
    resource = Resource.create({"service.name": "probe", "service.namespace": "alamal"})
    meters = MeterProvider(resource=resource, metric_readers=[reader])
    telemetry = Telemetry(tracer_provider=TracerProvider(), meter_provider=meters)
    settings = ServiceSettings(
        store_url="sqlite:///:memory:",
        kafka_bootstrap="127.0.0.1:9",  # never contacted: the app runs without its lifespan
        token_public_key=generate_keypair()[1],
    )
    runtime = ServiceRuntime(settings, service="probe", telemetry=telemetry)
    router = APIRouter()

    @router.get("/fail")
    async def fail() -> None:
        raise HTTPException(status_code=503)

    app = runtime.create_app(title="probe", routers=[router])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://probe"
    ) as client:
        assert (await client.get("/fail")).status_code == 503
    runtime.metrics.backlog = 3
    runtime.metrics.lag = {"intake.family-registered.v1": 2}

    class _Kept:
        async def send(self, letter: DeadLetter) -> None:
            self.letter = letter

    await CountingDeadLetterSink(_Kept(), meters).send(
        DeadLetter("cases", "intake.family-registered.v1", 0, 1, None, b"", (), "invalid event")
    )
    delivery = DeliveryMetrics(meters)
    failed = Outcome(status_code=500, error="http_5xx", latency_ms=3.0, excerpt="")
    delivery.record("endpoint-id", failed)
    gauge = DisabledEndpointsGauge(runtime.store, meters)
    gauge.counts = {"failing": 1}
    erasures = ErasureMonitor(
        runtime.store, within=timedelta(hours=1), meter_provider=meters, interval_seconds=30
    )
    erasures.per_service = {"cases": 1, "notifications": 0, "reporting": 0}

    catalogue = prom.Catalogue()
    data = reader.get_metrics_data()
    assert data is not None
    for resource_metrics in data.resource_metrics:
        for scope in resource_metrics.scope_metrics:
            for metric in scope.metrics:
                attributes = {k for p in metric.data.data_points for k in (p.attributes or {})}
                kind: prom.Kind
                if isinstance(metric.data, Histogram):
                    kind = "histogram"
                elif isinstance(metric.data, Sum) and metric.data.is_monotonic:
                    kind = "counter"
                else:
                    assert isinstance(metric.data, Gauge | Sum)
                    kind = "gauge"
                catalogue.add(metric.name, metric.unit or "", kind, attributes)
    return catalogue


async def test_alerts_read_only_exported_metrics_and_labels() -> None:
    catalogue = await _exported()
    for name, (_, labels) in ANNOUNCED.items():
        catalogue.series[name] = labels | prom.TARGET_LABELS
    errors = {rule["alert"]: prom.unknown_names(rule["expr"], catalogue) for rule in _alerts()}
    assert {alert: e for alert, e in errors.items() if e} == {}
    used = set().union(*(prom.references(rule["expr"]).metrics for rule in _alerts()))
    assert {
        "alamal_dead_letters_total",
        "alamal_consumer_lag",
        "alamal_outbox_backlog",
        "alamal_webhook_endpoints_disabled",
        "alamal_erasure_overdue",
        "http_server_duration_milliseconds_count",
    } <= used & set(catalogue.series)


async def test_the_metric_check_reports_a_renamed_metric_and_label() -> None:
    catalogue = await _exported()
    assert prom.unknown_names("sum by (topic) (alamal_consumer_lags) > 1", catalogue) == [
        "metric alamal_consumer_lags is not exported",
        "label topic is on none of the metrics",
    ]
    assert prom.unknown_names('alamal_dead_letters_total{reason="x"} > 0', catalogue) == [
        "label reason is not on alamal_dead_letters_total"
    ]


def test_announced_metrics_are_not_exported_yet() -> None:
    """Once a lane exports an announced metric, drive its real instrument in `_exported`."""
    sources = [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/*/src/**/*.py")]
    for metric, (instrument, _) in ANNOUNCED.items():
        found = [p for p in sources if f'"{instrument}"' in p.read_text(encoding="utf-8")]
        assert not found, (
            f"{instrument} is now exported ({found[0].relative_to(ROOT)}): create it in "
            f"_exported() of tests/deploy/test_prometheus.py and remove {metric} from ANNOUNCED"
        )


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("alamal.dead_letters", "{message}", "counter", "alamal_dead_letters_total"),
        ("alamal.consumer.lag", "{message}", "gauge", "alamal_consumer_lag"),
        ("http.server.duration", "ms", "histogram", "http_server_duration_milliseconds"),
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("requests.total", "1", "counter", "requests_total"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("net.io", "By/s", "gauge", "net_io_bytes_per_second"),
        ("memory_usage_bytes", "By", "gauge", "memory_usage_bytes"),
    ],
)
def test_names_follow_the_otlp_translator(
    name: str, unit: str, kind: prom.Kind, expected: str
) -> None:
    assert prom.metric_name(name, unit, kind) == expected


def test_compose_runs_prometheus_on_these_files() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    service = yaml.safe_load(text)["services"]["prometheus"]
    mounts = {v.split(":")[0]: v.split(":")[1] for v in service["volumes"] if v.startswith("./")}
    assert mounts["./deploy/prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert mounts["./deploy/prometheus/alerts.yml"] == "/etc/prometheus/alerts.yml"
    scrape = yaml.safe_load((RULES_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    [job] = scrape["scrape_configs"]
    assert job["static_configs"][0]["targets"] == ["otel-collector:8889"]
    collector = yaml.safe_load((ROOT / "deploy" / "otel-collector.yaml").read_text("utf-8"))
    exporter = collector["exporters"]["prometheus"]
    assert exporter["endpoint"].endswith(":8889")
    assert "namespace" not in exporter, "a namespace would prefix every name the alerts use"
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", service["image"])
