"""Counted phrases in each language's own plural forms (CLDR categories, from Babel).

gettext's single plural slot cannot say Arabic's dual ("بعد أسبوعين", in two weeks) or its
3-10 and 11-99 forms, so the few counted phrases of the UI live here, per category. Arabic
phrasing is gender-neutral: it describes the thing counted, never the reader.
"""

from __future__ import annotations

from typing import Final

from babel import Locale

type Forms = dict[str, str]

PHRASES: Final[dict[str, dict[str, Forms]]] = {
    "days-late": {
        "nl": {"one": "1 dag te laat", "other": "{n} dagen te laat"},
        "en": {"one": "1 day overdue", "other": "{n} days overdue"},
        "ar": {
            "zero": "لا تأخير",
            "one": "متأخر يوماً واحداً",
            "two": "متأخر يومين",
            "few": "متأخر {n} أيام",
            "many": "متأخر {n} يوماً",
            "other": "متأخر {n} يوم",
        },
    },
    "in-weeks": {
        "nl": {"one": "Over 1 week", "other": "Over {n} weken"},
        "en": {"one": "In 1 week", "other": "In {n} weeks"},
        "ar": {
            "zero": "الآن",
            "one": "بعد أسبوع",
            "two": "بعد أسبوعين",
            "few": "بعد {n} أسابيع",
            "many": "بعد {n} أسبوعاً",
            "other": "بعد {n} أسبوع",
        },
    },
    "open-cases": {
        "nl": {"one": "1 open dossier", "other": "{n} open dossiers"},
        "en": {"one": "1 open case", "other": "{n} open cases"},
        "ar": {
            "zero": "لا ملفات مفتوحة",
            "one": "ملف مفتوح واحد",
            "two": "ملفان مفتوحان",
            "few": "{n} ملفات مفتوحة",
            "many": "{n} ملفاً مفتوحاً",
            "other": "{n} ملف مفتوح",
        },
    },
    "overdue-cases": {
        "nl": {"one": "1 te laat", "other": "{n} te laat"},
        "en": {"one": "1 overdue", "other": "{n} overdue"},
        "ar": {
            "zero": "لا متأخرات",
            "one": "ملف متأخر واحد",
            "two": "ملفان متأخران",
            "few": "{n} ملفات متأخرة",
            "many": "{n} ملفاً متأخراً",
            "other": "{n} ملف متأخر",
        },
    },
    "attempts": {
        "nl": {"one": "1 poging", "other": "{n} pogingen"},
        "en": {"one": "1 attempt", "other": "{n} attempts"},
        "ar": {
            "zero": "لا محاولات",
            "one": "محاولة واحدة",
            "two": "محاولتان",
            "few": "{n} محاولات",
            "many": "{n} محاولة",
            "other": "{n} محاولة",
        },
    },
    "minutes": {
        "nl": {"one": "1 min", "other": "{n} min"},
        "en": {"one": "1 min", "other": "{n} min"},
        "ar": {
            "zero": "{n} دقيقة",
            "one": "دقيقة واحدة",
            "two": "دقيقتان",
            "few": "{n} دقائق",
            "many": "{n} دقيقة",
            "other": "{n} دقيقة",
        },
    },
}


def counted(phrase: str, n: int, language: str, number: str) -> str:
    """`phrase` for `n` in `language`; `number` is n formatted for the locale."""
    forms = PHRASES[phrase][language]
    category = Locale.parse(language).plural_form(n)
    return forms.get(category, forms["other"]).format(n=number)
