"""Dead letters for operators: list, inspect and replay, never showing payload values.

A dead letter keeps the original record byte for byte plus `dlq-*` headers (reason, source
topic/partition/offset, consumer, time). Replaying republishes the original value, key and
headers to the source topic with `dlq-replay-of: <topic>:<partition>:<offset>`, then records the
replay on `REPLAYS_TOPIC`. If it fails again, the consumer dead-letters it anew (carrying that
header), so the new letter names the one it came from: nothing is lost.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from alamal_ops.kafka_io import Progress, Publisher, RawRecord, list_topics, read_topic
from alamal_runtime.messaging import dead_letter as dlq
from alamal_runtime.messaging.topics import ensure_topics

REPLAYS_TOPIC = "alamal-ops.dead-letter-replays.v1"
REPLAY_OF = "dlq-replay-of"
DEAD_LETTER_SUFFIX = ".dead-letter.v1"
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_SAFE_TYPE = re.compile(r"[a-z0-9][a-z0-9.-]{0,99}")
_ERROR_TYPE = re.compile(r"handler failed after \d+ attempts: ([A-Za-z_][A-Za-z0-9_]{0,80})$")


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """What an operator may see of a dead letter: where, why, which event; no values."""

    location: str
    topic: str
    partition: int
    offset: int
    source_topic: str
    source_partition: int | None
    source_offset: int | None
    consumer: str
    reason_code: str
    error_type: str | None
    failed_at: str
    event_type: str
    event_id: str
    replay_of: str | None
    value_bytes: int
    header_names: tuple[str, ...]
    replayed_at: str | None = None
    failed_again_as: str | None = None
    record: RawRecord | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        """open, replayed, or failed again (then the new letter is open)."""
        if self.failed_again_as:
            return "failed again"
        return "replayed" if self.replayed_at else "open"


def location_of(topic: str, partition: int, offset: int) -> str:
    """The `topic:partition:offset` name of a record."""
    return f"{topic}:{partition}:{offset}"


def _text(headers: dict[str, bytes | None], name: str) -> str:
    raw = headers.get(name)
    return raw.decode("utf-8", "replace") if raw is not None else ""


def _safe(value: str, pattern: re.Pattern[str]) -> str:
    if not value:
        return "-"
    return value if pattern.fullmatch(value) else "<not shown: malformed>"


def view(record: RawRecord) -> DeadLetterView:
    """The operator's view of one dead-letter record."""
    headers = dict(record.headers)
    reason = _text(headers, dlq.REASON)
    error = _ERROR_TYPE.search(reason)
    event_id = _text(headers, "ce_id") or _b64_header(headers, "ce_id")
    event_type = _text(headers, "ce_type") or _b64_header(headers, "ce_type")
    return DeadLetterView(
        location=location_of(record.topic, record.partition, record.offset),
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        source_topic=_safe(_text(headers, dlq.SOURCE_TOPIC), _SAFE_TYPE),
        source_partition=_int(_text(headers, dlq.SOURCE_PARTITION)),
        source_offset=_int(_text(headers, dlq.SOURCE_OFFSET)),
        consumer=_safe(_text(headers, dlq.CONSUMER), _SAFE_ID),
        reason_code=dlq.reason_code(reason),
        error_type=error.group(1) if error else None,
        failed_at=_safe(_text(headers, dlq.FAILED_AT), re.compile(r"[0-9T:.+-]{10,40}")),
        event_type=_safe(event_type, _SAFE_TYPE),
        event_id=_safe(event_id, _SAFE_ID),
        replay_of=_text(headers, REPLAY_OF) or None,
        value_bytes=len(record.value),
        header_names=tuple(sorted({name for name, _ in record.headers})),
        record=record,
    )


def _b64_header(headers: dict[str, bytes | None], name: str) -> str:
    raw = headers.get(dlq.BINARY_HEADER_PREFIX + name)
    if raw is None:
        return ""
    try:
        return base64.b64decode(raw).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return ""


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def original_headers(record: RawRecord) -> list[tuple[str, bytes | None]]:
    """The headers the record had before it was dead-lettered (binary and null ones restored)."""
    out: list[tuple[str, bytes | None]] = []
    for name, raw in record.headers:
        if name.startswith(dlq.BINARY_HEADER_PREFIX):
            out.append((name.removeprefix(dlq.BINARY_HEADER_PREFIX), base64.b64decode(raw or b"")))
        elif name.startswith(dlq.NULL_HEADER_PREFIX):
            out.append((name.removeprefix(dlq.NULL_HEADER_PREFIX), None))
        elif not name.startswith("dlq-"):
            out.append((name, raw))
    return out


async def dead_letter_topics(bootstrap: str, wanted: Iterable[str] = ()) -> list[str]:
    """The dead-letter topics on the cluster (or those of the `wanted` services)."""
    names = set(wanted)
    return [
        t
        for t in await list_topics(bootstrap)
        if t.endswith(DEAD_LETTER_SUFFIX)
        and (not names or t.removesuffix(DEAD_LETTER_SUFFIX) in names)
    ]


async def replays(bootstrap: str) -> dict[str, str]:
    """Dead-letter location -> when it was replayed, from the replay log."""
    if REPLAYS_TOPIC not in await list_topics(bootstrap):
        return {}
    found: dict[str, str] = {}
    for record in await read_topic(bootstrap, REPLAYS_TOPIC):
        entry = json.loads(record.value)
        found[str(entry["dead_letter"])] = str(entry["replayed_at"])
    return found


async def list_dead_letters(
    bootstrap: str, topics: Iterable[str], *, progress: Progress | None = None
) -> list[DeadLetterView]:
    """Every dead letter in `topics`, with its replay status."""
    records: list[RawRecord] = []
    for topic in topics:
        records += await read_topic(bootstrap, topic, progress=progress)
    done = await replays(bootstrap)
    views = [view(r) for r in records]
    again = {v.replay_of: v.location for v in views if v.replay_of}
    return [_with_status(v, done.get(v.location), again.get(v.location)) for v in views]


def _with_status(v: DeadLetterView, replayed: str | None, again: str | None) -> DeadLetterView:
    return replace(v, replayed_at=replayed, failed_again_as=again)


async def replay(
    bootstrap: str, letters: Iterable[DeadLetterView], *, progress: Progress | None = None
) -> list[tuple[DeadLetterView, str]]:
    """Republish each letter's original record to its source topic and log the replay."""
    chosen = [(v, v.record) for v in letters if v.record is not None]
    await ensure_topics(bootstrap, [REPLAYS_TOPIC], partitions=1)
    done: list[tuple[DeadLetterView, str]] = []
    async with Publisher(bootstrap) as publisher:
        for index, (letter, record) in enumerate(chosen):
            if letter.source_topic.startswith("<") or letter.source_topic == "-":
                raise ValueError(f"{letter.location}: no usable source topic")
            headers = [*original_headers(record), (REPLAY_OF, letter.location.encode())]
            partition, offset = await publisher.send(
                letter.source_topic, value=record.value, key=record.key, headers=headers
            )
            now = datetime.now(UTC).isoformat()
            entry = {
                "dead_letter": letter.location,
                "replayed_at": now,
                "republished_as": location_of(letter.source_topic, partition, offset),
            }
            await publisher.send(
                REPLAYS_TOPIC,
                value=json.dumps(entry).encode(),
                key=letter.location.encode(),
                headers=[],
            )
            done.append((letter, entry["republished_as"]))
            if progress:
                progress(index + 1, len(chosen))
    return done
