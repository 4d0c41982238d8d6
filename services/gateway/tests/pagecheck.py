"""What every rendered page must satisfy: no raw code where words belong, and in Arabic no
Latin-only text that is not user data, a code or a name (brands, places, projects)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

SKIPPED = {"script", "style", "code", "bdi", "title"}
"""Elements whose text is not UI wording (user data sits in <bdi>, codes in <code>)."""
NAMES = (
    "Al Amal",
    "Tussen In",
    "Veilig Thuis",
    "GG&GD",
    "Meldcode",
    "Nederlands",
    "English",
    "CSV",
    "ZIP",
    "JSON",
    "Excel",
    "Overvecht",
    "Kanaleneiland",
    "Zuilen",
    "Lombok",
    "Hoograven",
    "Leidsche Rijn",
    "Vleuten-De Meern",
    "Noordwest",
    "Noordoost",
    "Zuidwest",
    "Binnenstad",
    "Oost",
    "West",
    "Zuid",
    "https://",
)
CODE = re.compile(r"^[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+$")
SINGLE_CODES = frozenset(
    {
        "intake",
        "cases",
        "notifications",
        "reporting",
        "gateway",
        "failed",
        "pending",
        "delivered",
        "success",
        "locked",
        "logout",
        "routine",
        "proposed",
        "approved",
        "sent",
        "reached",
    }
)


class _Texts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "img", "input", "meta", "link", "hr"):
            return
        values = dict(attrs)
        skip = (
            tag in SKIPPED
            or values.get("translate") == "no"
            or ("lang" in values and tag != "html" and values.get("lang") != "ar")
        )
        self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            open_tag, _ = self.stack.pop()
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if any(skip for _, skip in self.stack):
            return
        text = data.strip()
        if text:
            self.texts.append(text)


def texts(html: str) -> list[str]:
    """The visible text nodes of a page that are UI wording (not user data or codes)."""
    parser = _Texts()
    parser.feed(html)
    return parser.texts


def raw_codes(html: str, language: str) -> list[str]:
    """Text nodes that are a code (`home-visit`, `referral.escalated`) instead of words."""
    found = []
    for text in texts(html):
        for part in re.split(r"[\s·:,()،]+", text):
            if CODE.fullmatch(part) or (language != "en" and part in SINGLE_CODES):
                found.append(part)
    return found


def latin_in_arabic(html: str) -> list[str]:
    """Text nodes of an Arabic page with Latin letters left once names are taken out."""
    found = []
    for text in texts(html):
        rest = text
        for name in NAMES:
            rest = rest.replace(name, "")
        if re.search(r"[A-Za-z]", rest):
            found.append(text)
    return found
