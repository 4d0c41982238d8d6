"""Issue 15's figures, each next to the raw limit it is bounded by, measured in the same run.

`./alamal bench` (no name) runs this. It prints one table and writes `artifacts/bench.json`.
Nothing here asserts a speed: the targets are read off the table.
"""

from __future__ import annotations

import asyncio
import json
import platform
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from alamal_reporting.domain.facts import FAMILIES
from alamal_runtime.auth import Role, mint_token
from alamal_stack.runner import EmbeddedStack
from alamal_stack.services import select_services
from bench.limits import bare_endpoint_limit, hammer, kafka_limit, post, sqlite_limits
from bench.observe import ProjectionWatcher, inbox_count, machine, percentile, rss_mib
from bench.reporting import _publish, synthetic_events
from bench.webhooks import run_webhooks


@dataclass(frozen=True, slots=True)
class Target:
    """One row of the table: a figure, the limit it is compared with, and the goal."""

    figure: str
    value: float
    unit: str
    goal: str
    met: bool
    limit: str | None = None
    limit_value: float | None = None

    @property
    def ratio(self) -> float | None:
        """The figure as a fraction of its limit."""
        if not self.limit_value:
            return None
        return self.value / self.limit_value


def registration_body(trusted_person_id: str | None) -> dict[str, Any]:
    """A registration as the bench sends it (reporting consent, so reporting counts it)."""
    body: dict[str, Any] = {
        "members": [
            {"role": "mother", "birth_year": 1985, "first_name": "Bench"},
            {"role": "child", "birth_year": 2016, "first_name": "Bench"},
        ],
        "wijk": "overvecht",
        "languages": ["nl"],
        "intake_source": "self",
        "consents": [
            {"purpose": "care", "granted": True},
            {"purpose": "reporting", "granted": True},
        ],
    }
    if trusted_person_id is not None:
        body["trusted_person_id"] = trusted_person_id
    return body


def _headers(stack: EmbeddedStack, user: str) -> dict[str, str]:
    private = Path(stack.keys.signing).read_text(encoding="ascii")
    token = mint_token(
        private,
        user_id=user,
        role=Role.TRUSTED_PERSON,
        wijken={"overvecht"},
        ttl_seconds=3600,  # a loaded machine can take longer than a service token lives
    )
    return {"Authorization": f"Bearer {token}"}


def _store_file(stack: EmbeddedStack, service: str) -> Path:
    return stack.data_dir / service / f"{service}.sqlite3"


