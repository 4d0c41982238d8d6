"""KEK rotation on a running intake: new key, re-wrap, retire the old one; audited, no downtime."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from alamal_intake.audit import AuditOutcome
from alamal_ops import keys as keys_ops
from alamal_ops.services_api import OpsError, Signer
from alamal_runtime.audit import ACCESS_AUDIT, audit_from_record
from alamal_runtime.auth import Role
from alamal_runtime.crypto import Keyring, new_key, read_keyring, write_keyring
from alamal_runtime.sealing import SealedStore
from alamal_runtime.sealing.keys import DEV_KEYRING_FILE
from alamal_runtime.store import Store

from .conftest import Caller, family_body

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]


def _keyring_file(store: Store) -> Path:
    assert isinstance(store, SealedStore)
    return Path(store.inner.path).parent / DEV_KEYRING_FILE  # type: ignore[attr-defined]


async def _rotations(store: Store) -> list[AuditOutcome]:
    records = await store.find(ACCESS_AUDIT, {"action": "rotate-kek"}, order_by="at", limit=50)
    return [audit_from_record(r).outcome for r in records]


async def test_a_kek_is_rotated_and_retired_while_intake_serves(
    client: httpx.AsyncClient,
    caller: MakeCaller,
    intake_store: Store,
    token_keys: tuple[str, str],
) -> None:
    me = caller(Role.TRUSTED_PERSON, wijken={"overvecht"})
    ids = []
    for _ in range(3):
        created = await client.post("/families", json=family_body(me.user_id), headers=me.headers)
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
    operator = Signer(token_keys[0], str(uuid.uuid4()))
    path = _keyring_file(intake_store)
    old = read_keyring(path, source="test").primary_id
    before = await keys_ops.key_status(operator, "intake", "", client=client)
    assert before["data_keys_by_kek"] == {old: len(ids)}

    ring = keys_ops.add_kek(path)
    rotated = await keys_ops.rotate(operator, "intake", "", client=client)
    assert rotated["primary_kek"] == ring.primary_id
    assert rotated["rewrapped"] == {old: len(ids)}
    assert rotated["data_keys_by_kek"] == {ring.primary_id: len(ids), old: 0}

    retired = await keys_ops.retire_kek(operator, "intake", "", path, old, client=client)
    assert retired["keyring"] == [ring.primary_id]
    assert read_keyring(path, source="test").ids == (ring.primary_id,)
    for family_id in ids:
        read = await client.get(f"/families/{family_id}", headers=me.headers)
        assert read.json()["members"][0]["first_name"] == "Fatima"
    new = await client.post("/families", json=family_body(me.user_id), headers=me.headers)
    assert new.status_code == 201
    assert await _rotations(intake_store) == [AuditOutcome.ALLOWED, AuditOutcome.ALLOWED]


async def test_a_keyring_that_would_strand_keys_is_refused_and_audited(
    client: httpx.AsyncClient,
    caller: MakeCaller,
    intake_store: Store,
    token_keys: tuple[str, str],
) -> None:
    me = caller(Role.TRUSTED_PERSON, wijken={"overvecht"})
    created = await client.post("/families", json=family_body(me.user_id), headers=me.headers)
    assert created.status_code == 201
    operator = Signer(token_keys[0], str(uuid.uuid4()))
    path = _keyring_file(intake_store)
    current = read_keyring(path, source="test")
    with pytest.raises(OpsError, match="current key"):
        await keys_ops.retire_kek(operator, "intake", "", path, current.primary_id, client=client)
    # An operator replaces the file by a fresh keyring: the keys would be stranded.
    write_keyring(path, Keyring((new_key(),)))
    with pytest.raises(OpsError, match=r"409.*still wrap"):
        await keys_ops.rotate(operator, "intake", "", client=client)
    write_keyring(path, current)
    read = await client.get(f"/families/{created.json()['id']}", headers=me.headers)
    assert read.status_code == 200
    assert (await _rotations(intake_store))[-1] is AuditOutcome.DENIED_OR_MISSING


@pytest.mark.parametrize("role", [Role.TRUSTED_PERSON, Role.COORDINATOR, Role.ADMIN])
async def test_only_operators_see_and_rotate_keys(
    client: httpx.AsyncClient, caller: MakeCaller, role: Role
) -> None:
    someone = caller(role, wijken={"overvecht"})
    assert (await client.get("/ops/keys", headers=someone.headers)).status_code == 403
    assert (await client.post("/ops/keys/rotate", headers=someone.headers)).status_code == 403
