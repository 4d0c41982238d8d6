"""Reporting in-process on the real broker and a real SQLite store (integration).

A casework flow built from the contract models is published shuffled, partly redelivered (same
event ids) and partly re-sent (new ids), with a malformed record in between; the reports the API
serves must equal the ones computed from the flow in order. Then the projection is rebuilt from
the topics and must serve the same reports.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, NumberDataPoint

from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import VisitLogged
from alamal_contracts.topics import VISIT_LOGGED
from alamal_reporting.domain import reports
from alamal_reporting.domain.model import read_model
from alamal_reporting.rebuild import rebuild
from alamal_reporting.store import snapshot
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_runtime.store.sqlite import SqliteStore

from .conftest import Producer
from .flow import YEAR, at, new_id, standard_flow
from .test_domain import YEAR_PERIOD, model_of
from .test_outputs import png_size

pytestmark = pytest.mark.integration

type Headers = Callable[..., dict[str, str]]

PERIOD = {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
FLOW = standard_flow()


def expected_json() -> dict[str, Any]:
    """Every report of the flow merged in order, as the API renders it (funder's view)."""
    model = model_of(event for _, event in FLOW.events)
    found: dict[str, Any] = {}
    for report, builders in reports.REPORTS.items():
        for breakdown in builders:
            if (report, breakdown) in reports.STAFF_BREAKDOWNS:
                continue
            table = reports.build(model, report, breakdown, YEAR_PERIOD)
            found[f"{report}/{breakdown}"] = {
                "columns": list(table.columns),
                "rows": [{"label": r.label, "cells": list(r.cells)} for r in table.rows],
                "total": list(table.total.cells),
            }
    return found


async def served(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """Every report as the API serves it to `headers`."""
    found: dict[str, Any] = {}
    catalogue = (await client.get("/reports", headers=headers)).json()
    for report, breakdowns in catalogue.items():
        for breakdown in breakdowns:
            if (report, breakdown) in reports.STAFF_BREAKDOWNS:
                continue
            response = await client.get(
                f"/reports/{report}", params={"breakdown": breakdown, **PERIOD}, headers=headers
            )
            assert response.status_code == 200, response.text
            body = response.json()
            found[f"{report}/{breakdown}"] = {k: body[k] for k in ("columns", "rows", "total")}
    return found


async def publish_invalid_visit(producer: Producer) -> None:
    """A well-formed CloudEvent whose data breaks the contract (0 minutes): dead-lettered."""
    visit = next(e for _, e in FLOW.events if isinstance(e, VisitLogged))
    record = to_kafka(
        visit.model_copy(update={"visit_id": new_id()}),
        event_id=new_id(),
        source="/alamal/test",
        time=at(1, 1),
    )
    data = json.loads(record.value)
    data["duration_minutes"] = 0
    await producer.raw(
        record.topic, json.dumps(data).encode(), record.key.encode(), list(record.headers)
    )


@pytest.fixture(scope="module")
def projection_seconds() -> float:
    """How long the projection may take to catch up with the published flow."""
    return 45.0


@pytest.fixture(scope="module")
async def published(
    client: httpx.AsyncClient, producer: Producer, auth: Headers, projection_seconds: float
) -> dict[str, Any]:
    """The flow published shuffled with duplicates and a malformed record; wait for the reports."""
    rng = random.Random(7)
    events = list(FLOW.events)
    redelivered = rng.sample(events, k=len(events) // 3)
    resent = [(new_id(), event) for _, event in rng.sample(events, k=len(events) // 4)]
    replay = events + redelivered + resent
    rng.shuffle(replay)
    await producer.raw(VISIT_LOGGED, b"{not json", new_id().encode(), [])
    await publish_invalid_visit(producer)
    for event_id, event in replay:
        await producer.publish(event_id, event)
    await producer.flush()
    expected = expected_json()
    funder = auth(Role.FUNDER)
    deadline = time.monotonic() + projection_seconds
    latest: dict[str, Any] = {}
    while time.monotonic() < deadline:
        latest = await served(client, funder)
        if latest == expected:
            return expected
        await asyncio.sleep(0.3)
    assert latest == expected
    return expected


async def test_the_flow_gives_the_expected_counts_to_a_funder(
    client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    assert published["families/wijk"]["rows"] == [
        {"label": "oost", "cells": ["<5"]},
        {"label": "west", "cells": ["<5"]},
        {"label": "zuid", "cells": [6]},
    ]
    assert published["families/wijk"]["total"] == [13]
    assert published["contacts/kind"]["total"] == [26, 13]
    assert published["referrals/partner-kind"]["rows"] == [
        {"label": "youth-care", "cells": [6, 6, 3.0]}
    ]
    response = await client.get(
        "/reports/families", params={"breakdown": "wijk", **PERIOD}, headers=auth(Role.FUNDER)
    )
    body = response.json()
    assert body["period"] == PERIOD
    assert body["report"] == "families"


async def test_a_coordinator_sees_her_wijken_only(
    client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    headers = auth(Role.COORDINATOR, wijken={"zuid"})
    body = (
        await client.get(
            "/reports/families", params={"breakdown": "wijk", **PERIOD}, headers=headers
        )
    ).json()
    assert body["rows"] == [{"label": "zuid", "cells": [6]}]
    staff = await client.get(
        "/reports/contacts", params={"breakdown": "trusted-person", **PERIOD}, headers=headers
    )
    assert staff.status_code == 200
    # Six trusted persons with one family each: every row suppressed.
    assert {tuple(row["cells"]) for row in staff.json()["rows"]} == {("<5", "<5")}


@pytest.mark.parametrize("role", [Role.TRUSTED_PERSON, Role.ADMIN, Role.OPERATOR])
async def test_other_roles_get_403_and_no_token_401(
    client: httpx.AsyncClient, auth: Headers, role: Role
) -> None:
    params = {"breakdown": "wijk", **PERIOD}
    response = await client.get("/reports/families", params=params, headers=auth(role))
    assert response.status_code == 403
    assert (await client.get("/reports", headers=auth(role))).status_code == 403
    assert (await client.get("/reports/families", params=params)).status_code == 401
    chart = await client.get("/reports/charts/families-per-wijk", params=PERIOD, headers=auth(role))
    assert chart.status_code == 403


async def test_a_funder_gets_no_breakdown_by_staff(
    client: httpx.AsyncClient, auth: Headers
) -> None:
    response = await client.get(
        "/reports/contacts",
        params={"breakdown": "trusted-person", **PERIOD},
        headers=auth(Role.FUNDER),
    )
    assert response.status_code == 403
    catalogue = (await client.get("/reports", headers=auth(Role.FUNDER))).json()
    assert "trusted-person" not in catalogue["contacts"]


@pytest.mark.parametrize(
    ("path", "params", "field", "allowed"),
    [
        ("/reports/families", {"breakdown": "religion", **PERIOD}, "breakdown", "household"),
        ("/reports/families", PERIOD, "breakdown", "intake-source"),
        ("/reports/salaries", {"breakdown": "wijk", **PERIOD}, "report", "contacts"),
        (
            "/reports/families",
            {"breakdown": "wijk", "from": "2003-13-01", "to": "2003-12-31"},
            "from",
            "YYYY-MM-DD",
        ),
        (
            "/reports/families",
            {"breakdown": "wijk", "from": "2003-06-01", "to": "2003-01-01"},
            "to",
            "on or after",
        ),
        ("/reports/families", {"breakdown": "wijk", "to": "2003-01-01"}, "from", "YYYY-MM-DD"),
        ("/reports/charts/pie", PERIOD, "chart", "families-per-wijk"),
    ],
)
async def test_unknown_breakdown_or_bad_period_gives_422_listing_what_is_allowed(
    client: httpx.AsyncClient,
    auth: Headers,
    path: str,
    params: dict[str, str],
    field: str,
    allowed: str,
) -> None:
    response = await client.get(path, params=params, headers=auth(Role.FUNDER))
    assert response.status_code == 422
    body = response.json()
    assert body["fields"] == [field]
    assert allowed in body["detail"][0]["msg"]
    assert "religion" not in response.text
    assert "salaries" not in response.text


async def test_an_empty_period_gives_empty_tables(
    client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    for report, breakdown in (("families", "wijk"), ("contacts", "month"), ("referrals", "status")):
        response = await client.get(
            f"/reports/{report}",
            params={"breakdown": breakdown, "from": "1999-01-01", "to": "1999-12-31"},
            headers=auth(Role.FUNDER),
        )
        assert response.status_code == 200
        assert response.json()["rows"] == []


async def test_csv_and_xlsx_exports_read_back(
    client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    params = {"breakdown": "wijk", **PERIOD}
    response = await client.get(
        "/reports/families", params={**params, "format": "csv"}, headers=auth(Role.FUNDER)
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows == [
        ["wijk", "families"],
        ["oost", "<5"],
        ["west", "<5"],
        ["zuid", "6"],
        ["total", "13"],
    ]
    response = await client.get(
        "/reports/families", params={**params, "format": "xlsx"}, headers=auth(Role.FUNDER)
    )
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    assert [list(r) for r in sheet.iter_rows(values_only=True)][-2:] == [["zuid", 6], ["total", 13]]


async def test_charts_and_the_jaarverslag_are_served(
    client: httpx.AsyncClient, published: dict[str, Any], auth: Headers
) -> None:
    for chart in ("contacts-per-month", "families-per-wijk", "referrals-per-partner-kind"):
        response = await client.get(
            f"/reports/charts/{chart}", params=PERIOD, headers=auth(Role.FUNDER)
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert png_size(response.content) == (800, 450)
    svg = await client.get(
        "/reports/charts/families-per-wijk",
        params={**PERIOD, "format": "svg"},
        headers=auth(Role.FUNDER),
    )
    assert svg.headers["content-type"].startswith("image/svg+xml")
    html = await client.get(f"/reports/jaarverslag/{YEAR}", headers=auth(Role.FUNDER))
    assert html.status_code == 200
    assert f"Jaarverslag {YEAR}" in html.text
    assert (
        await client.get("/reports/jaarverslag/1850", headers=auth(Role.FUNDER))
    ).status_code == 422


async def test_events_are_counted_by_the_projection_metric(
    published: dict[str, Any], metrics: InMemoryMetricReader
) -> None:
    data = metrics.get_metrics_data()
    assert data is not None
    total = 0.0
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "reporting.events.projected":
                    for point in metric.data.data_points:
                        assert isinstance(point, NumberDataPoint)
                        total += point.value
    # Every distinct event id once (redeliveries are claimed in the inbox), re-sent ones too.
    assert total >= len(FLOW.events)


async def test_a_rebuild_from_the_topics_serves_the_same_reports(
    client: httpx.AsyncClient,
    published: dict[str, Any],
    reporting_store: Store,
    reporting_app: FastAPI,
    kafka_bootstrap: str,
    auth: Headers,
) -> None:
    funder = auth(Role.FUNDER)
    live = await served(client, funder)
    assert live == published
    seen: list[tuple[int, int]] = []
    result = await rebuild(
        reporting_store, kafka_bootstrap, progress=lambda done, total: seen.append((done, total))
    )
    assert result.dropped > 0
    assert result.events >= len(FLOW.events)
    assert result.skipped >= 2  # the malformed and the invalid record, dead-lettered live
    assert seen[-1][0] == seen[-1][1]
    assert await served(client, funder) == live


async def test_the_rebuild_command_builds_the_same_projection_with_a_progress_bar(
    published: dict[str, Any],
    kafka_bootstrap: str,
    token_keys: tuple[str, str],
    tmp_path: Path,
) -> None:
    path = tmp_path / "rebuilt.sqlite3"
    env = {
        **os.environ,
        "REPORTING_STORE_URL": f"sqlite:///{path}",
        "REPORTING_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "REPORTING_TOKEN_PUBLIC_KEY": token_keys[1],
        "REPORTING_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "alamal_reporting", "rebuild"]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replaying events" in done.stderr
    assert "rebuilt:" in done.stderr
    rebuilt = SqliteStore(path)
    await rebuilt.open()
    try:
        model = read_model(await snapshot(rebuilt), wijken=None)
    finally:
        await rebuilt.close()
    for key, expected in published.items():
        report, breakdown = key.split("/")
        table = reports.build(model, report, breakdown, YEAR_PERIOD)
        assert [{"label": r.label, "cells": list(r.cells)} for r in table.rows] == expected["rows"]
        assert list(table.total.cells) == expected["total"]


async def test_the_command_line_refuses_unknown_arguments() -> None:
    command = [sys.executable, "-m", "alamal_reporting", "drop-everything"]
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 2
    assert "usage" in done.stderr
