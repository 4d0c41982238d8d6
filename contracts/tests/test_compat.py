"""`incompatible_changes` must fail on purpose: each breaking change below is detected."""

from enum import StrEnum
from typing import Any

import pytest
from pydantic import BaseModel, Field

from alamal_contracts.compat import incompatible_changes
from alamal_contracts.events import EVENT_MODELS
from alamal_contracts.schemas import event_schema


class Kind1(StrEnum):
    PHONE = "phone"
    OFFICE = "office"


class Kind2(StrEnum):  # one value removed
    PHONE = "phone"


class Kind3(StrEnum):  # one value added
    PHONE = "phone"
    OFFICE = "office"
    GROUP = "group"


class Count1(BaseModel):
    role: str = Field(pattern="^[a-z]+$")
    count: int


class Count2(BaseModel):  # `count` removed from the nested model
    role: str = Field(pattern="^[a-z]+$")


class Base(BaseModel):
    visit_id: str = Field(pattern="^[a-z]+$")
    minutes: int = Field(ge=1, le=600)
    kind: Kind1
    counts: list[Count1] = []
    outcome: str | None = Field(default=None, pattern="^[a-z]+$")


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


BASE = _schema(Base)


def test_identical_schemas_are_compatible() -> None:
    assert incompatible_changes(BASE, _schema(Base)) == []


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_event_schema_is_compatible_with_itself(model: type[BaseModel]) -> None:
    schema = event_schema(model)  # type: ignore[arg-type]
    assert incompatible_changes(schema, schema) == []


def test_removing_a_field_is_detected() -> None:
    class Removed(BaseModel):
        visit_id: str = Field(pattern="^[a-z]+$")
        kind: Kind1
        counts: list[Count1] = []
        outcome: str | None = Field(default=None, pattern="^[a-z]+$")

    assert incompatible_changes(BASE, _schema(Removed)) == ["$.minutes: property removed"]


def test_retyping_a_field_is_detected() -> None:
    class Retyped(Base):
        minutes: str = Field(pattern="^[0-9]+$")  # type: ignore[assignment]

    changes = incompatible_changes(BASE, _schema(Retyped))
    assert changes == ["$.minutes: type changed from integer to string"]


def test_making_an_optional_field_required_is_detected() -> None:
    class Required(Base):
        counts: list[Count1]

    assert incompatible_changes(BASE, _schema(Required)) == [
        "$.counts: optional property made required"
    ]


def test_making_a_nullable_field_non_nullable_is_detected() -> None:
    class NotNull(Base):
        outcome: str = Field(default="none", pattern="^[a-z]+$")

    assert incompatible_changes(BASE, _schema(NotNull)) == ["$.outcome: no longer accepts null"]


def test_removing_an_enum_value_is_detected_through_ref() -> None:
    class Narrowed(Base):
        kind: Kind2  # type: ignore[assignment]

    assert incompatible_changes(BASE, _schema(Narrowed)) == [
        "$.kind: enum values removed: 'office'"
    ]


def test_removing_a_field_of_a_nested_model_in_a_list_is_detected() -> None:
    class Nested(Base):
        counts: list[Count2] = []  # type: ignore[assignment]

    assert incompatible_changes(BASE, _schema(Nested)) == ["$.counts[].count: property removed"]


def test_adding_a_required_field_is_detected() -> None:
    class Added(Base):
        wijk: str = Field(pattern="^[a-z]+$")

    assert incompatible_changes(BASE, _schema(Added)) == ["$.wijk: required property added"]


def test_adding_an_optional_field_is_compatible() -> None:
    class Added(Base):
        wijk: str | None = Field(default=None, pattern="^[a-z]+$")
        topics: list[Kind1] = []

    assert incompatible_changes(BASE, _schema(Added)) == []


def test_adding_an_enum_value_is_compatible() -> None:
    class Widened(Base):
        kind: Kind3  # type: ignore[assignment]

    assert incompatible_changes(BASE, _schema(Widened)) == []


def test_relaxing_is_compatible_and_tightening_is_not() -> None:
    class Relaxed(Base):
        minutes: int | None = Field(default=None, ge=0, le=720)  # type: ignore[assignment]

    class Tightened(Base):
        minutes: int = Field(ge=5, le=300)

    assert incompatible_changes(BASE, _schema(Relaxed)) == []
    assert incompatible_changes(BASE, _schema(Tightened)) == [
        "$.minutes: minimum raised from 1 to 5",
        "$.minutes: maximum lowered from 600 to 300",
    ]


def test_changing_format_or_pattern_is_detected() -> None:
    old = {"type": "object", "properties": {"at": {"type": "string", "format": "date-time"}}}
    new_format = {"type": "object", "properties": {"at": {"type": "string", "format": "date"}}}
    new_pattern = {
        "type": "object",
        "properties": {"at": {"type": "string", "format": "date-time", "pattern": "^2"}},
    }
    assert incompatible_changes(old, new_format) == ["$.at: format changed from date-time to date"]
    assert incompatible_changes(old, new_pattern) == ["$.at: pattern changed from None to ^2"]


def test_integer_widens_to_number_but_not_back() -> None:
    integer = {"type": "object", "properties": {"n": {"type": "integer"}}}
    number = {"type": "object", "properties": {"n": {"type": "number"}}}
    assert incompatible_changes(integer, number) == []
    assert incompatible_changes(number, integer) == ["$.n: type changed from number to integer"]


def test_forbidding_additional_properties_is_detected() -> None:
    open_ = {"type": "object", "properties": {"a": {"type": "string"}}}
    closed = {**open_, "additionalProperties": False}
    assert incompatible_changes(open_, closed) == ["$: additional properties no longer allowed"]
    assert incompatible_changes(closed, open_) == []


def test_unresolvable_ref_is_reported_not_ignored() -> None:
    old = {"type": "object", "properties": {"a": {"type": "string"}}}
    new = {"type": "object", "properties": {"a": {"$ref": "#/$defs/Missing"}}}
    assert incompatible_changes(old, new) == ["$.a: cannot resolve $ref #/$defs/Missing"]


def test_recursive_schemas_terminate() -> None:
    class Node(BaseModel):
        label: str = Field(pattern="^[a-z]+$")
        children: list["Node"] = []

    class Node2(BaseModel):
        children: list["Node2"] = []

    schema = _schema(Node)
    assert incompatible_changes(schema, schema) == []
    assert incompatible_changes(schema, _schema(Node2)) == ["$.label: property removed"]


def test_all_of_wrappers_are_merged() -> None:
    old = {
        "$defs": {"K": {"enum": ["a", "b"], "type": "string"}},
        "properties": {"k": {"allOf": [{"$ref": "#/$defs/K"}]}},
        "type": "object",
    }
    new = {
        "$defs": {"K": {"enum": ["a"], "type": "string"}},
        "properties": {"k": {"$ref": "#/$defs/K"}},
        "type": "object",
    }
    assert incompatible_changes(old, new) == ["$.k: enum values removed: 'b'"]
