"""JSON Schema files of the events, one per topic, and the CLI that exports and checks them.

    python -m alamal_contracts.schemas export [--dir DIR] [--allow-incompatible]
    python -m alamal_contracts.schemas check [--dir DIR] [--compat-only]

`check` exits 1 when a committed file is missing, stale, orphaned or incompatible with the
current model. `--compat-only` skips the staleness test, e.g. to compare against the schemas
of the base branch in CI. Only `main` touches the file system.
"""

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from alamal_contracts.compat import incompatible_changes
from alamal_contracts.events import EVENTS, EventBase

DEFAULT_DIR: Final = Path(__file__).resolve().parents[2] / "schemas"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"


def event_schema(model: type[EventBase]) -> dict[str, Any]:
    """Return the JSON Schema of an event's data, tagged with its topic and CloudEvents type."""
    schema = model.model_json_schema()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["x-topic"] = model.TOPIC
    schema["x-cloudevents-type"] = model.CE_TYPE
    return schema


def render(schema: Mapping[str, Any]) -> str:
    """Render a schema as committed: indented, keys sorted, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def filename(topic: str) -> str:
    """Return the schema file name of a topic."""
    return f"{topic}.json"


def current_files() -> dict[str, str]:
    """Return the schema file contents the current models produce, by file name."""
    return {filename(topic): render(event_schema(model)) for topic, model in EVENTS.items()}


def check_files(
    committed: Mapping[str, str], current: Mapping[str, str], *, compat_only: bool = False
) -> list[str]:
    """Compare committed schema files with current ones; return one line per problem."""
    problems: list[str] = []
    for name in sorted(committed.keys() - current.keys()):
        problems.append(f"{name}: committed schema has no event model (removing one is breaking)")
    for name, text in sorted(current.items()):
        if name not in committed:
            if not compat_only:
                problems.append(f"{name}: missing; run export")
            continue
        try:
            old = json.loads(committed[name])
        except json.JSONDecodeError:
            problems.append(f"{name}: committed file is not valid JSON")
            continue
        changes = incompatible_changes(old, json.loads(text))
        problems += [f"{name}: {change}" for change in changes]
        if not changes and not compat_only and committed[name] != text:
            problems.append(f"{name}: stale; run export")
    return problems


def read_dir(directory: Path) -> dict[str, str]:
    """Read the committed schema files of a directory, by file name."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(directory.glob("*.json"))}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `export` or `check` command; return the exit status."""
    args = _parser().parse_args(argv)
    directory: Path = args.dir
    current = current_files()
    committed = read_dir(directory) if directory.is_dir() else {}
    if args.command == "check":
        problems = check_files(committed, current, compat_only=args.compat_only)
        _report(problems, ok=f"{len(current)} event schemas are current and compatible\n")
        return 1 if problems else 0
    breaking = check_files(committed, current, compat_only=True)
    if breaking and not args.allow_incompatible:
        _report(breaking, ok="")
        sys.stderr.write("refusing to export incompatible schemas: add a new event version\n")
        return 1
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in current.items():
        (directory / name).write_text(text, encoding="utf-8", newline="\n")
    sys.stdout.write(f"wrote {len(current)} event schemas to {directory}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alamal_contracts.schemas")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write one JSON Schema file per event topic")
    export.add_argument("--allow-incompatible", action="store_true")
    check = commands.add_parser("check", help="fail if committed schemas are stale or broken")
    check.add_argument("--compat-only", action="store_true")
    for command in (export, check):
        command.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    return parser


def _report(problems: list[str], *, ok: str) -> None:
    if problems:
        sys.stderr.write("".join(f"{p}\n" for p in problems))
    else:
        sys.stdout.write(ok)


if __name__ == "__main__":
    raise SystemExit(main())
