"""Recording and reading consent over HTTP, on the real broker and SQLite (integration)."""

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
from alamal_contracts.events import ConsentChanged
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import CONSENT_CHANGED
from alamal_intake import consent_api
from alamal_intake.store import replace_family
from alamal_runtime.auth import Role
from alamal_runtime.store import StaleWriteError
from alamal_stack.kafka_testing import read_topic_until

from .conftest import PLANTED_BIRTH_YEARS, PLANTED_NAMES, Caller
from .test_api import registered

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]


def consent(purpose: str = "care", granted: bool = False, **extra: Any) -> dict[str, Any]:
    """A valid POST /families/{id}/consents body."""
    return {"purpose": purpose, "granted": granted, "text_version": "2026-2", **extra}


async def record(
    client: httpx.AsyncClient, caller: Caller, family_id: str, body: dict[str, Any]
) -> httpx.Response:
    """POST one consent answer as `caller`."""
    return await client.post(f"/families/{family_id}/consents", json=body, headers=caller.headers)


async def test_a_withdrawal_is_a_new_record_and_the_current_answer_becomes_false(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    response = await record(client, me, family_id, consent("care", False, basis="verbal"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created == {
        "purpose": "care",
        "granted": False,
        "recorded_by": me.user_id,
        "recorded_at": created["recorded_at"],
        "text_version": "2026-2",
        "basis": "verbal",
    }
    assert response.headers["Location"] == f"/families/{family_id}/consents"

    consents = (await client.get(f"/families/{family_id}/consents", headers=me.headers)).json()
    assert consents["family_id"] == family_id
    assert [(c["purpose"], c["granted"]) for c in consents["history"]] == [
        ("care", True),
        ("reporting", False),
        ("care", False),
    ]
    assert consents["history"][0]["text_version"] == "2026-1"  # the original is not edited
    assert consents["history"][-1] == created
    assert [(c["purpose"], c["granted"]) for c in consents["current"]] == [
        ("care", False),
        ("reporting", False),
    ]
    family = (await client.get(f"/families/{family_id}", headers=me.headers)).json()
    assert [(c["purpose"], c["granted"]) for c in family["consents"]] == [
        ("care", False),
        ("reporting", False),
    ]


async def test_history_is_in_the_order_recorded_and_repeats_are_kept(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    family_id = await registered(client, trusted)
    steps = [
        (trusted, consent("reporting", True)),
        (coordinator, consent("share-school", True, basis="written")),
        (trusted, consent("reporting", True, text_version="2026-3")),  # same answer, new text
        (trusted, consent("share-school", False)),
    ]
    for who, body in steps:
        assert (await record(client, who, family_id, body)).status_code == 201
    consents = (await client.get(f"/families/{family_id}/consents", headers=trusted.headers)).json()
    history = [(c["purpose"], c["granted"], c["text_version"]) for c in consents["history"]]
    assert history == [
        ("care", True, "2026-1"),
        ("reporting", False, "2026-1"),
        ("reporting", True, "2026-2"),
        ("share-school", True, "2026-2"),
        ("reporting", True, "2026-3"),
        ("share-school", False, "2026-2"),
    ]
    assert [c["recorded_by"] for c in consents["history"][2:]] == [
        trusted.user_id,
        coordinator.user_id,
        trusted.user_id,
        trusted.user_id,
    ]
    times = [datetime.fromisoformat(c["recorded_at"]) for c in consents["history"]]
    assert times == sorted(times)
    current = {c["purpose"]: (c["granted"], c["text_version"]) for c in consents["current"]}
    assert current == {
        "care": (True, "2026-1"),
        "reporting": (True, "2026-3"),
        "share-school": (False, "2026-2"),
    }


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def schema() -> dict[str, Any]:
    """The committed JSON Schema of `intake.consent-changed.v1`."""
    text = (DEFAULT_DIR / filename(CONSENT_CHANGED)).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


async def test_recording_publishes_a_thin_schema_valid_consent_changed_event(
    client: httpx.AsyncClient, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    response = await record(client, me, family_id, consent("care", False, basis="written"))
    assert response.status_code == 201, response.text
    key = family_id.encode()

    records = await read_topic_until(
        kafka_bootstrap, CONSENT_CHANGED, lambda rs: any(r.key == key for r in rs), within=15
    )
    ours = [r for r in records if r.key == key]
    assert len(ours) == 1, "one record, one event (registration announces its own consents)"
    (message,) = ours
    headers = dict(message.headers)
    assert headers["ce_type"] == b"nl.alamal.intake.consent-changed.v1"
    assert headers["ce_source"] == b"/alamal/intake"

    data = json.loads(message.value)
    jsonschema.Draft202012Validator(schema()).validate(data)
    event = from_kafka(message.value, message.headers, expect=ConsentChanged).data
    assert event.family_id == family_id
    assert event.purpose.value == "care"
    assert event.granted is False
    assert event.consent_text_version == "2026-2"
    assert event.changed_at == datetime.fromisoformat(response.json()["recorded_at"])
    assert set(data) == {"family_id", "purpose", "granted", "changed_at", "consent_text_version"}

    text = message.value.decode() + "".join(v.decode() for v in headers.values())
    for name in PLANTED_NAMES:
        assert name not in text
    assert me.user_id not in text  # who recorded it stays in intake
    assert "written" not in text
    scrubbed = UUID.sub("<id>", text).replace(data["changed_at"], "<time>")
    scrubbed = scrubbed.replace(headers["ce_time"].decode(), "<time>")
    scrubbed = re.sub(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", "<trace>", scrubbed)
    for year in PLANTED_BIRTH_YEARS:
        assert str(year) not in scrubbed


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        pytest.param(consent("marketing"), ["purpose"], id="unknown-purpose"),
        pytest.param(consent(text_version="2026 2; drop"), ["text_version"], id="bad-text-version"),
        pytest.param(
            consent(text_version="-2026"), ["text_version"], id="text-version-leading-dash"
        ),
        pytest.param(consent(note="Fatima said no"), ["note"], id="unknown-field"),
        pytest.param(consent(basis="telepathy"), ["basis"], id="unknown-basis"),
        pytest.param({"purpose": "care", "granted": True}, ["text_version"], id="no-text-version"),
        pytest.param({**consent(), "granted": "perhaps"}, ["granted"], id="granted-not-a-bool"),
    ],
)
async def test_invalid_consent_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, caller: MakeCaller, body: dict[str, Any], fields: list[str]
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    response = await record(client, me, family_id, body)
    assert response.status_code == 422
    assert response.json()["fields"] == fields
    assert "Fatima" not in response.text
    history = (await client.get(f"/families/{family_id}/consents", headers=me.headers)).json()
    assert len(history["history"]) == 2  # nothing recorded


OUTSIDERS = [
    pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, id="another-trusted-person"),
    pytest.param(Role.COORDINATOR, {"zuid", "west"}, id="coordinator-of-another-wijk"),
    pytest.param(Role.ADMIN, set(), id="admin"),
    pytest.param(Role.OPERATOR, set(), id="operator"),
    pytest.param(Role.FUNDER, {"overvecht"}, id="funder"),
]


@pytest.mark.parametrize(("role", "wijken"), OUTSIDERS)
async def test_out_of_scope_consent_access_looks_exactly_like_a_missing_family(
    client: httpx.AsyncClient, caller: MakeCaller, role: Role, wijken: set[str]
) -> None:
    owner = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, owner)
    outsider = caller(role, wijken=wijken)
    missing_id = str(uuid.uuid4())
    for hidden, missing in [
        (
            await record(client, outsider, family_id, consent()),
            await record(client, outsider, missing_id, consent()),
        ),
        (
            await client.get(f"/families/{family_id}/consents", headers=outsider.headers),
            await client.get(f"/families/{missing_id}/consents", headers=outsider.headers),
        ),
    ]:
        assert hidden.status_code == missing.status_code == 404
        assert hidden.content == missing.content
        assert hidden.json() == {"detail": "family not found"}
    consents = (await client.get(f"/families/{family_id}/consents", headers=owner.headers)).json()
    assert len(consents["history"]) == 2  # the outsider recorded nothing


async def test_a_lost_race_is_retried_once(
    client: httpx.AsyncClient, caller: MakeCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)
    real = replace_family
    calls = 0

    async def stale_once(*args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise StaleWriteError(family_id)
        await real(*args, **kwargs)

    monkeypatch.setattr(consent_api, "replace_family", stale_once)
    response = await record(client, me, family_id, consent())
    assert response.status_code == 201, response.text
    assert calls == 2
    consents = (await client.get(f"/families/{family_id}/consents", headers=me.headers)).json()
    assert len(consents["history"]) == 3  # recorded once, not twice


async def test_a_race_lost_twice_is_409_and_records_nothing(
    client: httpx.AsyncClient, caller: MakeCaller, monkeypatch: pytest.MonkeyPatch
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    family_id = await registered(client, me)

    async def always_stale(*_: Any, **__: Any) -> None:
        raise StaleWriteError(family_id)

    monkeypatch.setattr(consent_api, "replace_family", always_stale)
    response = await record(client, me, family_id, consent())
    assert response.status_code == 409
    assert "detail" in response.json()
    monkeypatch.undo()
    consents = (await client.get(f"/families/{family_id}/consents", headers=me.headers)).json()
    assert len(consents["history"]) == 2
