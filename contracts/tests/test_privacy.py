"""Events are thin: no names, addresses, birth dates, phone numbers, e-mail or free text."""

import pytest
from pydantic import BaseModel, Field

from alamal_contracts.events import EVENT_MODELS, Event
from alamal_contracts.privacy import free_text_fields, personal_data_fields


class Contact(BaseModel):
    email: str
    street_address: str
    relation: str = Field(pattern="^[a-z]+$", description="Relation code of the contact.")


class Child(BaseModel):
    school_id: str = Field(pattern="^[a-z]+$", description="Id of the school.")
    dateOfBirth: str  # noqa: N815 (camelCase on purpose)


class BadEvent(BaseModel):
    family_id: str = Field(pattern="^[a-z]+$", description="Id of the family.")
    mother_name: str
    birth_date: str
    phone: str
    notes: str
    postcode: str = Field(pattern="^[0-9]{4}[A-Z]{2}$")
    situation: str = Field(description="Free-text summary of the home situation.")
    extra: str = Field(alias="voornaam", pattern="^[a-z]+$", description="An opaque code.")
    free_text: str
    contacts: list[Contact]
    children: dict[str, Child]
    fallback: Contact | None = None


def test_no_event_has_personal_data_fields() -> None:
    for model in EVENT_MODELS:
        assert personal_data_fields(model) == [], model.__name__


def test_no_event_has_unconstrained_strings() -> None:
    for model in EVENT_MODELS:
        assert free_text_fields(model) == [], model.__name__


def test_walker_catches_every_planted_field_including_nested_ones() -> None:
    found = personal_data_fields(BadEvent)
    assert found == [
        "BadEvent.mother_name",
        "BadEvent.birth_date",
        "BadEvent.phone",
        "BadEvent.notes",
        "BadEvent.postcode",
        "BadEvent.situation",
        "BadEvent.extra",
        "BadEvent.free_text",
        "BadEvent.contacts.email",
        "BadEvent.contacts.street_address",
        "BadEvent.children.dateOfBirth",
        "BadEvent.fallback.email",
        "BadEvent.fallback.street_address",
    ]


@pytest.mark.parametrize(
    "safe",
    ["family_id", "consent_text_version", "topic_codes", "visit_count", "age_band", "wijk"],
)
def test_walker_leaves_thin_fields_alone(safe: str) -> None:
    model = type("Thin", (BaseModel,), {"__annotations__": {safe: int}})
    assert personal_data_fields(model) == []


@pytest.mark.parametrize(
    "description",
    [
        "The mother's name",
        "Home address of the family",
        "Date of birth of the child",
        "Mobile phone of the father",
        "E-mail to send the letter to",
        "Free text remarks by the trusted person",
        "Comments from the school",
    ],
)
def test_walker_reads_descriptions(description: str) -> None:
    class Sneaky(BaseModel):
        field_a: int = Field(description=description)

    assert personal_data_fields(Sneaky) == ["Sneaky.field_a"]


def test_free_text_walker_flags_unconstrained_strings_and_free_keys() -> None:
    found = free_text_fields(BadEvent)
    assert "BadEvent.mother_name" in found
    assert "BadEvent.situation" in found
    assert "BadEvent.contacts[].email" in found
    assert "BadEvent.children{key}" in found
    assert "BadEvent.family_id" not in found
    assert "BadEvent.postcode" not in found  # constrained: only the name check catches it


def test_event_base_is_thin_too() -> None:
    assert personal_data_fields(Event) == []
