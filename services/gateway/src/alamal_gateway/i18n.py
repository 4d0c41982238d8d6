"""Translations (gettext catalogues compiled from the package's `.po` files) and locale formats."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from io import BytesIO
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from markupsafe import Markup

from alamal_gateway.plurals import counted

LANGUAGES: Final = ("nl", "en", "ar")
DEFAULT_LANGUAGE: Final = "nl"
_AMSTERDAM: Final = ZoneInfo("Europe/Amsterdam")
RTL: Final = frozenset({"ar"})
LANGUAGE_NAMES: Final = {"nl": "Nederlands", "en": "English", "ar": "العربية"}
"""Each language named in itself, so anyone can find her own."""


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "mark, translate later"
    """Mark a message for extraction; it is translated where it is shown."""
    return message


def catalogue_path(language: str) -> str:
    """The package resource path of a language's `.po` file."""
    return f"locale/{language}/LC_MESSAGES/messages.po"


def load_translations() -> dict[str, gettext.GNUTranslations]:
    """Compile every `.po` file in the package in memory (no binary `.mo` in the repository)."""
    compiled: dict[str, gettext.GNUTranslations] = {}
    package = resources.files("alamal_gateway")
    for language in LANGUAGES:
        with package.joinpath(catalogue_path(language)).open("rb") as po:
            catalog = read_po(po, locale=language)
        buffer = BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        compiled[language] = gettext.GNUTranslations(buffer)
    return compiled


@dataclass(frozen=True, slots=True)
class Translator:
    """One language's gettext and locale formatting, handed to the templates."""

    language: str
    translations: gettext.GNUTranslations

    @property
    def direction(self) -> str:
        """`rtl` for Arabic, `ltr` otherwise."""
        return "rtl" if self.language in RTL else "ltr"

    def gettext(self, message: str, **values: object) -> str:
        """The translated message, with `%(name)s` placeholders filled in."""
        text = self.translations.gettext(message)
        if not values:
            return text
        if any(isinstance(v, Markup) for v in values.values()):
            # A value that is already HTML (a name in <bdi>): escape the rest, keep that.
            return Markup.escape(text) % values
        return text % values

    def date(self, value: date | datetime | str | None) -> str:
        """A date in the language's medium format (e.g. `24 nov 2026`)."""
        if value is None or value == "":
            return ""
        parsed = _parse(value)
        if isinstance(parsed, datetime):
            parsed = parsed.date()
        return format_date(parsed, format="medium", locale=self.language)

    def datetime(self, value: datetime | str | None) -> str:
        """A date and time in the language's short format, in Dutch local time."""
        if value is None or value == "":
            return ""
        parsed = _parse(value)
        if not isinstance(parsed, datetime):
            return self.date(parsed)
        return format_datetime(parsed, format="short", tzinfo=_AMSTERDAM, locale=self.language)

    def number(self, value: float | int) -> str:
        """A number with the language's separators."""
        return format_decimal(value, locale=self.language)

    def month(self, value: str) -> str:
        """A report's month label (`2026-03`) as the language writes it (`mrt 2026`)."""
        try:
            first = date.fromisoformat(f"{value}-01")
        except ValueError:
            return value
        return format_date(first, format="LLL y", locale=self.language)

    @property
    def list_sep(self) -> str:
        """Between the items of a list: the Arabic comma in Arabic."""
        return "، " if self.language == "ar" else ", "

    def join(self, items: Iterable[object]) -> str:
        """Items joined with the language's list separator."""
        return self.list_sep.join(str(i) for i in items)

    def count(self, phrase: str, n: int) -> str:
        """A counted phrase in the language's plural form (Arabic dual included)."""
        return counted(phrase, n, self.language, self.number(n))

    def days_late(self, n: int) -> str:
        """ "3 days overdue" in the language's plural form."""
        return self.count("days-late", n)


def _parse(value: date | datetime | str) -> date | datetime:
    if isinstance(value, str):
        return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    return value


def choose_language(*candidates: str | None) -> str:
    """The first supported language among the candidates, else Dutch."""
    for candidate in candidates:
        if candidate in LANGUAGES:
            return candidate
    return DEFAULT_LANGUAGE


def from_accept_language(header: str | None) -> str | None:
    """The first supported language named in an Accept-Language header."""
    for part in (header or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return None


type Gettext = Callable[..., str]
