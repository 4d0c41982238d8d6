"""Compare two JSON Schemas of one event: can readers of the new schema still read old events?

Compatible: adding an optional property, adding an enum value or a type alternative, relaxing
a bound. Incompatible: removing a property, changing its type, format or pattern, removing an
enum value, making a property required (or adding a required one), tightening a bound.
Descriptions, titles and defaults are ignored. Local `$ref`s (`#/$defs/...`) are resolved.
"""

from collections.abc import Mapping
from typing import Any, Final

type Schema = Mapping[str, Any]
type Refs = frozenset[tuple[str | None, str | None]]

_LOWER_BOUNDS: Final = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_BOUNDS: Final = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_JSON_TYPES: Final = {bool: "boolean", int: "integer", float: "number", str: "string"}


def incompatible_changes(old_schema: Schema, new_schema: Schema) -> list[str]:
    """Return one line per change that makes `new_schema` unable to read `old_schema` data."""
    return _Diff(old_schema, new_schema).compare(old_schema, new_schema, "$", frozenset())


class _Diff:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.old_root = old_root
        self.new_root = new_root

    def compare(self, old: Schema, new: Schema, path: str, seen: Refs) -> list[str]:
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if (old_ref or new_ref) and (old_ref, new_ref) in seen:
            return []  # this pair of recursive definitions is already being compared
        seen = seen | {(old_ref, new_ref)}
        try:
            old_alts = _alternatives(self.old_root, _resolve(self.old_root, old))
            new_alts = _alternatives(self.new_root, _resolve(self.new_root, new))
        except LookupError as exc:
            return [f"{path}: cannot resolve $ref {exc}"]
        if len(old_alts) == 1 and len(new_alts) == 1:
            return self._single(old_alts[0], new_alts[0], path, seen)
        problems: list[str] = []
        for alt in old_alts:
            problems += self._best_match(alt, new_alts, path, seen)
        return problems

    def _best_match(self, old: Schema, news: list[Schema], path: str, seen: Refs) -> list[str]:
        candidates = [n for n in news if _covers(_types(n), _types(old))]
        if not candidates:
            return [f"{path}: no longer accepts {_describe(_types(old))}"]
        return min((self._single(old, n, path, seen) for n in candidates), key=len)

    def _single(self, old: Schema, new: Schema, path: str, seen: Refs) -> list[str]:
        old_types, new_types = _types(old), _types(new)
        if not _covers(new_types, old_types):
            return [f"{path}: type changed from {_describe(old_types)} to {_describe(new_types)}"]
        problems = _value_changes(old, new, path)
        problems += self._object_changes(old, new, path, seen)
        problems += self._array_changes(old, new, path, seen)
        return problems

    def _object_changes(self, old: Schema, new: Schema, path: str, seen: Refs) -> list[str]:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", ())), set(new.get("required", ()))
        problems: list[str] = []
        for name, sub in old_props.items():
            if name not in new_props:
                problems.append(f"{path}.{name}: property removed")
            else:
                problems += self.compare(sub, new_props[name], f"{path}.{name}", seen)
        for name in sorted(new_req - old_req):
            change = (
                "optional property made required"
                if name in old_props
                else "required property added"
            )
            problems.append(f"{path}.{name}: {change}")
        old_extra, new_extra = (
            old.get("additionalProperties", True),
            new.get("additionalProperties", True),
        )
        if new_extra is False and old_extra is not False:
            problems.append(f"{path}: additional properties no longer allowed")
        elif isinstance(new_extra, Mapping):
            old_sub = old_extra if isinstance(old_extra, Mapping) else {}
            if old_extra is not False:
                problems += self.compare(old_sub, new_extra, f"{path}{{}}", seen)
        return problems

    def _array_changes(self, old: Schema, new: Schema, path: str, seen: Refs) -> list[str]:
        problems: list[str] = []
        old_prefix, new_prefix = old.get("prefixItems", []), new.get("prefixItems", [])
        for index, sub in enumerate(old_prefix):
            target = new_prefix[index] if index < len(new_prefix) else new.get("items", {})
            problems += self.compare(sub, target, f"{path}[{index}]", seen)
        old_items, new_items = old.get("items"), new.get("items")
        if isinstance(new_items, Mapping):
            old_sub = old_items if isinstance(old_items, Mapping) else {}
            problems += self.compare(old_sub, new_items, f"{path}[]", seen)
        return problems


