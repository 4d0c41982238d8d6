"""Input hygiene: control characters and bidi overrides are refused with a 422 naming the field.

Unit tests of the rules, and the same refusals through the real API (registration and PATCH),
where nothing is stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from alamal_intake.hygiene import clean_name, clean_note
from alamal_runtime.auth import Role

from .conftest import Caller, family_body

REFUSED_IN_NAMES = ["\x00", "\x07", "\t", "\n", "\r", "\x1b", "\x7f", "\x85"] + [
    chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))
]
ALLOWED = ["Fatima", "فاطمة", "Zoë-Anne", "El Amrani", "ياسمين\u200f", "O'Neill"]


@pytest.mark.parametrize("bad", REFUSED_IN_NAMES, ids=lambda c: f"U+{ord(c):04X}")
def test_names_refuse_control_characters_and_bidi_overrides(bad: str) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        clean_name(f"Fat{bad}ima")


@pytest.mark.parametrize("good", ALLOWED)
def test_ordinary_names_in_any_script_pass(good: str) -> None:
    assert clean_name(good) == good
    assert clean_note(good) == good


def test_notes_keep_tab_and_newline_but_refuse_the_rest() -> None:
    assert clean_note("line one\n\tline two") == "line one\n\tline two"
    for bad in ("\x00", "\x0b", "\x1b", "\u202e", "\u2067"):
        with pytest.raises(ValueError, match="not allowed"):
            clean_note(f"note{bad}")


def _with_member_name(value: str) -> dict[str, Any]:
    body = family_body()
    body["members"][1]["first_name"] = value
    return body


async def test_registration_with_a_bidi_override_is_422_on_that_member(
    client: httpx.AsyncClient, caller: Callable[..., Caller]
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    for value, field in (
        ("Yas\u202emine", "members.1.first_name"),
        ("Yas\x00mine", "members.1.first_name"),
    ):
        response = await client.post("/families", json=_with_member_name(value), headers=me.headers)
        assert response.status_code == 422, response.text
        assert response.json()["fields"] == [field]
    body = family_body()
    body["members"][0]["surname"] = "El\u2066Amrani"
    response = await client.post("/families", json=body, headers=me.headers)
    assert response.status_code == 422
    assert response.json()["fields"] == ["members.0.surname"]
    found = await client.get("/families", headers=me.headers)
    assert found.json()["results"] == [], "a refused registration stores nothing"


async def test_patch_refuses_bad_notes_and_addresses_and_keeps_good_ones(
    client: httpx.AsyncClient, caller: Callable[..., Caller]
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    created = await client.post("/families", json=family_body(), headers=me.headers)
    family_id = created.json()["id"]
    address = {
        "street": "Oude\x1bgracht",
        "house_number": "12",
        "postcode": "3511 AB",
        "city": "Utrecht",
    }
    for body, field in (
        ({"notes": "belt\x07terug"}, "notes"),
        ({"notes": "\u202ereversed"}, "notes"),
        ({"address": address}, "address.street"),
    ):
        response = await client.patch(
            f"/families/{family_id}", json=body, headers=me.headers | {"If-Match": '"1"'}
        )
        assert response.status_code == 422, response.text
        assert response.json()["fields"] == [field]
    fine = await client.patch(
        f"/families/{family_id}",
        json={"notes": "Belt terug\n\tna de afspraak"},
        headers=me.headers | {"If-Match": '"1"'},
    )
    assert fine.status_code == 200, fine.text
    assert fine.json()["notes"] == "Belt terug\n\tna de afspraak"
    assert uuid.UUID(fine.json()["id"])
