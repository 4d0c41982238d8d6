import pytest

from alamal_contracts import topics
from alamal_contracts.events import EVENTS


def test_all_event_topics_follow_the_naming_rule_and_are_unique() -> None:
    assert len(set(topics.ALL_EVENT_TOPICS)) == len(topics.ALL_EVENT_TOPICS) == len(EVENTS)
    for topic in topics.ALL_EVENT_TOPICS:
        assert topics.TOPIC_PATTERN.fullmatch(topic), topic


def test_every_topic_has_exactly_one_event_model() -> None:
    assert set(EVENTS) == set(topics.ALL_EVENT_TOPICS)


def test_topic_constants_spell_the_catalogue() -> None:
    assert topics.FAMILY_REGISTERED == "intake.family-registered.v1"
    assert topics.CONSENT_CHANGED == "intake.consent-changed.v1"
    assert topics.CASE_OPENED == "cases.case-opened.v1"
    assert topics.CASE_CLOSED == "cases.case-closed.v1"
    assert topics.VISIT_LOGGED == "cases.visit-logged.v1"
    assert topics.REFERRAL_ESCALATED == "cases.referral-escalated.v1"
    assert topics.REFERRAL_UPDATED == "cases.referral-updated.v1"


def test_dead_letter_topic_is_named_after_the_consumer() -> None:
    assert topics.dead_letter_topic("cases") == "cases.dead-letter.v1"
    assert topics.dead_letter_topic("reporting") == "reporting.dead-letter.v1"
    assert topics.TOPIC_PATTERN.fullmatch(topics.dead_letter_topic("notifications"))


@pytest.mark.parametrize("bad", ["", "Cases", "cases.x", "ca ses", "-cases"])
def test_dead_letter_topic_rejects_bad_service_names(bad: str) -> None:
    with pytest.raises(ValueError, match="service name"):
        topics.dead_letter_topic(bad)


def test_event_type_and_producer_derive_from_the_topic() -> None:
    assert topics.event_type(topics.CASE_OPENED) == "nl.alamal.cases.case-opened.v1"
    assert topics.producer_of(topics.FAMILY_REGISTERED) == "intake"
    with pytest.raises(ValueError, match="topic"):
        topics.event_type("not-a-topic")
    with pytest.raises(ValueError, match="topic"):
        topics.producer_of("intake.family-registered")
