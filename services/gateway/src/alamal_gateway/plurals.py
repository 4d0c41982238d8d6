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
    "days": {
        "nl": {"one": "1 dag", "other": "{n} dagen"},
        "en": {"one": "1 day", "other": "{n} days"},
        "ar": {
            "zero": "{n} يوم",
            "one": "يوم واحد",
            "two": "يومان",
            "few": "{n} أيام",
            "many": "{n} يوماً",
            "other": "{n} يوم",
        },
    },
    "within-days": {
        "nl": {"one": "binnen 1 dag", "other": "binnen {n} dagen"},
        "en": {"one": "within 1 day", "other": "within {n} days"},
        "ar": {
            "zero": "الآن",
            "one": "خلال يوم واحد",
            "two": "خلال يومين",
            "few": "خلال {n} أيام",
            "many": "خلال {n} يوماً",
            "other": "خلال {n} يوم",
        },
    },
    "retention-families": {
        "nl": {"one": "1 gezin", "other": "{n} gezinnen"},
        "en": {"one": "1 family", "other": "{n} families"},
        "ar": {
            "zero": "لا أسر",
            "one": "أسرة واحدة",
            "two": "أسرتان",
            "few": "{n} أسر",
            "many": "{n} أسرة",
            "other": "{n} أسرة",
        },
    },
    "retention-notes": {
        "nl": {"one": "1 privénotitie", "other": "{n} privénotities"},
        "en": {"one": "1 private note", "other": "{n} private notes"},
        "ar": {
            "zero": "لا ملاحظات خاصة",
            "one": "ملاحظة خاصة واحدة",
            "two": "ملاحظتان خاصتان",
            "few": "{n} ملاحظات خاصة",
            "many": "{n} ملاحظة خاصة",
            "other": "{n} ملاحظة خاصة",
        },
    },
    "retention-access-records": {
        "nl": {"one": "1 toegangsregistratie", "other": "{n} toegangsregistraties"},
        "en": {"one": "1 access record", "other": "{n} access records"},
        "ar": {
            "zero": "لا سجلات وصول",
            "one": "سجل وصول واحد",
            "two": "سجلّا وصول",
            "few": "{n} سجلات وصول",
            "many": "{n} سجل وصول",
            "other": "{n} سجل وصول",
        },
    },
    "retention-delivery-records": {
        "nl": {"one": "1 bezorgregistratie", "other": "{n} bezorgregistraties"},
        "en": {"one": "1 delivery record", "other": "{n} delivery records"},
        "ar": {
            "zero": "لا سجلات تسليم",
            "one": "سجل تسليم واحد",
            "two": "سجلّا تسليم",
            "few": "{n} سجلات تسليم",
            "many": "{n} سجل تسليم",
            "other": "{n} سجل تسليم",
        },
    },
    "retention-dead-letters": {
        "nl": {"one": "1 onbestelbaar bericht", "other": "{n} onbestelbare berichten"},
        "en": {"one": "1 dead letter", "other": "{n} dead letters"},
        "ar": {
            "zero": "لا رسائل غير قابلة للمعالجة",
            "one": "رسالة واحدة غير قابلة للمعالجة",
            "two": "رسالتان غير قابلتين للمعالجة",
            "few": "{n} رسائل غير قابلة للمعالجة",
            "many": "{n} رسالة غير قابلة للمعالجة",
            "other": "{n} رسالة غير قابلة للمعالجة",
        },
    },
}


def counted(phrase: str, n: int, language: str, number: str) -> str:
    """`phrase` for `n` in `language`; `number` is n formatted for the locale."""
    forms = PHRASES[phrase][language]
    category = Locale.parse(language).plural_form(n)
    return forms.get(category, forms["other"]).format(n=number)
