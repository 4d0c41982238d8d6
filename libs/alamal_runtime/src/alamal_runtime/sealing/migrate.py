"""Seal what was stored before its fields were declared personal (once per declaration).

A store written before encryption existed, or before a collection's field was declared
sealed, holds plaintext there. At start-up each collection whose declaration changed since
the last run is read once and every document still holding plaintext is rewritten sealed.
The declaration sealed so far is remembered in `sealing_state/schema`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alamal_runtime.sealing.codec import family_of, is_sealed, open_value, seal_doc
from alamal_runtime.sealing.schema import SealedCollection
from alamal_runtime.store import Doc, Record, UnitOfWork

if TYPE_CHECKING:
    from alamal_runtime.sealing.store import SealedStore

STATE = "sealing_state"
SCHEMA_DOC = "schema"
BATCH = 200
_EVERYTHING = 10**9

log = structlog.get_logger(__name__)


def _declared(spec: SealedCollection) -> list[str]:
    index = [] if spec.index is None else [f"index:{spec.index.field}"]
    return sorted(spec.fields) + index


def _needs_sealing(spec: SealedCollection, record: Record) -> bool:
    data = record.data
    plain = any(f in data and not is_sealed(data[f]) for f in spec.fields)
    return plain or (spec.index is not None and spec.index.field not in data)


async def _plain_doc(
    store: SealedStore, uow: UnitOfWork, collection: str, spec: SealedCollection, record: Record
) -> Doc:
    data = dict(record.data)
    sealed = [f for f in spec.fields if f in data and is_sealed(data[f])]
    if sealed:
        family_id = await family_of(spec, collection, record.id, data, uow)
        key = await store.vault.family_key(uow, family_id)
        for field in sealed:
            data[field] = open_value(store, key, collection, record.id, field, data[field])
    return data


async def seal_existing(store: SealedStore) -> dict[str, int]:
    """Seal plaintext left in declared fields; return how many documents per collection."""
    inner = store.inner
    state = await inner.get(STATE, SCHEMA_DOC)
    done: dict[str, list[str]] = {} if state is None else dict(state.data["sealed"])
    sealed_now: dict[str, int] = {}
    for collection, spec in store.schema.items():
        if done.get(collection) == _declared(spec):
            continue
        records = await inner.find(collection, None, limit=_EVERYTHING)
        todo = [r for r in records if _needs_sealing(spec, r)]
        for start in range(0, len(todo), BATCH):
            created: dict[str, AESGCM] = {}
            async with inner.transaction() as uow:
                for record in todo[start : start + BATCH]:
                    plain = await _plain_doc(store, uow, collection, spec, record)
                    sealed = await seal_doc(store, uow, collection, record.id, plain, created)
                    await uow.replace(
                        collection, record.id, sealed, expected_version=record.version
                    )
            store.vault.remember(created)
        sealed_now[collection] = len(todo)
        done[collection] = _declared(spec)
        if todo:
            log.info("sealed_existing_documents", collection=collection, count=len(todo))
    if sealed_now:
        async with inner.transaction() as uow:
            current = await uow.get(STATE, SCHEMA_DOC)
            data = {"sealed": done}
            if current is None:
                await uow.insert(STATE, SCHEMA_DOC, data)
            else:
                await uow.replace(STATE, SCHEMA_DOC, data, expected_version=current.version)
    return sealed_now
