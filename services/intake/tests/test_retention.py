"""Intake's closed-case rule: a family whose case closed past the rule is erased through the
erasure machinery; a family under legal hold is withheld; the dry run says the same
(integration)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from alamal_contracts.codes import LegalBasis, PartnerKind, Urgency
from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import CaseClosed, EventBase, ReferralEscalated
from alamal_contracts.topics import FAMILY_ERASURE_REQUESTED
from alamal_intake.closures import CLOSURES
from alamal_intake.privacy.store import LEGAL_HOLDS
from alamal_intake.retention import ClosedCaseRule
from alamal_intake.store import FAMILIES
from alamal_runtime.auth import Role
from alamal_runtime.erasure import ERASED_FAMILIES
from alamal_runtime.retention import RetentionSchedule
from alamal_runtime.service import ServiceRuntime
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import read_topic_until

from .conftest import Caller, family_body

pytestmark = pytest.mark.integration

CLOSED_DAYS_AGO = 10


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    """Publishes cases' events by hand."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def publish(producer: AIOKafkaProducer, event: EventBase) -> None:
    record = to_kafka(
        event, event_id=str(uuid.uuid4()), source="/alamal/cases", time=datetime.now(UTC)
    )
    await producer.send_and_wait(
        record.topic, value=record.value, key=record.key.encode(), headers=list(record.headers)
    )


async def until(probe: Callable[[], object], what: str, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe():  # type: ignore[misc]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {within}s")


async def test_a_closed_case_past_its_rule_erases_the_family_and_a_held_one_is_withheld(
    client: httpx.AsyncClient,
    intake_store: Store,
    caller: Callable[..., Caller],
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
) -> None:
    transport = client._transport
    assert isinstance(transport, httpx.ASGITransport)
    runtime: ServiceRuntime = transport.app.state.runtime  # type: ignore[attr-defined]
    assert "intake.closed-case" in {r.name for r in runtime.retention_schedule.rules}
    holder = caller(Role.TRUSTED_PERSON)
    officer = caller(Role.PRIVACY_OFFICER)
    ids = []
    for _ in range(3):
        made = await client.post("/families", json=family_body(), headers=holder.headers)
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    closed, held, still_open = ids
    closed_at = datetime.now(UTC) - timedelta(days=CLOSED_DAYS_AGO)
    for family_id in (closed, held):
        await publish(
            producer,
            CaseClosed(
                family_id=family_id,
                case_id=str(uuid.uuid4()),
                outcome_codes=("done",),
                closed_at=closed_at,
            ),
        )
    await publish(
        producer,
        ReferralEscalated(
            family_id=held,
            referral_id=str(uuid.uuid4()),
            case_id=str(uuid.uuid4()),
            partner_id=str(uuid.uuid4()),
            partner_kind=PartnerKind.VEILIG_THUIS,
            urgency=Urgency.ACUTE,
            reason_codes=("child-safety",),
            legal_basis=LegalBasis.MELDCODE_OVERRIDE,
            escalated_at=datetime.now(UTC),
        ),
    )

    async def projected() -> bool:
        return (
            await intake_store.get(CLOSURES, closed) is not None
            and await intake_store.get(CLOSURES, held) is not None
            and await intake_store.get(LEGAL_HOLDS, held) is not None
        )

    await until(projected, "the closures and the hold reach intake")

    async def dry_run(days: int) -> dict[str, object]:
        answer = await client.get(
            "/privacy/retention/preview", params={"within_days": days}, headers=officer.headers
        )
        assert answer.status_code == 200, answer.text
        [rule] = [r for r in answer.json()["results"] if r["rule"] == "intake.closed-case"]
        return rule

    now = await dry_run(0)
    assert (now["count"], now["withheld"], now["keep_days"]) == (0, 0, 730)
    due_at = 730 - CLOSED_DAYS_AGO + 1
    ahead = await dry_run(due_at)
    assert (ahead["count"], ahead["withheld"]) == (1, 1)
    assert await intake_store.get(FAMILIES, closed) is not None  # a dry run deletes nothing

    later = RetentionSchedule(
        intake_store,
        policy=runtime.retention_schedule.policy,
        interval_seconds=3600,
        service="intake",
        clock=lambda: datetime.now(UTC) + timedelta(days=due_at),
    )
    later.add(ClosedCaseRule())
    [outcome] = await later.run(trigger="on-demand")
    assert (outcome.count, outcome.withheld) == (ahead["count"], ahead["withheld"])

    # Erased through the erasure machinery: the family, its closure, its data key; announced.
    assert await intake_store.get(FAMILIES, closed) is None
    assert await intake_store.get(CLOSURES, closed) is None
    assert (await intake_store.get(ERASED_FAMILIES, closed)) is not None
    gone = await client.get(f"/families/{closed}", headers=holder.headers)
    assert gone.status_code == 404
    erasures = await client.get(
        "/privacy/erasures", params={"family_id": closed}, headers=officer.headers
    )
    assert erasures.status_code == 200, erasures.text
    [erasure] = erasures.json()["results"]
    assert (erasure["reason"], erasure["basis"], erasure["state"]) == (
        "retention",
        "no-longer-necessary",
        "erasing",
    )
    assert (erasure["requested_by"], erasure["decided_by"]) == (
        "retention:intake.closed-case",
        "retention:schedule",
    )
    key = closed.encode()
    records = await read_topic_until(
        kafka_bootstrap, FAMILY_ERASURE_REQUESTED, lambda rs: any(r.key == key for r in rs)
    )
    assert len([r for r in records if r.key == key]) == 1

    # The held family and the open one stay, readable.
    for family_id in (held, still_open):
        kept = await client.get(f"/families/{family_id}", headers=holder.headers)
        assert kept.status_code == 200, kept.text

    # The deletion log (no ids, no names) and a second run that finds nothing more.
    shown = await client.get("/privacy/retention", headers=officer.headers)
    assert shown.status_code == 200, shown.text
    [entry] = [e for e in shown.json()["log"] if e["rule"] == "intake.closed-case"]
    assert (entry["category"], entry["count"], entry["keep_days"]) == ("closed-case", 1, 730)
    for family_id in ids:
        assert family_id not in shown.text
    [again] = await later.run(trigger="on-demand")
    assert (again.count, again.withheld) == (0, 1)
    refused = await client.post("/privacy/retention/run", headers=holder.headers)
    assert refused.status_code == 403
