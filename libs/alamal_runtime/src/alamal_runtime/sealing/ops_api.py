"""Operator routes of a service that seals personal data: key status and KEK rotation.

`GET /ops/keys` shows the keyring's key ids and how many data keys each wraps; `POST
/ops/keys/rotate` re-reads the keyring from the settings (the file an operator just changed),
refuses one that would strand a key, and re-wraps every data key and the index key under its
first KEK while the service keeps serving. Each rotation, refused ones too, is recorded in
the service's access audit (who, when; no family). Ids only: never key material.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from alamal_runtime.audit import AuditOutcome, audit, entry
from alamal_runtime.auth import Principal, Role
from alamal_runtime.crypto import KeyringError
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.sealing.store import SealedStore

ROTATE_KEK = "rotate-kek"
REASON = "key-rotation"


def _operators_only(principal: Principal) -> None:
    if principal.role is not Role.OPERATOR:
        raise HTTPProblem(403, "operators only")


def keys_router(service: str, store: SealedStore) -> APIRouter:
    """`/ops/keys` (status) and `/ops/keys/rotate` for the sealed `store`."""
    router = APIRouter(prefix="/ops/keys", tags=["operations"], include_in_schema=False)

    async def status() -> dict[str, object]:
        ring = store.vault.keyring
        return {
            "service": service,
            "primary_kek": ring.primary_id,
            "keyring": list(ring.ids),
            "data_keys_by_kek": await store.vault.count_by_kek(),
        }

    @router.get("")
    async def show(principal: CurrentPrincipal) -> dict[str, object]:
        _operators_only(principal)
        return await status()

    @router.post("/rotate")
    async def rotate(principal: CurrentPrincipal) -> dict[str, object]:
        _operators_only(principal)
        try:
            if store.reload_keyring is None:
                raise KeyringError("this service's keyring cannot be re-read while it runs")
            fresh = store.reload_keyring()
            await store.vault.check(fresh)
        except KeyringError as exc:
            await _audit(principal, AuditOutcome.DENIED_OR_MISSING)
            raise HTTPProblem(409, str(exc)) from None
        store.use_keyring(fresh)
        rewrapped = await store.vault.rewrap()
        await _audit(principal, AuditOutcome.ALLOWED)
        return await status() | {"rewrapped": rewrapped}

    async def _audit(principal: Principal, outcome: AuditOutcome) -> None:
        record = entry(
            principal,
            action=ROTATE_KEK,
            family_id=None,
            outcome=outcome,
            reason=REASON,
            now=datetime.now(UTC),
        )
        await audit(store, record)

    return router