async def _until(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def stack_figures(data: Path, args: Any) -> dict[str, float]:
    """Ready time, idle RSS, registrations/s at concurrency 32, paced 201 -> counted latency."""
    figures: dict[str, float] = {}
    async with EmbeddedStack(data / "stack", base_port=0, ready_timeout=120) as stack:
        figures["ready_s"] = stack.startup_seconds or 0.0
        print(f"stack ready in {figures['ready_s']:.2f} s")
        await asyncio.sleep(args.idle_seconds)
        pids = {name: svc.pid for name, svc in stack.services.items() if svc.pid}
        rss = rss_mib(pids.values())
        per_service = {name: rss.get(pid, 0.0) for name, pid in pids.items()}
        broker_pid = stack.broker.pid
        broker = rss_mib([broker_pid]).get(broker_pid, 0.0) if broker_pid else 0.0
        figures["idle_rss_services_mib"] = sum(per_service.values())
        figures["idle_rss_broker_mib"] = broker
        figures["idle_rss_total_mib"] = figures["idle_rss_services_mib"] + broker
        for name, value in per_service.items():
            figures[f"idle_rss_{name}_mib"] = value
        shown = ", ".join(f"{n} {v:.0f}" for n, v in per_service.items())
        print(f"idle RSS: {figures['idle_rss_total_mib']:.0f} MiB ({shown}, tansu {broker:.0f})")

        user = str(uuid.uuid4())
        headers = _headers(stack, user)
        body = registration_body(user)
        intake = stack.urls["intake"] + "/families"
        watcher = ProjectionWatcher(_store_file(stack, "reporting"), FAMILIES)
        stop = asyncio.Event()
        watching = asyncio.create_task(watcher.watch(stop))
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        try:
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                rate, latencies = await hammer(
                    client,
                    intake,
                    body,
                    headers,
                    requests=args.registrations,
                    concurrency=args.concurrency,
                )
                figures["registrations_per_s"] = rate
                figures["registration_p99_ms"] = percentile(latencies, 0.99) * 1000
                print(
                    f"registrations: {rate:.0f}/s at concurrency {args.concurrency}"
                    f" (p50 {percentile(latencies, 0.5) * 1000:.0f} ms,"
                    f" p99 {figures['registration_p99_ms']:.0f} ms)"
                )
                # Let the backlog drain before the paced run, so it measures one family's path.
                done = args.registrations + min(args.concurrency, 20)
                await _until(lambda: len(watcher.seen) >= done, 300, "reporting to catch up")
                figures.update(await _paced(client, intake, body, headers, watcher, args))
        finally:
            stop.set()
            await watching
    return figures


async def _paced(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    watcher: ProjectionWatcher,
    args: Any,
) -> dict[str, float]:
    """Register at a fixed pace; time each family from its 201 to counted in reporting."""
    answered: dict[str, float] = {}
    interval = 1 / args.paced_rate
    count = int(args.paced_rate * args.paced_seconds)
    started = time.perf_counter()
    tasks = []

    async def one() -> None:
        response = await post(client, url, body, headers)
        if response.status_code != 201:
            raise RuntimeError(f"registration failed: {response.status_code}")
        answered[response.json()["id"]] = time.perf_counter()

    for n in range(count):
        tasks.append(asyncio.create_task(one()))
        await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.perf_counter()))
    await asyncio.gather(*tasks)
    await _until(lambda: all(f in watcher.seen for f in answered), 120, "paced families")
    delays = [(watcher.seen[f] - at) * 1000 for f, at in answered.items()]
    figures = {
        "paced_201_to_counted_p50_ms": percentile(delays, 0.5),
        "paced_201_to_counted_p99_ms": percentile(delays, 0.99),
        "paced_201_to_counted_max_ms": max(delays),
    }
    print(
        f"paced {args.paced_rate}/s for {args.paced_seconds} s: 201 -> counted in reporting"
        f" p50 {figures['paced_201_to_counted_p50_ms']:.0f} ms,"
        f" p99 {figures['paced_201_to_counted_p99_ms']:.0f} ms,"
        f" max {figures['paced_201_to_counted_max_ms']:.0f} ms"
    )
    return figures


async def consumer_figures(data: Path, args: Any) -> dict[str, float]:
    """Reporting alone consuming a backlog of contract events, and the Kafka limit."""
    figures: dict[str, float] = {}
    specs = select_services(["reporting"])
    async with EmbeddedStack(data / "reporting", services=specs, base_port=0) as stack:
        figures["kafka_msgs_per_s_batched"] = await kafka_limit(stack.bootstrap)
        print(f"raw: aiokafka produce+consume {figures['kafka_msgs_per_s_batched']:.0f} msg/s")
        events = synthetic_events(args.consumer_events)
        await stack.services["reporting"].stop()
        await _publish(stack.bootstrap, events)
        path = _store_file(stack, "reporting")
        before = await asyncio.to_thread(inbox_count, path)
        await stack.restart("reporting")
        # Time from the first handled event, so the group join is not counted.
        await _until(lambda: inbox_count(path) > before, 120, "reporting's first event")
        first_at, first = time.perf_counter(), await asyncio.to_thread(inbox_count, path)
        target = before + len(events)
        handled = first
        deadline = first_at + 600
        while handled < target and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
            handled = await asyncio.to_thread(inbox_count, path)
        seconds = time.perf_counter() - first_at
        figures["consumer_events_per_s"] = (handled - first) / seconds
        print(
            f"reporting consumer: {handled - before} of {len(events)} events,"
            f" {figures['consumer_events_per_s']:.0f} events/s"
        )
    return figures


