"""Personal data sealed at rest: per-family data keys under a KEK, a keyed blind index."""

from alamal_runtime.sealing.blind_index import BlindIndex, contains, normalise
from alamal_runtime.sealing.codec import is_sealed
from alamal_runtime.sealing.keys import DATA_KEYS, SERVICE_KEYS, KeyVault, keyring_from_settings
from alamal_runtime.sealing.schema import (
    BlindIndexSpec,
    FamilyField,
    FamilyIsId,
    FamilyOf,
    FamilyOfDocument,
    KeyDestroyedError,
    SealedCollection,
    SealError,
    SealSchema,
)
from alamal_runtime.sealing.store import SealedStore, SealedUnitOfWork

__all__ = [
    "DATA_KEYS",
    "SERVICE_KEYS",
    "BlindIndex",
    "BlindIndexSpec",
    "FamilyField",
    "FamilyIsId",
    "FamilyOf",
    "FamilyOfDocument",
    "KeyDestroyedError",
    "KeyVault",
    "SealError",
    "SealSchema",
    "SealedCollection",
    "SealedStore",
    "SealedUnitOfWork",
    "contains",
    "is_sealed",
    "keyring_from_settings",
    "normalise",
]
