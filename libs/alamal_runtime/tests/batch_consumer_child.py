"""A consumer process for the kill -9 test: `python batch_consumer_child.py BOOTSTRAP TOPIC
DEAD_LETTER_TOPIC GROUP DB MAX_BATCH`. Each event appends its case id to its family's ledger (an
effect that would show if it were applied twice) and takes a little time, so batches are long
enough to be killed in the middle of."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from alamal_contracts.envelope import CloudEvent
from alamal_runtime.messaging.broker import create_broker
from alamal_runtime.messaging.consumer import EventProcessor
from alamal_runtime.messaging.dead_letter import KafkaDeadLetterSink
from alamal_runtime.messaging.subscribe import subscribe
from alamal_runtime.store import UnitOfWork
from alamal_runtime.store.sqlite import SqliteStore
from alamal_runtime.telemetry import setup_telemetry

LEDGER = "ledger"


async def append_to_ledger(event: CloudEvent[Any], uow: UnitOfWork) -> None:
    """Append the case id to the family's ledger."""
    data = event.data
    current = await uow.get(LEDGER, data.family_id)
    if current is None:
        await uow.insert(LEDGER, data.family_id, {"cases": [data.case_id]})
    else:
        cases = [*current.data["cases"], data.case_id]
        await uow.replace(
            LEDGER, data.family_id, {"cases": cases}, expected_version=current.version
        )
    await asyncio.sleep(0.002)


async def main(
    bootstrap: str, topic: str, dead_letters: str, group: str, db: str, batch: int
) -> None:
    """Consume until killed."""
    store = SqliteStore(db)
    await store.open()
    broker = create_broker(
        bootstrap, client_id="batch-child", telemetry=setup_telemetry("child", set_global=False)
    )
    processor = EventProcessor(
        store=store,
        consumer="child",
        handler=append_to_ledger,
        dead_letters=KafkaDeadLetterSink(broker, dead_letters),
    )
    subscribe(
        broker,
        topic=topic,
        group_id=group,
        processor=processor,
        session_timeout_ms=2000,
        max_batch=batch,
    )
    await broker.start()
    print("started", flush=True)  # noqa: T201
    await asyncio.Event().wait()


if __name__ == "__main__":
    bootstrap, topic, dead_letters, group, db, batch = sys.argv[1:7]
    asyncio.run(main(bootstrap, topic, dead_letters, group, db, int(batch)))
