"""Data keys: one random AES-256 key per family, stored wrapped by the KEK in the service's store.

`data_keys/<family id>` holds the family's key wrapped under the keyring's primary KEK (with
that KEK's id, so an older KEK still opens it during a rotation); `service_keys/blind-index`
holds the index key the same way. The wrap is bound to the service, the purpose and the
family, so a wrapped key copied onto another family's document does not open. Destroying a
family's key (erasure) overwrites its document with a tombstone: every sealed value of that
family, in this store and in any copy of it, can no longer be read.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from alamal_runtime.crypto import (
    DecryptError,
    Keyring,
    KeyringError,
    WrappedKey,
    ensure_keyring_file,
    new_key,
    parse_keyring,
    read_keyring,
)
from alamal_runtime.sealing.schema import KeyDestroyedError
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.store import Doc, DuplicateError, Record, Store, UnitOfWork

DATA_KEYS = "data_keys"
SERVICE_KEYS = "service_keys"
INDEX_KEY = "blind-index"
DEV_KEYRING_FILE = "kek.keyring"
REWRAP_BATCH = 200


class _Reader(Protocol):
    async def get(self, collection: str, doc_id: str) -> Record | None: ...


def keyring_source(settings: ServiceSettings) -> str:
    """How the settings name the keyring, for messages (`INTAKE_KEK_FILE`, never the key)."""
    prefix = str(settings.model_config.get("env_prefix", ""))
    if settings.kek is not None:
        return f"{prefix}KEK"
    if settings.kek_file is not None:
        return f"{prefix}KEK_FILE ({settings.kek_file})"
    return f"the dev keyring in {prefix}DATA_DIR"


def keyring_from_settings(settings: ServiceSettings) -> Keyring:
    """The configured keyring; in dev/test without one, a generated one in DATA_DIR (0600).

    KeyringError with a message naming the setting when there is none: a service that seals
    personal data never starts without its key, and never falls back to plaintext.
    """
    prefix = str(settings.model_config.get("env_prefix", ""))
    source = keyring_source(settings)
    if settings.kek is not None:
        return parse_keyring(settings.kek.get_secret_value(), source=source)
    if settings.kek_file is not None:
        return read_keyring(settings.kek_file, source=source)
    if settings.profile == "prod":
        raise KeyringError(
            f"no key-encryption key: set {prefix}KEK_FILE (a file holding the key, mode 0600)"
            f" or {prefix}KEK; personal data is never stored unencrypted"
        )
    if settings.data_dir is None:
        raise KeyringError(
            f"no key-encryption key: set {prefix}KEK_FILE or {prefix}KEK, or {prefix}DATA_DIR"
            " for a generated development key"
        )
    return ensure_keyring_file(settings.data_dir / DEV_KEYRING_FILE)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _wrapped(record: Record) -> WrappedKey | None:
    data = record.data
    if data.get("destroyed_at") is not None:
        return None
    return WrappedKey(kek_id=data["kek_id"], blob=data["wrapped"])


def _wrapped_doc(wrapped: WrappedKey) -> Doc:
    return {"kek_id": wrapped.kek_id, "wrapped": wrapped.blob, "created_at": _now()}


class KeyVault:
    """The service's data keys and index key, unwrapped on demand and cached in memory."""

    def __init__(
        self,
        inner: Store,
        keyring: Keyring,
        *,
        service: str,
        source: str,
        cache_size: int = 8192,
        reload: Callable[[], Keyring] | None = None,
    ) -> None:
        self._inner = inner
        self._keyring = keyring
        self._reload = reload
        self._service = service
        self._source = source
        self._cache: OrderedDict[str, AESGCM] = OrderedDict()
        self._cache_size = cache_size
        self._index_key: bytes | None = None

    @property
    def keyring(self) -> Keyring:
        """The keyring in use."""
        return self._keyring

    def use_keyring(self, keyring: Keyring) -> None:
        """Switch to a reloaded keyring (rotation); cached data keys stay valid."""
        self._keyring = keyring

    @property
    def index_key(self) -> bytes:
        """The blind index key (after `open`)."""
        if self._index_key is None:
            raise RuntimeError("the key vault is not open")
        return self._index_key

    def _family_context(self, family_id: str) -> bytes:
        return f"alamal-data-key\x00{self._service}\x00{family_id}".encode()

    def _service_context(self, name: str) -> bytes:
        return f"alamal-service-key\x00{self._service}\x00{name}".encode()

    def _unwrap(self, wrapped: WrappedKey, context: bytes, what: str) -> bytes:
        if wrapped.kek_id not in self._keyring.ids and self._reload is not None:
            # Another instance may have rotated: its new KEK is in the keyring file by now.
            with contextlib.suppress(KeyringError):
                self._keyring = self._reload()
        try:
            return self._keyring.unwrap(wrapped, context=context)
        except KeyringError:
            raise KeyringError(
                f"{self._source} does not hold key-encryption key {wrapped.kek_id}, which this"
                f" store's {what} is wrapped under (the keyring holds"
                f" {', '.join(self._keyring.ids)}). Configure the right key; the service does"
                " not start without it"
            ) from None
        except DecryptError:
            raise KeyringError(
                f"this store's {what} does not open with key-encryption key {wrapped.kek_id}"
                f" from {self._source}: the key or the stored key is corrupted"
            ) from None

    async def open(self) -> None:
        """Load the index key, creating it on a fresh store; KeyringError on a wrong KEK."""
        context = self._service_context(INDEX_KEY)
        record = await self._inner.get(SERVICE_KEYS, INDEX_KEY)
        if record is None:
            key = new_key()
            try:
                async with self._inner.transaction() as uow:
                    wrapped = self._keyring.wrap(key, context=context)
                    await uow.insert(SERVICE_KEYS, INDEX_KEY, _wrapped_doc(wrapped))
            except DuplicateError:
                record = await self._inner.get(SERVICE_KEYS, INDEX_KEY)
        if record is not None:
            wrapped_index = _wrapped(record)
            if wrapped_index is None:
                raise KeyringError("this store's blind index key was destroyed")
            key = self._unwrap(wrapped_index, context, "blind index key")
        self._index_key = key
        await self._inner.ensure_index(DATA_KEYS, ["kek_id"])

    def _remember(self, family_id: str, key: AESGCM) -> AESGCM:
        self._cache[family_id] = key
        self._cache.move_to_end(family_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return key

    def remember(self, keys: dict[str, AESGCM]) -> None:
        """Cache keys created by a unit of work that has committed."""
        for family_id, key in keys.items():
            self._remember(family_id, key)

    def forget(self, family_id: str) -> None:
        """Drop a family's key from the cache (after destroying it)."""
        self._cache.pop(family_id, None)

    async def family_key(
        self,
        reader: _Reader,
        family_id: str,
        *,
        create_in: UnitOfWork | None = None,
        created: dict[str, AESGCM] | None = None,
    ) -> AESGCM:
        """The family's data key; created in `create_in` if it has none yet.

        KeyDestroyedError if the family's key was destroyed (erased), or if it has none and
        none may be created here.
        """
        if created is not None and family_id in created:
            return created[family_id]
        cached = self._cache.get(family_id)
        if cached is not None:
            self._cache.move_to_end(family_id)
            return cached
        record = await reader.get(DATA_KEYS, family_id)
        if record is not None:
            wrapped = _wrapped(record)
            if wrapped is None:
                raise KeyDestroyedError(f"the data key of family {family_id} was destroyed")
            raw = self._unwrap(wrapped, self._family_context(family_id), "data key")
            return self._remember(family_id, AESGCM(raw))
        if create_in is None or created is None:
            raise KeyDestroyedError(f"family {family_id} has no data key")
        raw = new_key()
        wrapped_new = self._keyring.wrap(raw, context=self._family_context(family_id))
        await create_in.insert(DATA_KEYS, family_id, _wrapped_doc(wrapped_new))
        created[family_id] = AESGCM(raw)
        return created[family_id]

    async def destroy(self, uow: UnitOfWork, family_id: str) -> bool:
        """Overwrite the family's wrapped key with a tombstone; False if it had none."""
        record = await uow.get(DATA_KEYS, family_id)
        self.forget(family_id)
        tombstone = {"destroyed_at": _now()}
        if record is None:
            await uow.insert(DATA_KEYS, family_id, tombstone)
            return False
        if _wrapped(record) is None:
            return False
        await uow.replace(DATA_KEYS, family_id, tombstone, expected_version=record.version)
        return True

    async def destroy_again(self, family_ids: list[str]) -> int:
        """Destroy every still-wrapped key of `family_ids` (from the shred ledger); how many."""
        again = 0
        for start in range(0, len(family_ids), REWRAP_BATCH):
            async with self._inner.transaction() as uow:
                for family_id in family_ids[start : start + REWRAP_BATCH]:
                    record = await uow.get(DATA_KEYS, family_id)
                    if record is not None and _wrapped(record) is not None:
                        again += int(await self.destroy(uow, family_id))
        return again

    async def rewrap(self) -> dict[str, int]:
        """Re-wrap every key under an older KEK of the keyring with the primary; counts per id."""
        done: dict[str, int] = {}
        primary = self._keyring.primary_id
        for old in self._keyring.ids[1:]:
            done[old] = 0
            while batch := await self._inner.find(DATA_KEYS, {"kek_id": old}, limit=REWRAP_BATCH):
                async with self._inner.transaction() as uow:
                    for record in batch:
                        await self._rewrap_one(uow, DATA_KEYS, record, self._family_context)
                done[old] += len(batch)
        index = await self._inner.get(SERVICE_KEYS, INDEX_KEY)
        if index is not None and index.data.get("kek_id") != primary:
            async with self._inner.transaction() as uow:
                await self._rewrap_one(uow, SERVICE_KEYS, index, self._service_context)
        return done

    async def _rewrap_one(
        self,
        uow: UnitOfWork,
        collection: str,
        record: Record,
        context_of: Callable[[str], bytes],
    ) -> None:
        wrapped = _wrapped(record)
        if wrapped is None:
            return
        context = context_of(record.id)
        raw = self._unwrap(wrapped, context, "key")
        fresh = self._keyring.wrap(raw, context=context)
        data = dict(record.data) | {"kek_id": fresh.kek_id, "wrapped": fresh.blob}
        await uow.replace(collection, record.id, data, expected_version=record.version)

    async def count_by_kek(self, ids: Iterable[str] | None = None) -> dict[str, int]:
        """How many data keys each KEK (default: of the keyring) wraps (a rotation's progress)."""
        return {
            kek: len(await self._inner.find(DATA_KEYS, {"kek_id": kek}, limit=10**9))
            for kek in (self._keyring.ids if ids is None else ids)
        }

    async def check(self, keyring: Keyring) -> None:
        """KeyringError unless `keyring` opens the index key and every key the current one does."""
        dropped = [kek for kek in self._keyring.ids if kek not in keyring.ids]
        still = {kek: n for kek, n in (await self.count_by_kek(dropped)).items() if n}
        if still:
            listed = ", ".join(f"{kek} ({n} keys)" for kek, n in still.items())
            raise KeyringError(
                f"the new keyring drops key-encryption keys that still wrap data keys: {listed};"
                " keep them until a rotation has re-wrapped those keys"
            )
        record = await self._inner.get(SERVICE_KEYS, INDEX_KEY)
        wrapped = None if record is None else _wrapped(record)
        if wrapped is not None and wrapped.kek_id not in keyring.ids:
            raise KeyringError(
                f"the new keyring drops key-encryption key {wrapped.kek_id}, which wraps the"
                " blind index key; keep it until a rotation has re-wrapped it"
            )
