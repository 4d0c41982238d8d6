"""The AsyncAPI 3.0 document of the platform's internal events, generated from `contracts/`.

    python -m alamal_contracts.asyncapi export [--file FILE]
    python -m alamal_contracts.asyncapi check [--file FILE]

Channels are the Kafka topics; each carries one message whose payload is the committed JSON
Schema of its event (`contracts/schemas/`, their `$defs` moved to `components/schemas`) and
whose headers are the CloudEvents 1.0 Kafka binding's `ce_*` headers. `check` exits 1 when the
committed document is not what the contracts generate now. Only `main` touches files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from alamal_contracts.events import EVENTS, EventBase, OperationalEvent
from alamal_contracts.schemas import DEFAULT_DIR, filename, read_dir, render
from alamal_contracts.topics import producer_of

DEFAULT_FILE: Final = DEFAULT_DIR.parent / "asyncapi.json"
ASYNCAPI_VERSION: Final = "3.0.0"
SCHEMA_FORMAT: Final = "application/schema+json;version=draft-07"
HEADERS: Final = "CloudEventsKafkaHeaders"


class StaleSchemasError(Exception):
    """The committed event schemas are missing or differ from what the models produce."""


def _headers() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "CloudEvents 1.0, Kafka protocol binding (binary mode), plus W3C trace "
        "context.",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type"],
        "properties": {
            "ce_specversion": {**text, "const": "1.0", "description": "CloudEvents version."},
            "ce_id": {
                **text,
                "format": "uuid",
                "description": "Event id; consumers de-duplicate on it.",
            },
            "ce_source": {**text, "description": "The producing service, e.g. `/alamal/cases`."},
            "ce_type": {**text, "description": "`nl.alamal.` + the topic."},
            "ce_time": {
                **text,
                "format": "date-time",
                "description": "When the event was emitted.",
            },
            "content-type": {**text, "const": "application/json", "description": "Of the value."},
            "traceparent": {**text, "description": "W3C trace context of the emitting request."},
            "tracestate": {**text, "description": "W3C trace state, when present."},
        },
    }


def _key(model: type[EventBase]) -> dict[str, Any]:
    if issubclass(model, OperationalEvent):
        what = f"the `{model.KEY_FIELD}` of the event"
    else:
        what = "the `family_id`: all events of one family stay in order"
    return {"type": "string", "format": "uuid", "description": f"The Kafka key: {what}."}


def _lift(schema: dict[str, Any], shared: dict[str, Any], owner: str) -> dict[str, Any]:
    """The schema with its `$defs` moved into `shared` (refs rewritten to point there)."""
    defs = schema.pop("$defs", {})
    renames: dict[str, str] = {}
    for name, definition in defs.items():
        target = name
        if name in shared and shared[name] != definition:
            target = f"{owner}{name}"
        renames[name] = target
    text = json.dumps(schema)
    for name, target in renames.items():
        text = text.replace(f'"#/$defs/{name}"', f'"#/components/schemas/{target}"')
    lifted: dict[str, Any] = json.loads(text)
    for name, definition in defs.items():
        body = json.dumps(definition)
        for other, target in renames.items():
            body = body.replace(f'"#/$defs/{other}"', f'"#/components/schemas/{target}"')
        shared[renames[name]] = json.loads(body)
    lifted.pop("$schema", None)
    return lifted


def document(committed: Mapping[str, str]) -> dict[str, Any]:
    """The AsyncAPI document for the committed schema files (one per topic)."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    shared: dict[str, Any] = {HEADERS: _headers()}
    for topic, model in sorted(EVENTS.items()):
        name = model.__name__
        schema = _lift(json.loads(committed[filename(topic)]), shared, name)
        messages[name] = {
            "name": name,
            "title": name,
            "summary": (model.__doc__ or name).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {"$ref": f"#/components/schemas/{HEADERS}"},
            "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": schema},
            "bindings": {"kafka": {"key": _key(model), "bindingVersion": "0.5.0"}},
            "x-cloudevents-type": model.CE_TYPE,
        }
        channels[topic] = {
            "address": topic,
            "title": topic,
            "description": f"Produced by the {producer_of(topic)} service.",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        operations[f"{producer_of(topic)}.send.{topic}"] = {
            "action": "send",
            "title": f"{producer_of(topic)} publishes {name}",
            "channel": {"$ref": f"#/channels/{_escape(topic)}"},
            "messages": [{"$ref": f"#/channels/{_escape(topic)}/messages/{name}"}],
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Al Amal platform events",
            "version": "1.0.0",
            "description": (
                "The thin events the services exchange over Kafka: ids, codes, counts, bands "
                "and dates, never personal data. Each topic is `<producer>.<event>.v<N>`; a "
                "change is additive, a breaking one is a new topic version. Generated from "
                "contracts/ (`python -m alamal_contracts.asyncapi export`)."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "kafka:9092",
                "protocol": "kafka",
                "description": "Apache Kafka (KRaft) in production; Tansu in the embedded stack.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": shared},
    }


def _escape(topic: str) -> str:
    # JSON pointer: `~` and `/` would need escaping; topics have neither, but say so here.
    return topic.replace("~", "~0").replace("/", "~1")


def current(directory: Path = DEFAULT_DIR) -> str:
    """The document as it should be committed now (StaleSchemasError if the schemas are)."""
    committed = read_dir(directory)
    from alamal_contracts.schemas import check_files, current_files

    if check_files(committed, current_files()):
        raise StaleSchemasError("event schemas are not current: run the schemas export first")
    return render(document(committed))


def main(argv: Sequence[str] | None = None) -> int:
    """Run `export` or `check`; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m alamal_contracts.asyncapi")
    parser.add_argument("command", choices=("export", "check"))
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    args = parser.parse_args(argv)
    try:
        text = current()
    except StaleSchemasError as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    path: Path = args.file
    if args.command == "export":
        path.write_text(text, encoding="utf-8", newline="\n")
        sys.stdout.write(f"wrote {path}\n")
        return 0
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        sys.stderr.write(f"{path} is stale: run `python -m alamal_contracts.asyncapi export`\n")
        return 1
    sys.stdout.write(f"{path.name} is current ({len(EVENTS)} channels)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
