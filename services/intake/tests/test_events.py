"""Registration publishes one thin, schema-valid CloudEvent through the outbox (integration)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import FamilyRegistered
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import FAMILY_REGISTERED
from alamal_runtime.auth import Role
from alamal_stack.kafka_testing import read_topic_until

from .conftest import PLANTED_BIRTH_YEARS, PLANTED_NAMES, Caller, family_body

pytestmark = pytest.mark.integration

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


def schema() -> dict[str, Any]:
    """The committed JSON Schema of the topic's events."""
    text = (DEFAULT_DIR / filename(FAMILY_REGISTERED)).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


async def test_registration_publishes_one_thin_cloudevent(
    client: httpx.AsyncClient, caller: Callable[..., Caller], kafka_bootstrap: str
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    response = await client.post("/families", json=family_body(), headers=me.headers)
    assert response.status_code == 201, response.text
    family = response.json()
    key = family["id"].encode()

    records = await read_topic_until(
        kafka_bootstrap, FAMILY_REGISTERED, lambda rs: any(r.key == key for r in rs)
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1, "the relay publishes the event once"
    record = ours[0]

    headers = dict(record.headers)
    assert len(headers) == len(record.headers), "no header appears twice"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"nl.alamal.intake.family-registered.v1"
    assert headers["ce_source"] == b"/alamal/intake"
    assert uuid.UUID(headers["ce_id"].decode()).version == 4
    assert datetime.fromisoformat(headers["ce_time"].decode()).tzinfo is not None
    assert headers["content-type"] == b"application/json"
    assert TRACEPARENT.fullmatch(headers["traceparent"].decode())

    data = json.loads(record.value)
    jsonschema.Draft202012Validator(schema()).validate(data)
    event = from_kafka(record.value, record.headers, expect=FamilyRegistered).data
    assert event.family_id == family["id"]
    assert event.trusted_person_id == me.user_id
    assert event.wijk.value == "overvecht"
    assert event.registered_at == datetime.fromisoformat(family["registered_at"])
    assert [(c.role.value, c.age_band.value, c.count) for c in event.member_counts] == [
        ("mother", "24-64", 1),
        ("child", "4-11", 1),
    ]
    assert [(c.purpose.value, c.granted) for c in event.consents] == [
        ("care", True),
        ("reporting", False),
    ]

    # No personal value leaves intake: not in the value, not in any header.
    text = record.value.decode() + "".join(v.decode() for v in headers.values())
    for name in PLANTED_NAMES:
        assert name not in text
    # Ids and the timestamp are random digits; take them out before looking for birth years.
    scrubbed = UUID.sub("<id>", text).replace(data["registered_at"], "<time>")
    scrubbed = scrubbed.replace(headers["ce_time"].decode(), "<time>")
    scrubbed = re.sub(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", "<trace>", scrubbed)
    for year in PLANTED_BIRTH_YEARS:
        assert str(year) not in scrubbed
    assert not {"members", "first_name", "surname", "birth_year"} & set(data)
