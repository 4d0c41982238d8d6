"""Intake's request bodies (unit, no I/O): what is accepted, and every refusal names its field."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from alamal_contracts.codes import ConsentPurpose, IntakeSource, MemberRole, Project, Wijk
from alamal_intake.schemas import RegisterFamilyIn

from .conftest import family_body

CALLER = str(uuid.uuid4())
NEXT_YEAR = datetime.now(UTC).year + 1


def changed(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """A valid body with the value at `path` replaced."""
    body = copy.deepcopy(family_body())
    target: Any = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return body


def without(key: str) -> dict[str, Any]:
    """A valid body without one top-level field."""
    body = family_body()
    del body[key]
    return body


def error_locations(body: dict[str, Any]) -> set[tuple[str | int, ...]]:
    """Where validation failed (pydantic `loc`, as tuples)."""
    with pytest.raises(ValidationError) as caught:
        RegisterFamilyIn.model_validate(body)
    return {tuple(e["loc"]) for e in caught.value.errors()}


def test_a_valid_body_becomes_the_domain_command() -> None:
    command = RegisterFamilyIn.model_validate(family_body()).to_command(
        default_trusted_person=CALLER
    )
    assert command.wijk is Wijk.OVERVECHT
    assert command.projects == (Project.TUSSEN_IN,)
    assert command.languages == ("nl", "ar")
    assert command.intake_source is IntakeSource.SCHOOL
    assert command.trusted_person_id == CALLER
    assert command.consents == ((ConsentPurpose.CARE, True), (ConsentPurpose.REPORTING, False))
    assert command.consent_text_version == "2026-1"
    mother, child = command.members
    assert (mother.role, mother.birth_year, mother.first_name, mother.surname) == (
        MemberRole.MOTHER,
        1984,
        "Fatima",
        "El Amrani",
    )
    assert mother.languages == ("ar", "nl")
    assert (child.role, child.surname, child.languages) == (MemberRole.CHILD, None, ())


def test_the_named_trusted_person_is_assigned_in_canonical_form() -> None:
    chosen = uuid.uuid4()
    body = family_body(str(chosen).upper())
    command = RegisterFamilyIn.model_validate(body).to_command(default_trusted_person=CALLER)
    assert command.trusted_person_id == str(chosen)


def test_names_are_stripped_of_surrounding_spaces() -> None:
    body = changed(("members", 0, "first_name"), "  Fatima ")
    parsed = RegisterFamilyIn.model_validate(body)
    assert parsed.members[0].first_name == "Fatima"


def test_this_years_baby_is_accepted() -> None:
    body = changed(("members", 1, "birth_year"), datetime.now(UTC).year)
    assert RegisterFamilyIn.model_validate(body).members[1].birth_year == datetime.now(UTC).year


def test_optional_fields_have_safe_defaults() -> None:
    body = family_body()
    for optional in ("projects", "consents"):
        del body[optional]
    parsed = RegisterFamilyIn.model_validate(body)
    assert parsed.projects == []
    assert parsed.consents == []
    assert parsed.trusted_person_id is None


INVALID: list[Any] = [
    pytest.param(changed(("members",), []), ("members",), id="no-members"),
    pytest.param(without("members"), ("members",), id="members-missing"),
    pytest.param(
        changed(("members",), [family_body()["members"][1]] * 31), ("members",), id="31-members"
    ),
    pytest.param(
        changed(("members", 1, "birth_year"), NEXT_YEAR),
        ("members", 1, "birth_year"),
        id="future-birth-year",
    ),
    pytest.param(
        changed(("members", 0, "birth_year"), 1899),
        ("members", 0, "birth_year"),
        id="birth-year-before-1900",
    ),
    pytest.param(
        changed(("members", 0, "role"), "aunt"), ("members", 0, "role"), id="unknown-role"
    ),
    pytest.param(changed(("wijk",), "kanaleneiland"), ("wijk",), id="wijk-not-official"),
    pytest.param(changed(("wijk",), "Overvecht"), ("wijk",), id="wijk-wrong-case"),
    pytest.param(without("wijk"), ("wijk",), id="wijk-missing"),
    pytest.param(changed(("languages",), ["NL"]), ("languages", 0), id="language-uppercase"),
    pytest.param(changed(("languages",), ["nld"]), ("languages", 0), id="language-3-letters"),
    pytest.param(changed(("languages",), []), ("languages",), id="no-household-language"),
    pytest.param(changed(("languages",), ["nl", "nl"]), ("languages",), id="language-twice"),
    pytest.param(
        changed(("members", 0, "languages"), ["arabic"]),
        ("members", 0, "languages", 0),
        id="member-language-not-a-code",
    ),
    pytest.param(
        changed(
            ("consents",),
            [{"purpose": "care", "granted": True}, {"purpose": "care", "granted": False}],
        ),
        ("consents",),
        id="consent-purpose-twice",
    ),
    pytest.param(
        changed(("consents",), [{"purpose": "marketing", "granted": True}]),
        ("consents", 0, "purpose"),
        id="consent-purpose-unknown",
    ),
    pytest.param(
        changed(("projects",), ["tussen-in", "tussen-in"]), ("projects",), id="project-twice"
    ),
    pytest.param(changed(("projects",), ["chess-club"]), ("projects", 0), id="project-unknown"),
    pytest.param(
        changed(("intake_source",), "newspaper"), ("intake_source",), id="intake-source-unknown"
    ),
    pytest.param(
        changed(("trusted_person_id",), "not-a-uuid"),
        ("trusted_person_id",),
        id="trusted-person-not-a-uuid",
    ),
    pytest.param(changed(("nickname",), "Fafa"), ("nickname",), id="unknown-field"),
    pytest.param(
        changed(("members", 0, "address"), "Straat 1"),
        ("members", 0, "address"),
        id="unknown-member-field",
    ),
    pytest.param(
        changed(("members", 0, "first_name"), "F" * 101),
        ("members", 0, "first_name"),
        id="first-name-too-long",
    ),
    pytest.param(
        changed(("members", 0, "surname"), "A" * 101),
        ("members", 0, "surname"),
        id="surname-too-long",
    ),
    pytest.param(
        changed(("members", 0, "first_name"), "   "),
        ("members", 0, "first_name"),
        id="first-name-blank",
    ),
    pytest.param(
        changed(("consent_text_version",), "2025 01; drop"),
        ("consent_text_version",),
        id="consent-text-version-free-text",
    ),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_input_is_rejected_naming_the_field(
    body: dict[str, Any], field: tuple[str | int, ...]
) -> None:
    assert field in error_locations(body)


def test_every_bad_field_is_named_at_once() -> None:
    body = changed(("wijk",), "nowhere")
    body["members"][0]["birth_year"] = NEXT_YEAR
    body["languages"] = ["xyz"]
    assert error_locations(body) >= {("wijk",), ("members", 0, "birth_year"), ("languages", 0)}
