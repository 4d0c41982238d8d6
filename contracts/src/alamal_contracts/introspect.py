"""Walk pydantic models: the models nested in a model and every field with its dotted path."""

from collections.abc import Iterator
from typing import Any, TypeAliasType, get_args

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def models_in(annotation: Any) -> list[type[BaseModel]]:
    """Return the pydantic models named anywhere inside a type annotation."""
    if isinstance(annotation, TypeAliasType):
        return models_in(annotation.__value__)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found.extend(m for m in models_in(arg) if m not in found)
    return found


def nested_models(model: type[BaseModel]) -> list[type[BaseModel]]:
    """Return the model and every model reachable through its fields, each once."""
    seen: list[type[BaseModel]] = [model]
    for current in seen:  # grows while iterating: a breadth-first walk
        for info in current.model_fields.values():
            seen.extend(m for m in models_in(info.annotation) if m not in seen)
    return seen


def walk_fields(model: type[BaseModel]) -> Iterator[tuple[str, FieldInfo]]:
    """Yield every field of the model and its nested models as (`Model.field.sub`, info)."""
    yield from _walk(model, model.__name__, frozenset({model}))


def _walk(
    model: type[BaseModel], prefix: str, stack: frozenset[type[BaseModel]]
) -> Iterator[tuple[str, FieldInfo]]:
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}"
        yield path, info
        for inner in models_in(info.annotation):
            if inner not in stack:  # a recursive model is walked once per branch
                yield from _walk(inner, path, stack | {inner})
