"""Every visible string has nl / en / ar translations; dates and numbers follow the locale."""

from __future__ import annotations

import re
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from fastapi import FastAPI

from alamal_gateway.i18n import LANGUAGES, Translator, catalogue_path, load_translations

from .conftest import browser

PACKAGE = Path(str(resources.files("alamal_gateway")))
_PLACEHOLDER = re.compile(r"%\(\w+\)s")


def extracted_msgids() -> set[str]:
    """Every msgid in the templates (`_()`) and the Python code (`_()`, `N_()`)."""
    found: set[str] = set()
    method_map = [("templates/**.html", "jinja2"), ("**.py", "python")]
    for _, _, message, _, _ in extract_from_dir(
        str(PACKAGE), method_map, keywords={"_": None, "N_": None}
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def catalogue(language: str) -> dict[str, str]:
    """msgid -> msgstr of a language's `.po` file in the package."""
    with (PACKAGE / catalogue_path(language)).open("rb") as po:
        return {
            m.id: m.string
            for m in read_po(po)
            if isinstance(m.id, str) and m.id and isinstance(m.string, str)
        }


def test_extraction_finds_the_templates_and_the_labels() -> None:
    ids = extracted_msgids()
    assert "Log a visit" in ids  # a template string
    assert "Home visit" in ids  # a label marked with N_()
    assert len(ids) > 200


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_has_a_translation(language: str) -> None:
    translations = catalogue(language)
    missing = sorted(m for m in extracted_msgids() if not translations.get(m, "").strip())
    assert not missing, f"{language}: no translation for {missing}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language: str) -> None:
    for msgid, msgstr in catalogue(language).items():
        assert sorted(_PLACEHOLDER.findall(msgid)) == sorted(_PLACEHOLDER.findall(msgstr)), msgid


def test_catalogues_compile_and_arabic_is_right_to_left() -> None:
    compiled = load_translations()
    arabic = Translator("ar", compiled["ar"])
    dutch = Translator("nl", compiled["nl"])
    assert arabic.direction == "rtl"
    assert dutch.direction == "ltr"
    assert dutch.gettext("Log a visit") == "Bezoek vastleggen"
    assert arabic.gettext("Log a visit") == "تسجيل زيارة"
    assert dutch.days_late(3) == "3 dagen te laat"


@pytest.mark.parametrize(
    ("n", "arabic", "dutch"),
    [
        (1, "بعد أسبوع", "Over 1 week"),
        (2, "بعد أسبوعين", "Over 2 weken"),  # the Arabic dual
        (3, "بعد 3 أسابيع", "Over 3 weken"),
        (11, "بعد 11 أسبوعاً", "Over 11 weken"),
    ],
)
def test_counted_phrases_use_each_languages_plural_forms(n: int, arabic: str, dutch: str) -> None:
    compiled = load_translations()
    ar, nl = Translator("ar", compiled["ar"]), Translator("nl", compiled["nl"])
    assert ar.count("in-weeks", n) == arabic
    assert nl.count("in-weeks", n) == dutch


def test_lists_use_the_arabic_comma_in_arabic() -> None:
    compiled = load_translations()
    assert Translator("ar", compiled["ar"]).join(["فاطمة", "ياسمين"]) == "فاطمة، ياسمين"
    assert Translator("nl", compiled["nl"]).join(["Fatima", "Yasmine"]) == "Fatima, Yasmine"


def test_dates_and_numbers_follow_the_locale() -> None:
    compiled = load_translations()
    day = date(2026, 3, 5)
    dutch, english = Translator("nl", compiled["nl"]), Translator("en", compiled["en"])
    arabic = Translator("ar", compiled["ar"])
    assert dutch.date(day) == "5 mrt 2026"
    assert english.date(day) == "Mar 5, 2026"
    assert arabic.date(day) != dutch.date(day)
    assert dutch.number(1234.5) == "1.234,5"
    assert english.number(1234.5) == "1,234.5"


async def test_pages_carry_lang_and_dir(gateway_app: FastAPI) -> None:
    async with browser(gateway_app, address="10.0.3.1") as client:
        dutch = await client.get("/login")
        arabic = await client.get("/login", headers={"Accept-Language": "ar-MA,ar;q=0.9"})
    assert '<html lang="nl" dir="ltr">' in dutch.text
    assert '<html lang="ar" dir="rtl">' in arabic.text
    assert "تسجيل الدخول" in arabic.text
