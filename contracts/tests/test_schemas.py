"""The committed JSON Schemas are current, compatible, and describe what producers emit."""

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_contracts.events import EVENTS, Event, OperationalEvent
from alamal_contracts.schemas import (
    DEFAULT_DIR,
    check_files,
    current_files,
    event_schema,
    filename,
    main,
    read_dir,
    render,
)

from .conftest import make_events

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
COMMITTED = read_dir(SCHEMA_DIR)
CURRENT = current_files()


def test_default_dir_is_the_committed_schema_folder() -> None:
    assert DEFAULT_DIR == SCHEMA_DIR


@pytest.mark.parametrize("topic", sorted(EVENTS))
def test_committed_schema_equals_the_generated_one(topic: str) -> None:
    name = filename(topic)
    assert name in COMMITTED, f"{name} missing: run python -m alamal_contracts.schemas export"
    assert COMMITTED[name] == CURRENT[name], f"{name} stale: run the export"


def test_no_committed_schema_lacks_a_model() -> None:
    assert set(COMMITTED) == set(CURRENT)


def test_current_models_are_compatible_with_committed_schemas() -> None:
    assert check_files(COMMITTED, CURRENT) == []


def test_cli_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--dir", str(SCHEMA_DIR)]) == 0
    assert f"{len(EVENTS)} event schemas are current and compatible" in capsys.readouterr().out


def test_rendering_is_pretty_sorted_and_ends_with_a_newline() -> None:
    text = CURRENT[filename("cases.case-opened.v1")]
    assert text.endswith("}\n")
    assert text.startswith('{\n  "$defs": {\n    "')
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert text == render(json.loads(text))


def test_schema_is_tagged_with_topic_and_type(event: Event) -> None:
    schema = event_schema(type(event))
    assert schema["x-topic"] == type(event).TOPIC
    assert schema["x-cloudevents-type"] == type(event).CE_TYPE
    assert schema["additionalProperties"] is False
    key_field = type(event).KEY_FIELD if isinstance(event, OperationalEvent) else "family_id"
    assert key_field in schema["required"]


def test_every_schema_property_is_described(event: Event) -> None:
    schema = event_schema(type(event))
    objects = [schema, *(d for d in schema.get("$defs", {}).values() if "properties" in d)]
    for obj in objects:
        for name, prop in obj["properties"].items():
            assert prop.get("description"), f"{obj['title']}.{name}"


def test_emitted_events_validate_against_committed_schemas(event: Event) -> None:
    schema = json.loads(COMMITTED[filename(type(event).TOPIC)])
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    validator.validate(json.loads(event.model_dump_json()))
    bad = {**json.loads(event.model_dump_json()), "mother_name": "x"}
    assert not validator.is_valid(bad)
    assert not validator.is_valid({**bad, "family_id": "F"})


def _mutated(name: str, change: Any) -> dict[str, str]:
    schema = json.loads(CURRENT[name])
    change(schema)
    return {**CURRENT, name: render(schema)}


def test_check_reports_missing_stale_orphan_and_incompatible_files() -> None:
    name = filename("cases.visit-logged.v1")
    missing = {k: v for k, v in CURRENT.items() if k != name}
    assert check_files(missing, CURRENT) == [f"{name}: missing; run export"]

    stale = _mutated(name, lambda s: s.update(description="An older wording."))
    assert check_files(stale, CURRENT) == [f"{name}: stale; run export"]
    assert check_files(stale, CURRENT, compat_only=True) == []

    orphan = {**CURRENT, "cases.visit-cancelled.v1.json": "{}"}
    (problem,) = check_files(orphan, CURRENT)
    assert problem.startswith("cases.visit-cancelled.v1.json: committed schema has no event model")

    # A committed schema with a property the model no longer has: the model dropped a field.
    def add_property(schema: dict[str, Any]) -> None:
        schema["properties"]["location"] = {"type": "string", "pattern": "^[a-z]+$"}

    assert check_files(_mutated(name, add_property), CURRENT) == [
        f"{name}: $.location: property removed"
    ]
    assert check_files({**CURRENT, name: "{"}, CURRENT) == [
        f"{name}: committed file is not valid JSON"
    ]


def test_samples_cover_every_event() -> None:
    assert {type(e) for e in make_events()} == set(EVENTS.values())