def _resolve(root: Schema, schema: Schema) -> Schema:
    """Follow `$ref`s to their target, keeping sibling keywords (the new ones win)."""
    hops = 0
    while isinstance(ref := schema.get("$ref"), str):
        if not ref.startswith("#") or (hops := hops + 1) > 32:
            raise LookupError(ref)
        target: Any = root
        for part in filter(None, ref[1:].split("/")):
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                raise LookupError(ref)
            target = target[key]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = _merge(merged, _resolve(root, part))
        return merged
    return schema


def _alternatives(root: Schema, schema: Schema) -> list[Schema]:
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [_resolve(root, s) for s in schema[key]]
    return [schema]


def _merge(left: Schema, right: Schema) -> dict[str, Any]:
    merged = {**left, **right}
    merged["properties"] = {**left.get("properties", {}), **right.get("properties", {})}
    merged["required"] = sorted({*left.get("required", ()), *right.get("required", ())})
    return {k: v for k, v in merged.items() if v or k not in ("properties", "required")}


def _types(schema: Schema) -> frozenset[str] | None:
    """Return the JSON types a schema accepts, or None if it accepts any type."""
    declared = schema.get("type")
    if isinstance(declared, str):
        return frozenset({declared})
    if isinstance(declared, list):
        return frozenset(declared)
    values = (
        schema["enum"] if "enum" in schema else [schema["const"]] if "const" in schema else None
    )
    if values is not None:
        return frozenset(
            _JSON_TYPES.get(type(v), "null" if v is None else "object") for v in values
        )
    if "properties" in schema:
        return frozenset({"object"})
    if "items" in schema or "prefixItems" in schema:
        return frozenset({"array"})
    return None


def _covers(wider: frozenset[str] | None, narrower: frozenset[str] | None) -> bool:
    if wider is None:
        return True
    if narrower is None:
        return False
    return all(t in wider or (t == "integer" and "number" in wider) for t in narrower)


def _describe(types: frozenset[str] | None) -> str:
    return "any type" if types is None else "/".join(sorted(types))


def _value_changes(old: Schema, new: Schema, path: str) -> list[str]:
    problems: list[str] = []
    if "enum" in new or "const" in new:
        old_values = old.get("enum", [old["const"]] if "const" in old else None)
        new_values = new.get("enum", [new.get("const")])
        if old_values is None:
            problems.append(f"{path}: now restricted to {_values(new_values)}")
        elif removed := [v for v in old_values if v not in new_values]:
            problems.append(f"{path}: enum values removed: {_values(removed)}")
    if "format" in new and new["format"] != old.get("format"):
        problems.append(f"{path}: format changed from {old.get('format')} to {new['format']}")
    if "pattern" in new and new["pattern"] != old.get("pattern"):
        problems.append(f"{path}: pattern changed from {old.get('pattern')} to {new['pattern']}")
    for key in _LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{path}: {key} raised from {old.get(key)} to {new[key]}")
    for key in _UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{path}: {key} lowered from {old.get(key)} to {new[key]}")
    if "multipleOf" in new and new["multipleOf"] != old.get("multipleOf"):
        problems.append(f"{path}: multipleOf changed to {new['multipleOf']}")
    if new.get("uniqueItems") and not old.get("uniqueItems"):
        problems.append(f"{path}: items must now be unique")
    return problems


def _values(values: list[Any]) -> str:
    return ", ".join(repr(v) for v in values)
