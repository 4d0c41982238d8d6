"""A strict loader for the plain YAML subset `docker-compose.yml` is written in.

No YAML library is part of the workspace, so the compose file keeps to: block mappings, block
lists, one-line flow lists (`[a, "b"]`), plain, single- and double-quoted scalars, and `#`
comments. Anything else (anchors, tags, flow mappings, multi-line strings, tabs) is refused
with the line number rather than misread.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

type Node = dict[str, Node] | list[Node] | str | int | float | bool | None

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?[0-9]*\.[0-9]+")
_UNSUPPORTED_START = ("&", "*", "!", "|", ">", "{", "%", "@", "`")


class YamlSubsetError(ValueError):
    """The text is outside the supported subset, or malformed."""


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    indent: int
    text: str


def load(text: str) -> Node:
    """Parse `text` into dicts, lists and scalars, as a YAML loader would."""
    lines = _lines(text)
    if not lines:
        return None
    node, end = _block(lines, 0, lines[0].indent)
    if end != len(lines):
        raise YamlSubsetError(f"line {lines[end].number}: unexpected indentation")
    return node


def _lines(text: str) -> list[_Line]:
    out: list[_Line] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlSubsetError(f"line {number}: tab in indentation")
        stripped = _strip_comment(raw, number).rstrip()
        if not stripped.strip() or stripped.strip() in ("---", "..."):
            continue
        out.append(_Line(number, len(stripped) - len(stripped.lstrip(" ")), stripped.strip()))
    return out


def _strip_comment(raw: str, number: int) -> str:
    quote: str | None = None
    for index, char in enumerate(raw):
        if quote is None and char in "\"'":
            quote = char
        elif quote is not None and char == quote:
            quote = None
        elif quote is None and char == "#" and (index == 0 or raw[index - 1] in " \t"):
            return raw[:index]
    if quote is not None:
        raise YamlSubsetError(f"line {number}: unterminated quote")
    return raw


def _block(lines: list[_Line], start: int, indent: int) -> tuple[Node, int]:
    if lines[start].text.startswith("- ") or lines[start].text == "-":
        return _sequence(lines, start, indent)
    return _mapping(lines, start, indent)


def _sequence(lines: list[_Line], start: int, indent: int) -> tuple[Node, int]:
    items: list[Node] = []
    index = start
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        if not line.text.startswith("- "):
            raise YamlSubsetError(f"line {line.number}: expected a list item")
        rest = line.text[2:].strip()
        if _split_key(rest, line.number) is not None:
            raise YamlSubsetError(f"line {line.number}: mappings inside lists are not supported")
        items.append(_scalar(rest, line.number))
        index += 1
    return items, index


def _mapping(lines: list[_Line], start: int, indent: int) -> tuple[Node, int]:
    mapping: dict[str, Node] = {}
    index = start
    while index < len(lines) and lines[index].indent == indent:
        line = lines[index]
        split = _split_key(line.text, line.number)
        if split is None:
            raise YamlSubsetError(f"line {line.number}: expected 'key: value'")
        key, rest = split
        if key in mapping:
            raise YamlSubsetError(f"line {line.number}: duplicate key {key!r}")
        index += 1
        if rest:
            mapping[key] = _scalar(rest, line.number)
        elif index < len(lines) and lines[index].indent > indent:
            mapping[key], index = _block(lines, index, lines[index].indent)
        else:
            mapping[key] = None
    if index < len(lines) and lines[index].indent > indent:
        raise YamlSubsetError(f"line {lines[index].number}: unexpected indentation")
    return mapping, index


def _split_key(text: str, number: int) -> tuple[str, str] | None:
    if text[:1] in "\"'":
        end = text.find(text[0], 1)
        if end < 0 or text[end + 1 : end + 2] != ":":
            return None
        return text[1:end], text[end + 2 :].strip()
    match = re.match(r"([A-Za-z0-9_.\-/]+):(?:\s+|$)(.*)$", text)
    if match is None:
        return None
    if text[:1] in _UNSUPPORTED_START:
        raise YamlSubsetError(f"line {number}: unsupported syntax")
    return match.group(1), match.group(2).strip()


def _scalar(text: str, number: int) -> Node:
    if text.startswith("["):
        return _flow_list(text, number)
    if text.startswith('"'):
        if not text.endswith('"') or len(text) < 2:
            raise YamlSubsetError(f"line {number}: bad double-quoted string")
        value: str = json.loads(text)
        return value
    if text.startswith("'"):
        if not text.endswith("'") or len(text) < 2:
            raise YamlSubsetError(f"line {number}: bad single-quoted string")
        return text[1:-1].replace("''", "'")
    if text.startswith(_UNSUPPORTED_START) or text.startswith("- "):
        raise YamlSubsetError(f"line {number}: unsupported syntax {text[:1]!r}")
    return _plain(text)


def _plain(text: str) -> Node:
    if text in ("null", "~", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.fullmatch(text):
        return int(text)
    if _FLOAT.fullmatch(text):
        return float(text)
    return text


def _flow_list(text: str, number: int) -> list[Node]:
    if not text.endswith("]"):
        raise YamlSubsetError(f"line {number}: a flow list must end on its line")
    inner = text[1:-1].strip()
    items: list[Node] = []
    current = ""
    quote: str | None = None
    for char in inner:
        if quote is None and char in "\"'":
            quote = char
        elif quote is not None and char == quote:
            quote = None
        elif quote is None and char in "[]{}":
            raise YamlSubsetError(f"line {number}: nested flow collections are not supported")
        if quote is None and char == ",":
            items.append(_scalar(current.strip(), number))
            current = ""
            continue
        current += char
    if current.strip():
        items.append(_scalar(current.strip(), number))
    return items
