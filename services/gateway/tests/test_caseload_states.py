"""The caseload page renders in every data state its entries can arrive in, in every language.

Regression: an open case without a planned follow-up made `/caseload` answer 500, because the
template read a key (`follow_up_on`) that `/caseload` entries do not carry.
"""

from __future__ import annotations

from typing import Any

import pytest

from alamal_gateway.app import _templates
from alamal_gateway.i18n import LANGUAGES, Translator, load_translations
from alamal_gateway.web.core import page_html
from alamal_gateway.web.families import caseload_entry

FAMILY = "5b0d2c4e-8f1a-4a57-9c1e-2f3b4c5d6e7f"
CASE = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"

ENTRIES: dict[str, list[dict[str, Any]]] = {
    "nothing yet": [],
    "no contact, no follow-up": [{"family_id": FAMILY, "case_id": CASE}],
    "contact, no follow-up": [
        {
            "family_id": FAMILY,
            "case_id": CASE,
            "last_contact_on": "2026-11-20",
            "next_follow_up_on": None,
            "days_overdue": 0,
        }
    ],
    "overdue (older cases answer)": [
        {
            "family_id": FAMILY,
            "case_id": CASE,
            "follow_up_on": "2026-11-01",
            "days_overdue": 30,
        }
    ],
    "many": [
        {"family_id": FAMILY, "case_id": CASE, "next_follow_up_on": "2026-12-10"},
        {"family_id": CASE, "case_id": FAMILY, "days_overdue": 3},
    ],
}

_TRANSLATIONS = load_translations()


def _render(language: str, entries: list[dict[str, Any]], families: list[dict[str, Any]]) -> str:
    t = Translator(language, _TRANSLATIONS[language])
    return page_html(
        _templates(),
        t,
        "caseload.html",
        user=None,
        csrf_token="x",
        path="/caseload",
        entries=[caseload_entry(e) for e in entries],
        names={f["id"]: f["first_names"] for f in families},
        unavailable=[],
        search={"q": "", "wijk": "", "tp": ""},
        searched=False,
        found=families,
        next_cursor=None,
        search_error="",
        wijken=[],
        trusted_persons=[],
        staff={},
    )


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("state", sorted(ENTRIES))
def test_caseload_renders_every_entry_shape(language: str, state: str) -> None:
    families = [
        {
            "id": FAMILY,
            "first_names": ["Ilham"],
            "wijk": "overvecht",
            "registered_at": "2026-11-01T10:00:00+00:00",
        }
    ]
    html = _render(language, ENTRIES[state], families)
    for entry in ENTRIES[state]:
        assert f"/cases/{entry['case_id']}/visits/new" in html
    if not ENTRIES[state]:
        assert "/visits/new" not in html


def test_a_missing_follow_up_is_none_not_absent() -> None:
    entry = caseload_entry({"family_id": FAMILY, "case_id": CASE})
    assert entry["next_follow_up_on"] is None
    assert entry["days_overdue"] == 0
    assert caseload_entry({"follow_up_on": "2026-11-01"})["next_follow_up_on"] == "2026-11-01"
