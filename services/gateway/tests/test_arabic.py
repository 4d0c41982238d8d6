"""Arabic that reads right: instructions address men and women alike, lists use the Arabic
comma, counted phrases use the dual, and pills that wrap stay inside their pill."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from babel.messages.pofile import read_po

from alamal_gateway.i18n import catalogue_path

PACKAGE = Path(str(resources.files("alamal_gateway")))
FEMININE = re.compile(
    r"(?<![\u0600-\u06ff])(?:حاولي|اختاري|أدخلي|اشرحي|اسألي|واسألي|ارجعي|أعيدي|أرسلي|وأرسلي|انسخي"
    r"|أعطيه|انتظري|أخبري|استخدمي|اطلبي|سلّميها|سلميها|اكتبي|راجعي|احفظي|تأكدي|اضغطي|أضيفي)"
    r"(?![\u0600-\u06ff])|أدخلتِ|لاحظتِ|منسقة"
)
"""Feminine imperatives and forms that assume the reader (or the coordinator) is a woman."""


def arabic() -> dict[str, str]:
    with (PACKAGE / catalogue_path("ar")).open("rb") as po:
        return {m.id: str(m.string) for m in read_po(po) if isinstance(m.id, str) and m.id}


def test_arabic_instructions_are_gender_neutral() -> None:
    found = {msgid: text for msgid, text in arabic().items() if FEMININE.search(text)}
    assert not found, (
        f"feminine forms in the Arabic UI (Tussen In trusted persons are men): {found}"
    )


def test_the_check_finds_a_feminine_imperative() -> None:
    assert FEMININE.search("حاولي مرة أخرى")
    assert FEMININE.search("إلا لمنسقة الحي")
    assert not FEMININE.search("يُرجى المحاولة مرة أخرى")


def test_pills_wrap_inside_their_border() -> None:
    css = (PACKAGE / "static" / "app.css").read_text(encoding="utf-8")
    rule = re.search(r"\.badge,\.pill\{([^}]*)\}", css)
    assert rule is not None
    for declaration in ("display:inline-block", "white-space:normal", "overflow-wrap:anywhere"):
        assert declaration in rule.group(1)
