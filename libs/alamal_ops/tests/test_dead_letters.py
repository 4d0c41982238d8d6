"""Dead letters through the ops CLI against a real broker and a real in-process service."""

from __future__ import annotations

import io
import re
import uuid

from aiokafka import AIOKafkaProducer
from rich.console import Console

from alamal_ops import dead_letters as dl
from alamal_ops.cli import main

from .conftest import SERVICE, Probe, eventually, family_record

PLANTED_NAME = "Fatima-El-Amrani-7731"  # a personal value inside a malformed record


def run_cli(*args: str) -> tuple[int, str]:
    """Run the CLI in a worker thread (it runs its own event loop); return (status, output)."""
    buffer = io.StringIO()
    console = Console(file=buffer, width=250, color_system=None)
    code = main(["--no-progress", *args], console=console)
    return code, buffer.getvalue()


async def cli(*args: str) -> tuple[int, str]:
    """`run_cli` off the test's event loop."""
    import asyncio

    return await asyncio.to_thread(run_cli, *args)


async def letters_of(bootstrap: str) -> list[dl.DeadLetterView]:
    """Every dead letter of the probe service."""
    topics = await dl.dead_letter_topics(bootstrap, [SERVICE])
    return await dl.list_dead_letters(bootstrap, topics)


async def test_list_and_inspect_show_metadata_and_never_payload_values(
    probe: Probe, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    bad_value = ('{"first_name": "' + PLANTED_NAME + '"}').encode()
    await producer.send_and_wait(
        probe.topic, value=bad_value, key=b"k1", headers=[("ce_type", b"nl.alamal.intake.x.v1")]
    )

    async def found() -> list[dl.DeadLetterView]:
        return [v for v in await letters_of(kafka_bootstrap) if v.source_topic == probe.topic]

    letter = (await eventually(found))[0]
    assert letter.reason_code == "invalid_event"
    assert letter.status == "open"

    code, listing = await cli(
        "--bootstrap", kafka_bootstrap, "dead-letters", "list", "--service", SERVICE
    )
    assert code == 0
    assert letter.location in listing
    assert "invalid_event" in listing
    code, detail = await cli(
        "--bootstrap", kafka_bootstrap, "dead-letters", "inspect", letter.location
    )
    assert code == 0
    assert probe.topic in detail
    assert "invalid_event" in detail
    assert f"{len(bad_value)} bytes" in detail
    for output in (listing, detail):
        assert PLANTED_NAME not in output
        assert "first_name" not in output


async def test_replay_that_succeeds_marks_the_letter_replayed(
    probe: Probe, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    event_id = str(uuid.uuid4())
    probe.failing.add(event_id)
    value, key, headers = family_record(event_id)
    await producer.send_and_wait(probe.topic, value=value, key=key, headers=headers)

    async def letter() -> dl.DeadLetterView | None:
        return next((v for v in await letters_of(kafka_bootstrap) if v.event_id == event_id), None)

    original = await eventually(letter)
    assert original.reason_code == "handler_failed"
    assert original.error_type == "RuntimeError"
    assert event_id not in probe.handled

    probe.failing.discard(event_id)
    code, out = await cli(
        "--bootstrap", kafka_bootstrap, "dead-letters", "replay", "--location", original.location
    )
    assert code == 0, out
    assert f"replayed {original.location} -> {probe.topic}:" in out

    async def handled() -> bool:
        return event_id in probe.handled

    await eventually(handled)
    after = next(v for v in await letters_of(kafka_bootstrap) if v.location == original.location)
    assert after.status == "replayed"
    _, listing = await cli(
        "--bootstrap", kafka_bootstrap, "dead-letters", "list", "--service", SERVICE
    )
    row = next(line for line in listing.splitlines() if original.location in line)
    assert "replayed" in row


async def test_replay_that_fails_again_comes_back_with_the_new_reason(
    probe: Probe, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    event_id = str(uuid.uuid4())
    probe.failing.add(event_id)
    value, key, headers = family_record(event_id)
    await producer.send_and_wait(probe.topic, value=value, key=key, headers=headers)

    async def letters_for_event() -> list[dl.DeadLetterView]:
        return [v for v in await letters_of(kafka_bootstrap) if v.event_id == event_id]

    first = (await eventually(letters_for_event))[0]
    replayed = await dl.replay(kafka_bootstrap, [first])
    assert [letter.location for letter, _ in replayed] == [first.location]

    async def two() -> list[dl.DeadLetterView] | None:
        found = await letters_for_event()
        return found if len(found) == 2 else None

    old, new = sorted(await eventually(two), key=lambda v: v.offset)
    assert old.location == first.location
    assert old.status == "failed again"
    assert old.failed_again_as == new.location
    assert new.status == "open"
    assert new.replay_of == first.location
    assert new.reason_code == "handler_failed"
    assert event_id not in probe.handled
    # The original bytes went round unchanged: the same event id and value size.
    assert new.value_bytes == first.value_bytes

    _, open_only = await cli(
        "--bootstrap", kafka_bootstrap, "dead-letters", "list", "--service", SERVICE, "--open"
    )
    assert new.location in open_only
    assert not re.search(re.escape(first.location) + r"\s", open_only)


async def test_inspect_of_an_unknown_location_fails_cleanly(kafka_bootstrap: str) -> None:
    code, out = await cli(
        "--bootstrap",
        kafka_bootstrap,
        "dead-letters",
        "inspect",
        f"{SERVICE}.dead-letter.v1:0:999999",
    )
    assert code == 1
    assert "no dead letter at" in out


def test_original_headers_restore_binary_and_null_values() -> None:
    from alamal_ops.kafka_io import RawRecord

    record = RawRecord(
        "x.dead-letter.v1",
        0,
        1,
        None,
        b"",
        (
            ("ce_id", b"abc"),
            ("dlq-b64-raw", b"AP8="),
            ("dlq-null-empty", b""),
            ("dlq-reason", b"r"),
        ),
    )
    assert dl.original_headers(record) == [("ce_id", b"abc"), ("raw", b"\x00\xff"), ("empty", None)]


async def test_lag_command_shows_the_probe_group_caught_up(
    probe: Probe, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    value, key, headers = family_record()
    await producer.send_and_wait(probe.topic, value=value, key=key, headers=headers)

    async def caught_up() -> str | None:
        code, out = await cli(
            "--bootstrap", kafka_bootstrap, "lag", "--group", probe.group, "--topic", probe.topic
        )
        assert code == 0
        rows = [line for line in out.splitlines() if probe.topic in line]
        lags = [[c.strip() for c in line.split("│") if c.strip()][-1] for line in rows]
        return out if lags and all(lag == "0" for lag in lags) else None

    out = await eventually(caught_up)
    assert probe.group in out
    assert "total lag: 0" in out
