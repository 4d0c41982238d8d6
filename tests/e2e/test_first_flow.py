"""End to end on the embedded stack: a family registered at intake gets a case at cases.

Also the fault cases of the walking skeleton: kill -9 of intake after it answered 201, kill -9 of
cases in the middle of handling, a malformed event on the topic, and no personal data leaving
intake (events and every service's log).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from alamal_contracts.topics import CASE_OPENED, FAMILY_REGISTERED, dead_letter_topic
from alamal_stack.kafka_testing import read_topic_until
from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import Staff, leaked

pytestmark = pytest.mark.e2e

PLANTED = ("Fatima", "El Amrani", "Yasmine", "1984", "2016")


async def wait_for_cases(
    staff: Staff, client: httpx.AsyncClient, family_id: str, *, within: float = 20.0
) -> list[dict[str, object]]:
    """Poll the cases service until the family has a case (bounded)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cases = await staff.cases(client, family_id)
        if cases:
            return cases
        await asyncio.sleep(0.05)
    raise AssertionError(f"no case for family {family_id} within {within}s")


async def read_topic(
    bootstrap: str, topic: str, *, until: int, within: float = 15.0
) -> list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]:
    """Read a topic from the start until `until` records came or the time is up."""
    records = await read_topic_until(bootstrap, topic, lambda got: len(got) >= until, within=within)
    return [(r.key, r.value, list(r.headers)) for r in records]


async def test_registration_opens_one_case(stack: EmbeddedStack) -> None:
    staff = Staff(stack)
    async with httpx.AsyncClient(timeout=10) as client:
        started = time.perf_counter()
        family_id = await staff.register(client)
        cases = await wait_for_cases(staff, client, family_id)
        latency = time.perf_counter() - started
    assert len(cases) == 1
    assert cases[0]["family_id"] == family_id
    assert cases[0]["trusted_person_id"] == staff.user_id
    assert cases[0]["status"] == "open"
    print(f"registration -> case visible: {latency * 1000:.0f} ms")  # noqa: T201


async def test_events_and_logs_hold_no_personal_data(stack: EmbeddedStack) -> None:
    staff = Staff(stack)
    async with httpx.AsyncClient(timeout=10) as client:
        family_id = await staff.register(client)
        await wait_for_cases(staff, client, family_id)
    registered = await read_topic(stack.bootstrap, FAMILY_REGISTERED, until=1)
    opened = await read_topic(stack.bootstrap, CASE_OPENED, until=1)
    ours = [r for r in registered + opened if r[0] == family_id.encode()]
    assert len(ours) >= 2, "both events of the family are on their topics"
    for _, value, headers in ours:
        assert leaked(PLANTED, value, headers) == []
    for log_file in stack.logs_dir.glob("*.log"):
        content = log_file.read_text(encoding="utf-8", errors="replace")
        for planted in ("Fatima", "El Amrani", "Yasmine"):
            assert planted not in content, f"{planted!r} leaked into {log_file.name}"


async def test_intake_killed_after_201_still_publishes(stack: EmbeddedStack) -> None:
    staff = Staff(stack)
    broker_pid = stack.broker.pid
    assert broker_pid is not None
    async with httpx.AsyncClient(timeout=10) as client:
        # Freeze the broker so intake's relay cannot publish before we kill intake.
        os.kill(broker_pid, signal.SIGSTOP)
        try:
            family_id = await staff.register(client)
            stack.kill("intake", signal.SIGKILL)
        finally:
            os.kill(broker_pid, signal.SIGCONT)
        await stack.restart("intake")
        cases = await wait_for_cases(staff, client, family_id, within=45)
    assert len(cases) == 1


async def test_cases_killed_mid_handling_leaves_exactly_one_case(stack: EmbeddedStack) -> None:
    staff = Staff(stack)
    async with httpx.AsyncClient(timeout=10) as client:
        families: list[str] = []
        first_registered = asyncio.Event()

        async def keep_registering() -> None:
            for _ in range(30):
                families.append(await staff.register(client))
                first_registered.set()
                await asyncio.sleep(0.02)

        registering = asyncio.create_task(keep_registering())
        await first_registered.wait()
        # Kill cases once it has handled the first family, while registrations still arrive.
        await wait_for_cases(staff, client, families[0])
        stack.kill("cases", signal.SIGKILL)
        in_flight = 30 - len(families)
        await stack.restart("cases")
        await registering
        assert in_flight > 0, "the kill should land while registrations were still coming"
        for family_id in families:
            cases = await wait_for_cases(staff, client, family_id, within=45)
            assert len(cases) == 1, f"family {family_id} has {len(cases)} cases"


async def test_malformed_event_is_dead_lettered_and_consumer_goes_on(
    stack: EmbeddedStack,
) -> None:
    marker = uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=stack.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(
            FAMILY_REGISTERED,
            value=b'{"first_name": "Fatima", "not": "an event"}',
            key=marker.encode(),
            headers=[("ce_specversion", b"1.0"), ("ce_type", b"nl.alamal.unknown.v1")],
        )
    finally:
        await producer.stop()
    letters = await read_topic(stack.bootstrap, dead_letter_topic("cases"), until=50, within=10)
    ours = [r for r in letters if r[0] == marker.encode()]
    assert len(ours) == 1
    _, value, headers = ours[0]
    names = dict(headers)
    assert value == b'{"first_name": "Fatima", "not": "an event"}'
    assert names["dlq-source-topic"] == FAMILY_REGISTERED.encode()
    assert b"Fatima" not in names["dlq-reason"]
    assert names["dlq-reason"]
    staff = Staff(stack)
    async with httpx.AsyncClient(timeout=10) as client:
        family_id = await staff.register(client)
        assert len(await wait_for_cases(staff, client, family_id)) == 1


async def test_cases_killed_in_the_middle_of_a_batch_leaves_exactly_one_case_each(
    stack: EmbeddedStack,
) -> None:
    """The batch variant: registrations arrive many at a time, so cases handles them in batches
    of several events per unit of work when it is killed."""
    staff = Staff(stack)
    total = 80
    async with httpx.AsyncClient(timeout=30) as client:
        families: list[str] = []
        first_registered = asyncio.Event()
        limit = asyncio.Semaphore(16)

        async def register() -> None:
            async with limit:
                families.append(await staff.register(client))
                first_registered.set()

        registering = [asyncio.create_task(register()) for _ in range(total)]
        await first_registered.wait()
        await wait_for_cases(staff, client, families[0])
        stack.kill("cases", signal.SIGKILL)
        in_flight = total - len(families)
        await stack.restart("cases")
        await asyncio.gather(*registering)
        assert in_flight > 0, "the kill should land while registrations were still coming"
        for family_id in families:
            cases = await wait_for_cases(staff, client, family_id, within=60)
            assert len(cases) == 1, f"family {family_id} has {len(cases)} cases"
