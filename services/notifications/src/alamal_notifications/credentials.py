"""Partner-API credentials: a public client id and a high-entropy secret stored as a hash."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from alamal_notifications.secretbox import (
    client_secret_matches,
    hash_client_secret,
    new_client_id,
    new_client_secret,
)
from alamal_runtime.store import Store, UnitOfWork

CREDENTIALS = "credentials"
_CLIENT_ID = re.compile(r"pc_[0-9a-f]{24}")
# Compared against when the client id is unknown, so both paths do the same work.
_DUMMY_HASH = hash_client_secret("no such credential")


def new_credential() -> tuple[str, str]:
    """A fresh (client id, secret)."""
    return new_client_id(), new_client_secret()


async def add(uow: UnitOfWork, *, client_id: str, partner_id: str, secret: str) -> None:
    """Store the credential's hash."""
    await uow.insert(
        CREDENTIALS,
        client_id,
        {
            "partner_id": partner_id,
            "secret_hash": hash_client_secret(secret),
            "created_at": datetime.now(UTC).isoformat(),
            "revoked": False,
        },
    )


async def revoke(uow: UnitOfWork, *, client_id: str, partner_id: str) -> bool:
    """Revoke a partner's credential; False if it is not that partner's."""
    if not _CLIENT_ID.fullmatch(client_id):
        return False
    record = await uow.get(CREDENTIALS, client_id)
    if record is None or record.data["partner_id"] != partner_id:
        return False
    await uow.replace(
        CREDENTIALS, client_id, {**record.data, "revoked": True}, expected_version=record.version
    )
    return True


async def authenticate(store: Store, client_id: str, secret: str) -> str | None:
    """The partner id of a valid, unrevoked credential; None otherwise."""
    record = None
    if _CLIENT_ID.fullmatch(client_id):
        record = await store.get(CREDENTIALS, client_id)
    stored = _DUMMY_HASH if record is None else record.data["secret_hash"]
    matches = client_secret_matches(secret, stored)
    if record is None or not matches or record.data["revoked"]:
        return None
    partner_id: str = record.data["partner_id"]
    return partner_id
