"""Intake's personal data at rest: ciphertext in every store file, plaintext through the API.

Also: name search works through the keyed blind index (accents and case aside, false
positives of the index filtered out), and intake refuses to start without its key.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from alamal_intake.app import create_app
from alamal_intake.settings import IntakeSettings
from alamal_runtime.auth import Role
from alamal_runtime.crypto import Keyring, key_id, new_key, write_keyring
from alamal_runtime.main import EXIT_CONFIG, build
from alamal_runtime.sealing import SealedStore
from alamal_runtime.store import Store
from alamal_stack.leak_scan import hits_in, hits_under

from .conftest import Caller, family_body
from .test_update_api import ADDRESS, etag_of, patch

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

PLANTED = {
    "first_name": "Zoubida",
    "surname": "Özdemir-Benali",
    "child": "فاطمة",
    "street": ADDRESS["street"],
    "phone": "+31 30 987 6543",
    "notes": "Vader werkt 's nachts bij de bakkerij",
}


def store_folder(store: Store) -> Path:
    """The folder of intake's SQLite file (with its -wal and -shm)."""
    assert isinstance(store, SealedStore)
    return Path(store.inner.path).parent  # type: ignore[attr-defined]


async def test_planted_personal_values_are_ciphertext_on_disk_and_readable_through_the_api(
    client: httpx.AsyncClient, caller: MakeCaller, intake_store: Store
) -> None:
    me = caller(Role.TRUSTED_PERSON, wijken={"overvecht"})
    body = family_body(me.user_id)
    body["members"][0] |= {"first_name": PLANTED["first_name"], "surname": PLANTED["surname"]}
    body["members"][1]["first_name"] = PLANTED["child"]
    created = await client.post("/families", json=body, headers=me.headers)
    assert created.status_code == 201, created.text
    family_id = created.json()["id"]
    changes = {"address": ADDRESS, "phone": PLANTED["phone"], "notes": PLANTED["notes"]}
    etag = await etag_of(client, me, family_id)
    assert (await patch(client, me, family_id, changes, etag)).status_code == 200

    family = (await client.get(f"/families/{family_id}", headers=me.headers)).json()
    assert [m["first_name"] for m in family["members"]] == [PLANTED["first_name"], PLANTED["child"]]
    assert family["members"][0]["surname"] == PLANTED["surname"]
    assert (family["address"]["street"], family["phone"], family["notes"]) == (
        PLANTED["street"],
        PLANTED["phone"],
        PLANTED["notes"],
    )
    # The check itself can fail: the planted values are in the API's answer as bytes.
    assert hits_in(json.dumps(family).encode(), PLANTED.values())
    folder = store_folder(intake_store)
    assert {"intake.sqlite3", "intake.sqlite3-wal"} <= {p.name for p in folder.iterdir()}
    assert hits_under(folder, PLANTED.values()) == {}


async def test_name_search_ignores_accents_and_case_and_filters_index_false_positives(
    client: httpx.AsyncClient, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON, wijken={"overvecht"})
    wanted = family_body(me.user_id)
    wanted["members"][0] |= {"first_name": "Hülya", "surname": "Özdemir"}
    # Holds every pair of "ozdem" (oz, zd, de, em) spread over two names, but not the fragment.
    decoy = family_body(me.user_id)
    decoy["members"][0] |= {"first_name": "Ozzdde", "surname": "Emma"}
    ids = {}
    for label, body in (("wanted", wanted), ("decoy", decoy)):
        response = await client.post("/families", json=body, headers=me.headers)
        assert response.status_code == 201, response.text
        ids[label] = response.json()["id"]
    found = await client.get("/families", params={"name": "OZDEM"}, headers=me.headers)
    assert found.status_code == 200, found.text
    assert [r["id"] for r in found.json()["results"]] == [ids["wanted"]]
    decoy_found = await client.get("/families", params={"name": "ozzd"}, headers=me.headers)
    assert [r["id"] for r in decoy_found.json()["results"]] == [ids["decoy"]]


def _settings(tmp_path: Path, **values: object) -> IntakeSettings:
    return IntakeSettings(
        store_url=f"sqlite:///{tmp_path}/intake.sqlite3",
        kafka_bootstrap="127.0.0.1:1",
        token_public_key="unused: the service refuses before it verifies anything",
        **values,  # type: ignore[arg-type]
    )


def test_intake_refuses_to_start_in_prod_without_a_kek(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        build(_settings(tmp_path, profile="prod"), create_app)
    assert stopped.value.code == EXIT_CONFIG
    assert "INTAKE_KEK_FILE" in capsys.readouterr().err


def test_intake_refuses_to_start_with_the_wrong_kek(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    right, wrong = Keyring((new_key(),)), Keyring((new_key(),))
    write_keyring(tmp_path / "right.kek", right)
    write_keyring(tmp_path / "wrong.kek", wrong)
    app = create_app(_settings(tmp_path, profile="prod", kek_file=tmp_path / "right.kek"))
    asyncio.run(app.state.runtime.preflight())  # the store's keys are made under `right`
    with pytest.raises(SystemExit) as stopped:
        build(_settings(tmp_path, profile="prod", kek_file=tmp_path / "wrong.kek"), create_app)
    assert stopped.value.code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert key_id(right.keys[0]) in err
    assert "INTAKE_KEK_FILE" in err
