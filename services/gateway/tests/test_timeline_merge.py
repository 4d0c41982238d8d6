"""The family timeline merges intake's consent answers into cases' entries: the answers given
at registration are one entry, each later change an entry of its own, each on exactly one page;
rendered in nl, en and ar."""

from __future__ import annotations

from typing import Any

import pytest

from alamal_gateway.app import _templates
from alamal_gateway.i18n import LANGUAGES, Translator, load_translations
from alamal_gateway.web.core import page_html
from alamal_gateway.web.families import merged_timeline

from .pagecheck import latin_in_arabic, raw_codes

REGISTERED = "2026-11-02T09:15:00.123456+00:00"
STAFF = "0b7e2f3a-5c1d-4e8f-9a2b-3c4d5e6f7a8b"


def consent(purpose: str, granted: bool, at: str = REGISTERED) -> dict[str, Any]:
    return {"purpose": purpose, "granted": granted, "recorded_at": at, "recorded_by": STAFF}


AT_REGISTRATION = [
    consent("care", True),
    consent("reporting", False),
    consent("share-youth-care", True),
    consent("share-police", False),
]
LATER = [
    consent("share-police", True, "2026-11-20T14:00:00+00:00"),
    consent("reporting", True, "2026-11-25T08:30:00+00:00"),
]
CASES = [
    {"kind": "visit", "on": "2026-11-10", "at": "2026-11-10T10:00:00+00:00", "by": STAFF},
    {"kind": "case-opened", "on": "2026-11-02", "at": "2026-11-02T09:15:01+00:00"},
]


def test_the_answers_given_at_registration_are_one_entry() -> None:
    items = merged_timeline(
        CASES, AT_REGISTRATION + LATER, first_page=True, more=False, registered_at=REGISTERED
    )
    kinds = [i["kind"] for i in items]
    assert kinds == ["consent", "consent", "visit", "case-opened", "consent-registration"]
    grouped = items[-1]
    assert grouped["by"] == STAFF
    assert grouped["answers"] == [
        {"purpose": "care", "status": "yes"},
        {"purpose": "reporting", "status": "no"},
        {"purpose": "share-youth-care", "status": "yes"},
        {"purpose": "share-police", "status": "no"},
    ]
    later = [(i["codes"], i["status"]) for i in items if i["kind"] == "consent"]
    assert later == [(["reporting"], "yes"), (["share-police"], "yes")]


def test_the_same_moment_written_another_way_still_groups() -> None:
    """intake writes `+00:00`; a `Z` or another precision of the same instant is the same."""
    items = merged_timeline(
        [],
        [consent("care", True, "2026-11-02T09:15:00.123456Z"), consent("reporting", True)],
        first_page=True,
        more=False,
        registered_at=REGISTERED,
    )
    assert [i["kind"] for i in items] == ["consent-registration"]
    assert len(items[0]["answers"]) == 2


def test_without_the_registration_time_every_answer_stands_alone() -> None:
    items = merged_timeline([], AT_REGISTRATION, first_page=True, more=False)
    assert [i["kind"] for i in items] == ["consent"] * 4


def test_a_change_a_second_after_registration_is_its_own_entry() -> None:
    items = merged_timeline(
        [],
        [consent("care", True), consent("reporting", True, "2026-11-02T09:15:01.123456+00:00")],
        first_page=True,
        more=False,
        registered_at=REGISTERED,
    )
    assert sorted(i["kind"] for i in items) == ["consent", "consent-registration"]


def test_every_answer_lands_on_exactly_one_page() -> None:
    """The newest page stops at its oldest entry; the last page reaches back to registration."""
    newest = merged_timeline(
        CASES[:1], AT_REGISTRATION + LATER, first_page=True, more=True, registered_at=REGISTERED
    )
    last = merged_timeline(
        CASES[1:], AT_REGISTRATION + LATER, first_page=False, more=False, registered_at=REGISTERED
    )
    assert [i["kind"] for i in newest] == ["consent", "consent", "visit"]
    assert [i["kind"] for i in last] == ["case-opened", "consent-registration"]


_TRANSLATIONS = load_translations()
WORDS = {
    "nl": ("Toestemming bij de aanmelding", "Ondersteuning door Al Amal", "Nee"),
    "en": ("Consent given at registration", "Support from Al Amal", "No"),
    "ar": ("الموافقة عند التسجيل", "الدعم من الأمل", "لا"),
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_grouped_entry_renders_in_every_language(language: str) -> None:
    t = Translator(language, _TRANSLATIONS[language])
    timeline = merged_timeline(
        [], AT_REGISTRATION + LATER, first_page=True, more=False, registered_at=REGISTERED
    )
    html = page_html(
        _templates(),
        t,
        "family_timeline.html",
        user=None,
        csrf_token="x",
        path="/families/x",
        item={"timeline": timeline, "older": None},
        family={"id": "f"},
        case={"id": "c"},
        partners={},
        staff={STAFF: "Samira"},
        paged=False,
    )
    assert html.count('class="tl-consent-registration"') == 1
    assert html.count('class="tl-consent"') == 2
    for word in WORDS[language]:
        assert word in html, word
    assert not raw_codes(html, language)
    if language == "ar":
        assert not latin_in_arabic(html)
