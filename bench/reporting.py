"""Reporting: live projection throughput (events/s) and the rebuild time for N events."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaProducer

from alamal_contracts import codes
from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import (
    CaseClosed,
    CaseOpened,
    ConsentFlag,
    Event,
    FamilyRegistered,
    GoalUpdated,
    MemberCount,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)
from alamal_reporting.app import create_app
from alamal_reporting.handlers import CONSUMED_TOPICS
from alamal_reporting.rebuild import rebuild
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.auth import generate_keypair
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry
from alamal_stack.tansu import TansuBroker

_START = datetime(2025, 1, 6, 9, tzinfo=UTC)


def _id() -> str:
    return str(uuid.uuid4())


def _family_events(rng: random.Random) -> Iterator[Event]:
    """One family's casework: 12 events (registration, case, 6 contacts, referral, goal, close)."""
    family_id, case_id, tp = _id(), _id(), _id()
    wijk = rng.choice(list(codes.Wijk))
    day = _START + timedelta(days=rng.randrange(300))
    yield FamilyRegistered(
        family_id=family_id,
        wijk=wijk,
        projects=(rng.choice(list(codes.Project)),),
        member_counts=(
            MemberCount(role=codes.MemberRole.MOTHER, age_band=codes.AgeBand.AGE_24_64, count=1),
            MemberCount(
                role=codes.MemberRole.CHILD,
                age_band=codes.AgeBand.AGE_4_11,
                count=rng.randint(1, 4),
            ),
        ),
        languages=("nl",),
        intake_source=rng.choice(list(codes.IntakeSource)),
        trusted_person_id=tp,
        consents=(ConsentFlag(purpose=codes.ConsentPurpose.REPORTING, granted=True),),
        registered_at=day,
    )
    yield CaseOpened(
        family_id=family_id, case_id=case_id, trusted_person_id=tp, wijk=wijk, opened_at=day
    )
    for n in range(6):
        yield VisitLogged(
            family_id=family_id,
            visit_id=_id(),
            case_id=case_id,
            kind=rng.choice(list(codes.VisitKind)),
            occurred_on=(day + timedelta(days=7 * n + 1)).date(),
            duration_minutes=60,
            topic_codes=(rng.choice(list(codes.TopicCode)),),
            trusted_person_id=tp,
        )
    referral_id, partner_id = _id(), _id()
    yield ReferralEscalated(
        family_id=family_id,
        referral_id=referral_id,
        case_id=case_id,
        partner_id=partner_id,
        partner_kind=rng.choice(list(codes.PartnerKind)),
        urgency=rng.choice(list(codes.Urgency)),
        reason_codes=("bench",),
        legal_basis=codes.LegalBasis.CONSENT,
        escalated_at=day + timedelta(days=10),
    )
    yield ReferralUpdated(
        family_id=family_id,
        referral_id=referral_id,
        partner_id=partner_id,
        status=codes.ReferralStatus.ACCEPTED,
        updated_at=day + timedelta(days=10 + rng.randint(1, 20)),
    )
    yield GoalUpdated(
        family_id=family_id,
        goal_id=_id(),
        case_id=case_id,
        area=codes.TopicCode.PARENTING,
        status=codes.GoalStatus.REACHED,
        revision=1,
        updated_at=day + timedelta(days=40),
    )
    yield CaseClosed(
        family_id=family_id,
        case_id=case_id,
        outcome_codes=("bench",),
        closed_at=day + timedelta(days=60),
    )


def synthetic_events(count: int, seed: int = 1) -> list[Event]:
    """`count` contract events of whole families' casework (the last family may be cut short)."""
    rng = random.Random(seed)
    found: list[Event] = []
    while len(found) < count:
        found.extend(_family_events(rng))
    return found[:count]


async def _publish(bootstrap: str, events: list[Event]) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=20,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    started = time.perf_counter()
    try:
        for event in events:
            record = to_kafka(event, event_id=_id(), source="/alamal/bench", time=_START)
            await producer.send(
                record.topic,
                value=record.value,
                key=record.key.encode(),
                headers=list(record.headers),
            )
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - started


def _handled(path: Path) -> int:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        try:
            (count,) = conn.execute("SELECT count(*) FROM inbox").fetchone()
        except sqlite3.OperationalError:
            return 0
    return int(count)


async def _live(
    bootstrap: str, data_dir: Path, events: list[Event], within: float
) -> tuple[int, float]:
    """Run the service, publish, and time until every event is projected (or the timeout)."""
    _, public = generate_keypair()
    path = data_dir / "reporting-live.sqlite3"
    settings = ReportingSettings(
        store_url=f"sqlite:///{path}",
        kafka_bootstrap=bootstrap,
        token_public_key=public,
        profile="test",
        kafka_consumer_group=f"bench-reporting-{uuid.uuid4().hex[:8]}",
        kafka_session_timeout_ms=3000,
    )
    app = create_app(settings, telemetry=setup_telemetry("reporting", set_global=False))
    async with app.router.lifespan_context(app):
        await asyncio.sleep(5)  # let the consumer group settle before the clock starts
        started = time.perf_counter()
        await _publish(bootstrap, events)
        deadline = started + within
        handled = 0
        while time.perf_counter() < deadline:
            handled = await asyncio.to_thread(_handled, path)
            if handled >= len(events):
                break
            await asyncio.sleep(0.5)
        return handled, time.perf_counter() - started


async def run_reporting(
    data_dir: Path, events: int = 100_000, *, live_events: int = 20_000
) -> None:
    """Publish `events` synthetic events; print live throughput and the rebuild time.

    Live projection commits every event on its own (inbox claim + merge, fsynced), so it is
    timed over the first `live_events` only; the rest is then published untimed, and the rebuild
    replays all `events`.
    """
    batch = synthetic_events(events)
    live, rest = batch[: min(events, live_events)], batch[min(events, live_events) :]
    with TansuBroker() as broker:
        await ensure_topics(broker.bootstrap, set(CONSUMED_TOPICS), partitions=3)
        handled, seconds = await _live(broker.bootstrap, data_dir, live, within=600.0)
        print(
            f"reporting live projection: {handled} of {len(live)} events in {seconds:.1f} s"
            f" = {handled / seconds:.0f} events/s (service consuming while they are published)"
        )
        if rest:
            publish_seconds = await _publish(broker.bootstrap, rest)
            print(f"published {len(rest)} more events in {publish_seconds:.1f} s")
        projection = SqliteStore(data_dir / "reporting-rebuild.sqlite3")
        await projection.open()
        try:
            started = time.perf_counter()
            result = await rebuild(projection, broker.bootstrap)
            took = time.perf_counter() - started
        finally:
            await projection.close()
        print(
            f"reporting rebuild: {result.events} events in {took:.1f} s"
            f" = {result.events / took:.0f} events/s"
        )
