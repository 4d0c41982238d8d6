"""The store interface and its backends; `open_store(url)` picks one by the URL's scheme."""

from alamal_runtime.store.base import (
    Doc,
    DuplicateError,
    OutboxMessage,
    OutboxRecord,
    Record,
    Scalar,
    StaleWriteError,
    Store,
    StoreError,
    StoreOperationError,
    StoreUnavailableError,
    TransientStoreError,
    UnitOfWork,
)
from alamal_runtime.store.factory import create_store

__all__ = [
    "Doc",
    "DuplicateError",
    "OutboxMessage",
    "OutboxRecord",
    "Record",
    "Scalar",
    "StaleWriteError",
    "Store",
    "StoreError",
    "StoreOperationError",
    "StoreUnavailableError",
    "TransientStoreError",
    "UnitOfWork",
    "create_store",
]
