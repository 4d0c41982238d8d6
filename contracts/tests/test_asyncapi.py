"""The AsyncAPI 3.0 document of the events: generated from the contracts, committed, current.

Its validity against the AsyncAPI specification is checked in CI by the official parser
(`scripts/check-asyncapi.sh`, npm `@asyncapi/parser`); here: staleness and what it says.
"""

import json
from pathlib import Path

import pytest

from alamal_contracts import asyncapi
from alamal_contracts.events import EVENTS, OperationalEvent
from alamal_contracts.schemas import DEFAULT_DIR, filename, read_dir

COMMITTED = json.loads(asyncapi.DEFAULT_FILE.read_text(encoding="utf-8"))


def test_the_committed_document_is_what_the_contracts_generate() -> None:
    assert asyncapi.DEFAULT_FILE.read_text(encoding="utf-8") == asyncapi.current()
    assert asyncapi.main(["check"]) == 0


def test_a_stale_document_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "asyncapi.json"
    document = json.loads(asyncapi.current())
    del document["channels"]["cases.case-opened.v1"]
    stale.write_text(json.dumps(document), encoding="utf-8")
    assert asyncapi.main(["check", "--file", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert asyncapi.main(["export", "--file", str(stale)]) == 0
    assert asyncapi.main(["check", "--file", str(stale)]) == 0


def test_every_topic_is_a_channel_with_its_committed_schema_and_cloudevents_headers() -> None:
    assert COMMITTED["asyncapi"] == "3.0.0"
    assert set(COMMITTED["channels"]) == set(EVENTS)
    committed = read_dir(DEFAULT_DIR)
    shared = COMMITTED["components"]["schemas"]
    for topic, model in EVENTS.items():
        channel = COMMITTED["channels"][topic]
        assert channel["address"] == topic
        (ref,) = (m["$ref"] for m in channel["messages"].values())
        message = COMMITTED["components"]["messages"][ref.rsplit("/", 1)[1]]
        assert message["headers"] == {"$ref": "#/components/schemas/CloudEventsKafkaHeaders"}
        assert message["x-cloudevents-type"] == model.CE_TYPE
        payload = message["payload"]["schema"]
        schema = json.loads(committed[filename(topic)])
        assert set(payload["properties"]) == set(schema["properties"])
        assert payload["required"] == schema["required"]
        for name in schema.get("$defs", {}):
            assert any(key.endswith(name) for key in shared), name
        key = message["bindings"]["kafka"]["key"]
        expected = model.KEY_FIELD if issubclass(model, OperationalEvent) else "family_id"
        assert expected in key["description"]
    headers = shared["CloudEventsKafkaHeaders"]
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"} <= set(
        headers["required"]
    )
    assert "$defs" not in json.dumps(COMMITTED)  # every ref resolves inside the document
