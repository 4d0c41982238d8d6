"""The disabled-endpoints gauge counts what the store holds, by reason, and drops back to 0."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, InMemoryMetricReader

from alamal_notifications import store as repo
from alamal_notifications.domain.delivery import EventType, Subscription
from alamal_notifications.endpoint_metrics import (
    DISABLED_ENDPOINTS,
    REASON,
    DisabledEndpointsGauge,
)
from alamal_runtime.store import Store, create_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real SQLite store with notifications' indexes."""
    opened = create_store(f"sqlite:///{tmp_path}/n.sqlite3", default_database="unused")
    await opened.open()
    await repo.prepare(opened)
    try:
        yield opened
    finally:
        await opened.close()


def _endpoint(*, enabled: bool, reason: str | None) -> repo.Endpoint:
    return repo.Endpoint(
        id=str(uuid.uuid4()),
        partner_id=str(uuid.uuid4()),
        url="https://partner.test/hook",
        subscription=Subscription(
            event_types=frozenset({EventType.REFERRAL_ESCALATED}), filters={}
        ),
        description="",
        enabled=enabled,
        secrets=(),
        created_at=datetime.now(UTC),
        disabled_reason=reason,
    )


async def _put(store: Store, *endpoints: repo.Endpoint) -> None:
    async with store.transaction() as uow:
        for endpoint in endpoints:
            await repo.put_endpoint(uow, endpoint)


def _observed(reader: InMemoryMetricReader) -> dict[str, int]:
    data = reader.get_metrics_data()
    found: dict[str, int] = {}
    if data is None:  # no instrument reported anything
        return found
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == DISABLED_ENDPOINTS:
                    assert isinstance(metric.data, Gauge)
                    assert metric.unit == "{endpoint}"
                    for point in metric.data.data_points:
                        assert set(point.attributes or {}) == {REASON}, "reason codes only"
                        found[str((point.attributes or {})[REASON])] = int(point.value)
    return found


async def test_gauge_counts_disabled_endpoints_by_reason_and_resolves(store: Store) -> None:
    reader = InMemoryMetricReader()
    gauge = DisabledEndpointsGauge(store, MeterProvider(metric_readers=[reader]))
    assert _observed(reader) == {}, "nothing is reported before the first sample"

    failing = _endpoint(enabled=False, reason="failing")
    await _put(
        store,
        _endpoint(enabled=True, reason=None),
        failing,
        _endpoint(enabled=False, reason="failing"),
        _endpoint(enabled=False, reason="gone"),
        _endpoint(enabled=False, reason="admin"),
    )
    await gauge.sample()
    assert _observed(reader) == {"failing": 2, "gone": 1, "admin": 1}

    await _put(store, replace(failing, enabled=True, disabled_reason=None))
    await gauge.sample()
    assert _observed(reader) == {"failing": 1, "gone": 1, "admin": 1}


async def test_gauge_reports_zero_per_reason_when_nothing_is_disabled(store: Store) -> None:
    reader = InMemoryMetricReader()
    gauge = DisabledEndpointsGauge(store, MeterProvider(metric_readers=[reader]))
    await _put(store, _endpoint(enabled=True, reason=None))
    await gauge.sample()
    assert _observed(reader) == {"failing": 0, "gone": 0, "admin": 0}
