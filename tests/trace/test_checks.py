"""The trace test's own checks fail when the spans are broken on purpose."""

from __future__ import annotations

from .otlp import ReceivedSpan, leaks, tree_errors

TRACE, ROOT = "a" * 32, "b" * 16


def span(span_id: str, parent: str, *, text: str = "", trace: str = TRACE) -> ReceivedSpan:
    """A received span with just the fields the checks read."""
    return ReceivedSpan("cases", "consume", 5, trace, span_id, parent, {}, text)


def test_a_connected_tree_passes() -> None:
    spans = [span("1" * 16, ROOT), span("2" * 16, "1" * 16), span("3" * 16, "2" * 16)]
    assert tree_errors(spans, TRACE, ROOT) == []


def test_a_span_that_lost_its_parent_is_reported() -> None:
    spans = [span("1" * 16, ROOT), span("2" * 16, "9" * 16)]
    assert tree_errors(spans, TRACE, ROOT) == [
        f"cases/consume: parent {'9' * 16} is not in the trace"
    ]


def test_a_second_root_in_the_trace_is_reported() -> None:
    assert tree_errors([span("1" * 16, "")], TRACE, ROOT) == [
        "cases/consume: parent none is not in the trace"
    ]


def test_spans_of_other_traces_are_not_part_of_the_tree() -> None:
    assert tree_errors([span("1" * 16, "", trace="c" * 32)], TRACE, ROOT) == []


def test_a_planted_value_in_a_span_is_reported() -> None:
    spans = [span("1" * 16, ROOT, text="consume {'note': 'Planted-visit-note-4410'}")]
    assert leaks(spans, ["Planted-visit-note-4410"]) == ["cases/consume: Planted-visit-note-4410"]
    assert leaks(spans, ["Fatima-Plantdata"]) == []
