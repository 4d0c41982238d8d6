"""What a service declares: which fields of which collection are personal, and whose they are."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from alamal_runtime.store import Doc, StoreError

SEALED_PREFIX = "sealed:1:"
"""Every sealed value is a string starting with this; anything else in a sealed field is refused."""


class SealError(StoreError):
    """A document cannot be sealed or opened (no family id, plaintext where a sealed value is)."""


class KeyDestroyedError(SealError):
    """The family's data key is gone (the family was erased): its sealed fields cannot be read."""


@dataclass(frozen=True, slots=True)
class FamilyIsId:
    """The document id is the family id (intake's `families`)."""


@dataclass(frozen=True, slots=True)
class FamilyField:
    """A plaintext top-level field of the document holds the family id."""

    name: str = "family_id"


@dataclass(frozen=True, slots=True)
class FamilyOfDocument:
    """The family id is a field of the document with the same id in another collection.

    For documents keyed by something else than the family (e.g. a case's strengths list, keyed
    by the case id, takes its family from the case).
    """

    collection: str
    name: str = "family_id"


type FamilyOf = FamilyIsId | FamilyField | FamilyOfDocument


@dataclass(frozen=True, slots=True)
class BlindIndexSpec:
    """A keyed blind index: `field` gets the HMAC tokens of the texts `texts(doc)` returns."""

    field: str
    texts: Callable[[Doc], Iterable[str]]


@dataclass(frozen=True, slots=True)
class SealedCollection:
    """The personal fields of one collection, sealed with the data key of the family named."""

    fields: tuple[str, ...]
    family: FamilyOf = field(default_factory=FamilyField)
    index: BlindIndexSpec | None = None


type SealSchema = Mapping[str, SealedCollection]


def check_schema(schema: SealSchema) -> None:
    """Refuse a schema that would seal the field that names the family, or the index field."""
    for collection, spec in schema.items():
        if not spec.fields:
            raise ValueError(f"{collection}: a sealed collection needs at least one field")
        family = spec.family
        if isinstance(family, FamilyField) and family.name in spec.fields:
            raise ValueError(f"{collection}: the family field {family.name!r} cannot be sealed")
        if spec.index is not None and spec.index.field in spec.fields:
            raise ValueError(f"{collection}: the index field {spec.index.field!r} is sealed")
        if isinstance(family, FamilyOfDocument) and family.collection == collection:
            raise ValueError(f"{collection}: a collection cannot take its family from itself")
