"""The topics the embedded stack creates at start-up, taken from the contracts package."""

from __future__ import annotations

from collections.abc import Iterable

from alamal_stack.processes import StackError
from alamal_stack.services import ServiceSpec


def platform_topics(services: Iterable[ServiceSpec]) -> list[str]:
    """Every event topic in the contracts plus one dead-letter topic per service."""
    # Imported here: the stack's other parts (broker, keys) must work without the contracts.
    try:
        from alamal_contracts.topics import ALL_EVENT_TOPICS, dead_letter_topic
    except ImportError as exc:
        raise StackError(f"cannot read the topic list from alamal_contracts.topics: {exc}") from exc

    topics = set(ALL_EVENT_TOPICS)
    topics |= {dead_letter_topic(s.name) for s in services}
    return sorted(topics)
