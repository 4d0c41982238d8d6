from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from alamal_contracts.events import (
    EVENT_MODELS,
    EVENTS,
    EVENTS_BY_TYPE,
    CaseOpened,
    Event,
    EventBase,
    FamilyRegistered,
    OperationalEvent,
    ReferralEscalated,
    ReferralUpdated,
    VisitLogged,
)
from alamal_contracts.introspect import nested_models, walk_fields
from alamal_contracts.topics import ALL_EVENT_TOPICS

from .conftest import FAMILY, make_events


def _sample(model: type[Event]) -> Event:
    return next(e for e in make_events() if type(e) is model)


def _with(model: type[Event], **changes: Any) -> dict[str, Any]:
    return {**_sample(model).model_dump(), **changes}


def test_registries_map_topic_and_type_to_the_model() -> None:
    assert len(EVENT_MODELS) == len(EVENTS) == len(EVENTS_BY_TYPE) == len(ALL_EVENT_TOPICS)
    for model in EVENT_MODELS:
        assert EVENTS[model.TOPIC] is model
        assert EVENTS_BY_TYPE[model.CE_TYPE] is model
        assert model.CE_TYPE == "nl.alamal." + model.TOPIC
    assert FamilyRegistered.CE_TYPE == "nl.alamal.intake.family-registered.v1"


def test_registries_are_read_only() -> None:
    with pytest.raises(TypeError):
        EVENTS["x.y.v1"] = CaseOpened  # type: ignore[index]


def test_every_event_carries_its_partition_key(event: EventBase) -> None:
    if isinstance(event, OperationalEvent):
        assert "family_id" not in type(event).model_fields
        assert event.partition_key in event.model_dump().values()
    else:
        assert isinstance(event, Event)
        assert event.family_id == FAMILY
        assert event.partition_key == FAMILY


def test_events_round_trip_through_json(event: Event) -> None:
    assert type(event).model_validate_json(event.model_dump_json()) == event


def test_events_are_frozen(event: Event) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        event.family_id = "00000000-0000-0000-0000-000000000000"  # type: ignore[misc]


def test_events_forbid_unknown_fields(event: Event) -> None:
    data = {**event.model_dump(), "mother_name": "x"}
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        type(event).model_validate(data)


@pytest.mark.parametrize("model", EVENT_MODELS, ids=lambda m: m.__name__)
def test_every_field_has_a_description(model: type[Event]) -> None:
    for path, info in walk_fields(model):
        assert info.description, path
        assert len(info.description) > 8, path
    for nested in nested_models(model):
        assert nested.__doc__, nested.__name__
        assert nested.model_config.get("frozen") is True, nested.__name__
        assert nested.model_config.get("extra") == "forbid", nested.__name__


@pytest.mark.parametrize("bad", ["0B9F4C1E-7D52-4A1B-9B43-5F0C2E8A1D01", "42", "fam-1", ""])
def test_ids_must_be_canonical_lowercase_uuids(bad: str) -> None:
    with pytest.raises(ValidationError, match="family_id"):
        CaseOpened.model_validate(_with(CaseOpened, family_id=bad))


def test_timestamps_must_be_aware_and_are_normalised_to_utc() -> None:
    with pytest.raises(ValidationError, match="opened_at"):
        CaseOpened.model_validate(_with(CaseOpened, opened_at=datetime(2025, 3, 1, 9, 30)))
    local = datetime(2025, 3, 1, 10, 30, tzinfo=timezone(timedelta(hours=1)))
    event = CaseOpened.model_validate(_with(CaseOpened, opened_at=local))
    assert event.opened_at.utcoffset() == timedelta(0)
    assert event.opened_at == local
    assert '"opened_at":"2025-03-01T09:30:00Z"' in event.model_dump_json()


@pytest.mark.parametrize(
    "changes",
    [
        {"projects": ("tussen-in", "tussen-in")},
        {"languages": ("ar", "ar")},
        {"member_counts": ({"role": "child", "age_band": "4-11", "count": 1},) * 2},
        {"consents": ({"purpose": "care", "granted": True}, {"purpose": "care", "granted": False})},
        {"member_counts": ()},
        {"member_counts": ({"role": "child", "age_band": "4-11", "count": 0},)},
        {"languages": ("Arabic",)},
        {"wijk": "kanaleneiland"},
    ],
)
def test_family_registered_rejects_bad_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        FamilyRegistered.model_validate(_with(FamilyRegistered, **changes))


@pytest.mark.parametrize("minutes", [0, -5, 12 * 60 + 1])
def test_visit_duration_is_bounded(minutes: int) -> None:
    with pytest.raises(ValidationError, match="duration_minutes"):
        VisitLogged.model_validate(_with(VisitLogged, duration_minutes=minutes))


def test_visit_duration_bounds_are_inclusive() -> None:
    for minutes in (1, 12 * 60):
        assert VisitLogged.model_validate(_with(VisitLogged, duration_minutes=minutes))


def test_a_meldcode_override_may_address_any_partner_kind() -> None:
    # Issue 3: without consent, a coordinator's recorded Meldcode override lets a referral through
    # to the partner kind that must act (police as well as Veilig Thuis); cases enforces who may.
    for kind in ("police", "veilig-thuis", "youth-care"):
        event = _with(ReferralEscalated, partner_kind=kind, legal_basis="meldcode-override")
        assert ReferralEscalated.model_validate(event).legal_basis == "meldcode-override"


def test_referral_needs_a_reason_code_and_codes_are_not_free_text() -> None:
    with pytest.raises(ValidationError):
        ReferralEscalated.model_validate(_with(ReferralEscalated, reason_codes=()))
    with pytest.raises(ValidationError):
        ReferralEscalated.model_validate(_with(ReferralEscalated, reason_codes=("hit the kids",)))


def test_referral_outcome_code_is_optional() -> None:
    updated = _sample(ReferralUpdated)
    assert isinstance(updated, ReferralUpdated)
    assert updated.outcome_code is None
    with_code = ReferralUpdated.model_validate(_with(ReferralUpdated, outcome_code="placed"))
    assert with_code.outcome_code == "placed"


def test_nested_models_are_found_through_tuples() -> None:
    names = {m.__name__ for m in nested_models(FamilyRegistered)}
    assert names == {"FamilyRegistered", "MemberCount", "ConsentFlag"}
    assert all(issubclass(m, BaseModel) for m in nested_models(FamilyRegistered))
