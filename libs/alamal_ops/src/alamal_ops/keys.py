"""Key-encryption key rotation: a new KEK in the keyring file, re-wrap, retire the old one.

1. `keys new-kek --keyring FILE`: a new key goes first in the keyring file; the old ones stay.
2. `keys rotate --service intake`: the service re-reads its keyring and re-wraps every data
   key under the new KEK while it keeps serving (audited there).
3. `keys retire-kek --keyring FILE --kek-id OLD --service intake`: only once the service
   reports no key left under OLD, the old KEK leaves the file; the service re-reads it and
   confirms, or the file is put back as it was.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from alamal_ops.services_api import OpsError, Signer, client_for, json_or_raise
from alamal_runtime.auth import Role
from alamal_runtime.crypto import Keyring, new_key, read_keyring, write_keyring


def add_kek(path: Path) -> Keyring:
    """Put a new key first in the keyring file (created if missing); return the new keyring."""
    keys: tuple[bytes, ...] = ()
    if path.exists():
        keys = read_keyring(path, source=str(path)).keys
    ring = Keyring((new_key(), *keys))
    write_keyring(path, ring)
    return ring


async def key_status(
    signer: Signer, service: str, url: str, *, client: httpx.AsyncClient | None = None
) -> dict[str, object]:
    """A service's keyring ids and how many data keys each wraps."""
    async with client_for(client) as http:
        response = await http.get(f"{url}/ops/keys", headers=signer.headers(Role.OPERATOR, service))
    return json_or_raise(response)


async def rotate(
    signer: Signer, service: str, url: str, *, client: httpx.AsyncClient | None = None
) -> dict[str, object]:
    """Ask a service to re-read its keyring and re-wrap its keys under the first KEK."""
    async with client_for(client) as http:
        response = await http.post(
            f"{url}/ops/keys/rotate", headers=signer.headers(Role.OPERATOR, service), timeout=300
        )
    return json_or_raise(response)


async def retire_kek(
    signer: Signer,
    service: str,
    url: str,
    path: Path,
    kek_id: str,
    *,
    client: httpx.AsyncClient | None = None,
) -> dict[str, object]:
    """Drop `kek_id` from the keyring file once the service no longer needs it."""
    ring = read_keyring(path, source=str(path))
    if kek_id not in ring.ids:
        raise OpsError(f"{path} holds no key {kek_id}")
    if kek_id == ring.primary_id:
        raise OpsError(f"{kek_id} is the keyring's current key: add a new one first")
    status = await key_status(signer, service, url, client=client)
    left = status.get("data_keys_by_kek")
    if status.get("primary_kek") != ring.primary_id:
        raise OpsError(f"{service} does not use this keyring's current key yet: rotate first")
    if not isinstance(left, dict) or left.get(kek_id, 0):
        raise OpsError(f"{service} still has keys under {kek_id}: rotate first")
    write_keyring(
        path, Keyring(tuple(k for k, i in zip(ring.keys, ring.ids, strict=True) if i != kek_id))
    )
    try:
        return await rotate(signer, service, url, client=client)
    except (OpsError, httpx.HTTPError):
        write_keyring(path, ring)
        raise
