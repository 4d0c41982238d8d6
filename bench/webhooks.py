"""Webhook delivery: deliveries/s and event-published -> receiver-got-it latency (p50, p99).

Runs the notifications service in-process on a fresh Tansu broker, registers `endpoints`
partners with one endpoint each on a local receiver (which verifies every signature with
`standardwebhooks`), then publishes referral escalations twice: all at once (throughput, and
the latency of a backlog), and paced at 20 per second (the latency of a single event).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaProducer

from alamal_contracts.codes import PartnerKind
from alamal_contracts.envelope import to_kafka
from alamal_notifications.messages import MESSAGES
from alamal_notifications.receiver import Receiver
from alamal_notifications.settings import NotificationsSettings
from alamal_notifications.testing import TEST_SETTINGS, Admin, client_of, escalation, running
from alamal_runtime.auth import Role, generate_keypair, mint_token
from alamal_runtime.logging import configure_logging
from alamal_runtime.store import Store
from alamal_stack.tansu import TansuBroker
from bench.limits import signed_post_limit

PACED_PER_SECOND = 20
ADMIN_ID = "00000000-0000-4000-8000-000000000001"


@dataclass(frozen=True, slots=True)
class _Target:
    partner_id: str
    path: str
    secret: str


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _settings(data_dir: Path, bootstrap: str, public_key: str) -> NotificationsSettings:
    return NotificationsSettings(
        **{
            **TEST_SETTINGS,
            # Production delivery settings; only the allow-list lets 127.0.0.1 through.
            "retry_schedule_seconds": (5.0, 300.0),
            "retry_jitter": 0.2,
            "delivery_timeout_seconds": 15.0,
            "per_endpoint_concurrency": 4,
            "dispatch_poll_seconds": 1.0,
        },
        store_url=f"sqlite:///{data_dir}/notifications.sqlite3",
        data_dir=data_dir,
        kafka_bootstrap=bootstrap,
        token_public_key=public_key,
        kafka_consumer_group="bench-notifications",
    )


async def _send(producer: AIOKafkaProducer, partner_id: str) -> tuple[str, asyncio.Future[object]]:
    event = escalation(partner_id)
    record = to_kafka(
        event, event_id=event.referral_id, source="/alamal/cases", time=event.escalated_at
    )
    ack = await producer.send(
        record.topic, value=record.value, key=record.key.encode(), headers=list(record.headers)
    )
    return event.referral_id, ack


async def _phase(
    label: str,
    *,
    producer: AIOKafkaProducer,
    receiver: Receiver,
    store: Store,
    targets: list[_Target],
    count: int,
    interval: float,
) -> dict[str, float]:
    """Publish `count` events (`interval` apart), wait for their deliveries, print figures."""
    baseline = len(receiver.received)
    published: dict[str, float] = {}
    acks = []
    started = time.monotonic()
    for i in range(count):
        referral_id, ack = await _send(producer, targets[i % len(targets)].partner_id)
        published[referral_id] = time.monotonic()
        acks.append(ack)
        if interval:
            await asyncio.sleep(interval)
    await asyncio.gather(*acks)
    await receiver.wait_until(
        lambda: len(receiver.received) - baseline >= count, within=max(60.0, count / 10)
    )
    got = receiver.received[baseline:]
    rows = await store.find(MESSAGES, order_by="created_at", limit=10**6)
    queued_at = {r.id: r.data["created_at"] for r in rows}
    secrets = {t.path: t.secret for t in targets}
    verified = sum(1 for r in got if r.verifies(secrets[r.path]))
    latencies = [(r.at - published[json.loads(r.body)["data"]["referral_id"]]) * 1000 for r in got]
    queued = [(r.wall - queued_at[r.webhook_id]) * 1000 for r in got if r.webhook_id in queued_at]
    elapsed = max(r.at for r in got) - started if got else float("nan")
    print(
        f"{label}: {len(got)}/{count} delivered to {len(targets)} endpoint(s) in {elapsed:.2f} s"
        f" ({len(got) / elapsed:.0f} deliveries/s), {verified} signatures verified"
    )
    figures = {"delivered": float(len(got)), "deliveries_per_s": len(got) / elapsed}
    if latencies:
        figures |= {
            "published_to_received_p50_ms": _percentile(latencies, 0.5),
            "published_to_received_p99_ms": _percentile(latencies, 0.99),
        }
        print(
            f"  published -> received: p50 {_percentile(latencies, 0.5):.0f} ms,"
            f" p99 {_percentile(latencies, 0.99):.0f} ms;"
            f" queued -> received (delivery loop + HTTP): p50 {_percentile(queued, 0.5):.0f} ms,"
            f" p99 {_percentile(queued, 0.99):.0f} ms"
        )
    return figures


async def run_webhooks(
    data_dir: Path, messages: int, endpoints: int, *, paced: bool = True
) -> dict[str, float]:
    """Deliver `messages` webhooks spread over `endpoints` endpoints; print and return figures.

    The raw limit is measured first on the same receiver: signed POSTs from one bare httpx
    client at the endpoints' combined concurrency, with no store and no queue behind them.
    """
    configure_logging("notifications", "WARNING")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    private, public = generate_keypair()
    token = mint_token(private, user_id=ADMIN_ID, role=Role.ADMIN)
    receiver = Receiver()
    await receiver.start()
    figures: dict[str, float] = {}
    try:
        settings = _settings(data_dir, "unused", public)
        concurrency = settings.per_endpoint_concurrency * endpoints
        figures["raw_signed_posts_per_s"] = await signed_post_limit(
            receiver, requests=max(messages, 1000), endpoints=endpoints, concurrency=concurrency
        )
        print(
            f"raw limit: {figures['raw_signed_posts_per_s']:.0f} signed POSTs/s from one httpx"
            f" client at concurrency {concurrency} to the same receiver"
        )
        async with (
            TansuBroker() as broker,
            running(_settings(data_dir, broker.bootstrap, public)) as app,
            client_of(app) as client,
        ):
            admin = Admin(client=client, headers={"Authorization": f"Bearer {token}"})
            targets = []
            for n in range(endpoints):
                partner = await admin.partner(PartnerKind.YOUTH_CARE)
                created = await admin.endpoint(partner, receiver.url(f"/bench/{n}"))
                targets.append(_Target(partner, f"/bench/{n}", created["secret"]))
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap, enable_idempotence=False, linger_ms=5
            )
            await producer.start()
            try:
                await (await _send(producer, targets[0].partner_id))[1]
                await receiver.wait_for(targets[0].path, 2, within=60)  # the consumer joined
                common = {"producer": producer, "receiver": receiver, "targets": targets}
                store: Store = app.state.store
                burst = await _phase("burst", store=store, count=messages, interval=0, **common)
                figures |= {f"burst_{k}": v for k, v in burst.items()}
                if not paced:
                    return figures
                paced_count = min(messages, 5 * PACED_PER_SECOND)
                paced_figures = await _phase(
                    f"paced {PACED_PER_SECOND}/s",
                    store=store,
                    count=paced_count,
                    interval=1 / PACED_PER_SECOND,
                    **common,
                )
                figures |= {f"paced_{k}": v for k, v in paced_figures.items()}
            finally:
                await producer.stop()
    finally:
        await receiver.stop()
    return figures


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alamal-bench-") as folder:
        asyncio.run(run_webhooks(Path(folder), 500, 4))
