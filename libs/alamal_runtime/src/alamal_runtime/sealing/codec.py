"""Sealing and opening one document's declared fields (used by the store and the migration)."""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alamal_runtime.crypto import DecryptError, open_bytes, seal_bytes
from alamal_runtime.sealing.schema import (
    SEALED_PREFIX,
    FamilyField,
    FamilyIsId,
    SealedCollection,
    SealError,
)
from alamal_runtime.store import Doc, Record, UnitOfWork

if TYPE_CHECKING:
    from alamal_runtime.sealing.store import SealedStore

type Created = dict[str, AESGCM]
"""Data keys created by a unit of work that has not committed yet."""


def is_sealed(value: object) -> bool:
    """Whether a stored value is a sealed value (not plaintext)."""
    return isinstance(value, str) and value.startswith(SEALED_PREFIX)


def _aad(store: SealedStore, collection: str, doc_id: str, field: str) -> bytes:
    return f"alamal-sealed\x00{store.service}\x00{collection}\x00{doc_id}\x00{field}".encode()


async def family_of(
    spec: SealedCollection, collection: str, doc_id: str, data: Doc, reader: Any
) -> str:
    """The family whose key seals this document; SealError if the document names none."""
    family = spec.family
    if isinstance(family, FamilyIsId):
        found: object = doc_id
    elif isinstance(family, FamilyField):
        found = data.get(family.name)
    else:
        owner = await reader.get(family.collection, doc_id)
        found = None if owner is None else owner.data.get(family.name)
    if not isinstance(found, str) or not found:
        raise SealError(f"{collection}/{doc_id}: no family id to seal its personal fields with")
    return found


async def seal_doc(
    store: SealedStore,
    uow: UnitOfWork,
    collection: str,
    doc_id: str,
    data: Doc,
    created: Created,
) -> Doc:
    spec = store.schema.get(collection)
    if spec is None:
        return data
    family_id = await family_of(spec, collection, doc_id, data, uow)
    key = await store.vault.family_key(uow, family_id, create_in=uow, created=created)
    out = dict(data)
    for field in spec.fields:
        if field in out:
            plain = json.dumps(out[field], ensure_ascii=False, separators=(",", ":"))
            blob = seal_bytes(key, plain.encode("utf-8"), _aad(store, collection, doc_id, field))
            out[field] = SEALED_PREFIX + base64.urlsafe_b64encode(blob).decode("ascii")
    if spec.index is not None:
        out[spec.index.field] = store.index.tokens(spec.index.texts(data))
    return out


def open_value(
    store: SealedStore, key: AESGCM, collection: str, doc_id: str, field: str, value: object
) -> Any:
    """The plaintext of one sealed value; SealError for plaintext or a value that does not open."""
    if not isinstance(value, str) or not value.startswith(SEALED_PREFIX):
        raise SealError(f"{collection}/{doc_id}: field {field!r} holds no sealed value")
    try:
        blob = base64.urlsafe_b64decode(value.removeprefix(SEALED_PREFIX))
        plain = open_bytes(key, blob, _aad(store, collection, doc_id, field))
    except (binascii.Error, ValueError, DecryptError):
        raise SealError(
            f"{collection}/{doc_id}: field {field!r} does not open (tampered or moved)"
        ) from None
    return json.loads(plain)


async def unseal_record(
    store: SealedStore,
    reader: Any,
    collection: str,
    record: Record,
    created: Created | None,
) -> Record:
    spec = store.schema.get(collection)
    if spec is None:
        return record
    present = [f for f in spec.fields if f in record.data]
    if not present:
        return record
    family_id = await family_of(spec, collection, record.id, record.data, reader)
    key = await store.vault.family_key(reader, family_id, created=created)
    out = dict(record.data)
    for field in present:
        out[field] = open_value(store, key, collection, record.id, field, out[field])
    return Record(record.id, record.version, out)
