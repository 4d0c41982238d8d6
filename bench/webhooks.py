"""Webhook delivery: deliveries/s and event-published -> receiver-got-it latency (p50, p99).

Runs the notifications service in-process on a fresh Tansu broker, registers `endpoints`
partners with one endpoint each on a local receiver (which verifies every signature with
`standardwebhooks`), publishes `messages` referral escalations at once and times them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
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
from alamal_stack.tansu import TansuBroker


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _settings(data_dir: Path, bootstrap: str, public_key: str) -> NotificationsSettings:
    return NotificationsSettings(
        **{
            **TEST_SETTINGS,
            # Production-like delivery settings; only the allow-list lets 127.0.0.1 through.
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


async def run_webhooks(data_dir: Path, messages: int, endpoints: int) -> None:
    """Deliver `messages` webhooks spread over `endpoints` endpoints; print the figures."""
    configure_logging("notifications", "WARNING")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    private, public = generate_keypair()
    receiver = Receiver()
    await receiver.start()
    async with TansuBroker() as broker:
        settings = _settings(data_dir, broker.bootstrap, public)
        async with running(settings) as app, client_of(app) as client:
            token = mint_token(
                private, user_id="00000000-0000-4000-8000-000000000001", role=Role.ADMIN
            )
            admin = Admin(client=client, headers={"Authorization": f"Bearer {token}"})
            partners: list[tuple[str, str, str]] = []
            for n in range(endpoints):
                partner = await admin.partner(PartnerKind.YOUTH_CARE)
                hook = f"/bench/{n}"
                created = await admin.endpoint(partner, receiver.url(hook))
                partners.append((partner, hook, created["secret"]))
            producer = AIOKafkaProducer(
                bootstrap_servers=broker.bootstrap, enable_idempotence=False, linger_ms=5
            )
            await producer.start()
            try:
                await (await _send(producer, partners[0][0]))[1]  # warm-up: consumer joined
                await receiver.wait_for(partners[0][1], 2, within=60)
                baseline = len(receiver.received)
                published: dict[str, float] = {}
                started = time.monotonic()
                acks = []
                for i in range(messages):
                    referral_id, ack = await _send(producer, partners[i % endpoints][0])
                    published[referral_id] = time.monotonic()
                    acks.append(ack)
                await asyncio.gather(*acks)
                publish_seconds = time.monotonic() - started
                deadline = time.monotonic() + max(60.0, messages / 10)
                while len(receiver.received) - baseline < messages:
                    if time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.01)
                rows = await app.state.store.find(MESSAGES, order_by="created_at", limit=10**6)
                queued_at = {r.id: r.data["created_at"] for r in rows}
            finally:
                await producer.stop()
    await receiver.stop()
    got = receiver.received[baseline:]
    secrets = {hook: secret for _, hook, secret in partners}
    verified = sum(1 for r in got if r.verifies(secrets[r.path]))
    latencies = [(r.at - published[json.loads(r.body)["data"]["referral_id"]]) * 1000 for r in got]
    queued = [(r.wall - queued_at[r.webhook_id]) * 1000 for r in got if r.webhook_id in queued_at]
    elapsed = max(r.at for r in got) - started if got else float("nan")
    print(
        f"webhooks: {len(got)}/{messages} delivered to {endpoints} endpoint(s), "
        f"{verified} signatures verified"
    )
    print(f"  published in {publish_seconds:.2f} s; all delivered after {elapsed:.2f} s")
    print(f"  deliveries/s: {len(got) / elapsed:.0f}")
    if latencies:
        print(
            f"  published -> received latency: p50 {_percentile(latencies, 0.5):.0f} ms, "
            f"p99 {_percentile(latencies, 0.99):.0f} ms"
        )
        print(
            f"  queued -> received (delivery loop + HTTP only): p50 {_percentile(queued, 0.5):.0f}"
            f" ms, p99 {_percentile(queued, 0.99):.0f} ms"
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


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alamal-bench-") as folder:
        asyncio.run(run_webhooks(Path(folder), 500, 4))
