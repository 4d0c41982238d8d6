"""Mapping between the services' 422 field paths and the page's form fields."""

from __future__ import annotations

import re
from collections.abc import Mapping

from alamal_gateway.i18n import N_

_MEMBER = re.compile(r"^members\.(\d+)\.(\w+)")

FIELD_MESSAGES: Mapping[str, str] = {
    "required": N_("Please fill this in."),
    "invalid": N_("Please check this value."),
    "birth_year": N_("Enter a year like 1985, not in the future."),
    "date": N_("Enter a valid date."),
    "choose": N_("Please choose one."),
    "taken": N_("This username is already taken."),
    "username": N_("Use 3 to 40 lowercase letters, digits, dots or dashes."),
    "password": N_("The password needs at least 12 characters."),
    "closed": N_("This case is closed: nothing can be added."),
    "url": N_("Enter a public https address."),
    "partner": N_(
        "This partner cannot receive referrals now (not active, or not yet known to casework). "
        "Choose another partner or try again in a moment."
    ),
}


def member_field(path: str, rows: list[int]) -> str | None:
    """`members.2.birth_year` -> `m<row>_birth_year` (rows maps list position to form row)."""
    match = _MEMBER.match(path)
    if match is None:
        return None
    position, name = int(match.group(1)), match.group(2)
    row = rows[position] if position < len(rows) else 0
    return f"m{row}_{name}"


def map_fields(
    paths: list[str], known: Mapping[str, str], rows: list[int] | None = None
) -> dict[str, str]:
    """Form field -> message key for each 422 path; unknown paths land on `_form`."""
    errors: dict[str, str] = {}
    for path in paths:
        form_field = member_field(path, rows or [])
        if form_field is None:
            top = path.split(".")[0]
            form_field = known.get(top, "_form")
        errors.setdefault(
            form_field, "birth_year" if form_field.endswith("birth_year") else "invalid"
        )
    return errors