def targets(limits: dict[str, float], figures: dict[str, float]) -> list[Target]:
    """The issue's table, read off this run."""
    batched = limits["sqlite_units_per_s_100_per_tx"]
    bare = limits["bare_endpoint_per_s"]
    rows = [
        Target(
            "consumer path into reporting (events/s)",
            figures["consumer_events_per_s"],
            "ev/s",
            ">= 50 % of raw batched SQLite",
            figures["consumer_events_per_s"] >= 0.5 * batched,
            "SQLite inbox+doc+outbox, 100/tx",
            batched,
        ),
        Target(
            "registrations/s at concurrency 32",
            figures["registrations_per_s"],
            "req/s",
            ">= 50 % of the bare endpoint",
            figures["registrations_per_s"] >= 0.5 * bare,
            "bare FastAPI + 1 SQLite commit",
            bare,
        ),
        Target(
            "p99 201 -> counted in reporting, paced",
            figures["paced_201_to_counted_p99_ms"],
            "ms",
            "< 100 ms",
            figures["paced_201_to_counted_p99_ms"] < 100,
        ),
        Target(
            "signed webhook deliveries/s",
            figures["webhook_burst_deliveries_per_s"],
            "del/s",
            ">= 500/s",
            figures["webhook_burst_deliveries_per_s"] >= 500,
            "bare signed POSTs, same receiver",
            figures.get("webhook_raw_signed_posts_per_s"),
        ),
        Target(
            "whole stack RSS, idle",
            figures["idle_rss_total_mib"],
            "MiB",
            "< 450 MiB",
            figures["idle_rss_total_mib"] < 450,
        ),
        Target("stack ready", figures["ready_s"], "s", "< 6 s", figures["ready_s"] < 6),
    ]
    return rows


def print_table(rows: list[Target]) -> None:
    """The figures next to their limits, as a fixed-width table."""
    print()
    print(f"{'figure':44} {'value':>10} {'limit':>10} {'ratio':>7}  {'goal':30} met")
    for row in rows:
        limit = "" if row.limit_value is None else f"{row.limit_value:10.0f}"
        ratio = "" if row.ratio is None else f"{row.ratio:7.1%}"
        print(
            f"{row.figure:44} {row.value:10.1f} {limit:>10} {ratio:>7}  {row.goal:30}"
            f" {'yes' if row.met else 'NO'}"
        )
    print()
    for row in rows:
        if row.limit:
            print(f"  limit of '{row.figure}': {row.limit}")


async def run_throughput(data: Path, args: Any) -> None:
    """Measure every limit and figure, print the table, write artifacts/bench.json."""
    started = datetime.now(UTC)
    context = machine() | {"python": platform.python_version()}
    limits = await sqlite_limits(data / "raw-sqlite")
    print(
        "raw: SQLite (WAL, synchronous=FULL) inbox+document+outbox units/s:"
        f" {limits['sqlite_units_per_s_1_per_tx']:.0f} at 1/tx,"
        f" {limits['sqlite_units_per_s_100_per_tx']:.0f} at 100/tx"
    )
    body = registration_body(str(uuid.uuid4()))
    limits["bare_endpoint_per_s"] = await bare_endpoint_limit(
        data / "raw-http", body, requests=args.registrations, concurrency=args.concurrency
    )
    print(
        f"raw: bare FastAPI endpoint + 1 SQLite commit: {limits['bare_endpoint_per_s']:.0f}"
        f" req/s at concurrency {args.concurrency}"
    )
    figures = await stack_figures(data, args)
    consumer = await consumer_figures(data, args)
    limits["kafka_msgs_per_s_batched"] = consumer.pop("kafka_msgs_per_s_batched")
    figures |= consumer
    webhooks = await run_webhooks(data / "webhooks", args.webhooks, args.endpoints, paced=False)
    figures["webhook_burst_deliveries_per_s"] = webhooks["burst_deliveries_per_s"]
    figures["webhook_raw_signed_posts_per_s"] = webhooks["raw_signed_posts_per_s"]
    rows = targets(limits, figures)
    print_table(rows)
    out = Path(args.output)
    await asyncio.to_thread(out.parent.mkdir, parents=True, exist_ok=True)
    report = {
        "started_at": started.isoformat(timespec="seconds"),
        "machine": context,
        "settings": {
            k: getattr(args, k)
            for k in (
                "registrations",
                "concurrency",
                "paced_rate",
                "paced_seconds",
                "consumer_events",
                "webhooks",
                "endpoints",
            )
        },
        "limits": limits,
        "figures": figures,
        "targets": [asdict(row) | {"ratio": row.ratio} for row in rows],
    }
    await asyncio.to_thread(out.write_text, json.dumps(report, indent=2) + "\n", "utf-8")
    print(f"wrote {out}")
