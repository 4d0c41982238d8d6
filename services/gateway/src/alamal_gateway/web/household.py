"""The household's rows on the registration and edit forms: read, checked and sent as members.

A row is `m<i>_role`, `m<i>_first_name`, `m<i>_surname`, `m<i>_birth_year`; `rows` says how
many the form holds. A row left empty (no names, no year) is no member.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData

from alamal_gateway.labels import MEMBER_ROLE
from alamal_gateway.web.core import field

MAX_MEMBERS = 30
PARTS = ("role", "first_name", "surname", "birth_year")


def read_rows(form: FormData) -> dict[str, Any]:
    """The member rows of a posted form (at least one, at most MAX_MEMBERS)."""
    rows = field(form, "rows")
    count = max(1, min(int(rows), MAX_MEMBERS)) if rows.isdigit() else 1
    values: dict[str, Any] = {"rows": count}
    for i in range(count):
        for part in PARTS:
            values[f"m{i}_{part}"] = field(form, f"m{i}_{part}")[:100]
    return values


def blank(values: dict[str, Any], i: int) -> bool:
    """True when row `i` holds no name and no year (a role alone is not a person)."""
    return not any(values.get(f"m{i}_{part}") for part in ("first_name", "surname", "birth_year"))


def row_errors(values: dict[str, Any], i: int) -> dict[str, str]:
    """What is missing or wrong in row `i` (field -> message key); empty when complete."""
    errors: dict[str, str] = {}
    year = values.get(f"m{i}_birth_year", "")
    if values.get(f"m{i}_role") not in MEMBER_ROLE:
        errors[f"m{i}_role"] = "choose"
    if not values.get(f"m{i}_first_name"):
        errors[f"m{i}_first_name"] = "required"
    if not (year.isdigit() and 1900 <= int(year) <= datetime.now(UTC).year):
        errors[f"m{i}_birth_year"] = "birth_year"
    return errors


def members(values: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, str], list[int]]:
    """The members to send, the errors found before sending, and the form row of each member.

    Empty rows are skipped; without any member the first row's name is asked for."""
    found: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    rows: list[int] = []
    for i in range(values["rows"]):
        if blank(values, i):
            continue
        errors |= row_errors(values, i)
        year = values[f"m{i}_birth_year"]
        member: dict[str, Any] = {
            "role": values[f"m{i}_role"],
            "first_name": values[f"m{i}_first_name"],
            "birth_year": int(year) if year.isdigit() else 0,
        }
        if values[f"m{i}_surname"]:
            member["surname"] = values[f"m{i}_surname"]
        found.append(member)
        rows.append(i)
    if not found:
        errors |= row_errors(values, 0)
    return found, errors, rows


def without_blank_rows(values: dict[str, Any]) -> dict[str, Any]:
    """The same values with empty rows taken out and the rest numbered from 0."""
    kept = [i for i in range(values["rows"]) if not blank(values, i)] or [0]
    renumbered = {k: v for k, v in values.items() if not _is_member_key(k)}
    for new, old in enumerate(kept):
        for part in PARTS:
            renumbered[f"m{new}_{part}"] = values.get(f"m{old}_{part}", "")
    renumbered["rows"] = len(kept)
    return renumbered


def _is_member_key(key: str) -> bool:
    head, _, part = key.partition("_")
    return head[:1] == "m" and head[1:].isdigit() and part in PARTS
