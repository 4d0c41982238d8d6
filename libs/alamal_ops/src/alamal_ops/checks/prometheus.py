"""OpenTelemetry metrics as Prometheus sees them, and the metric names alert rules read.

The collector's Prometheus exporter names metrics with Prometheus' `otlptranslator` (strategy
UnderscoreEscapingWithSuffixes): the name is split on every character outside `[a-zA-Z0-9:]` and
joined with `_`; a unit outside braces adds its Prometheus name (`ms` -> `milliseconds`); a
monotonic counter ends in `_total`; a gauge with unit `1` ends in `_ratio`. Attribute keys become
labels with every character outside `[a-zA-Z0-9_]` replaced by `_`; the exporter adds `job`
(`service.namespace/service.name`) and `instance` (`service.instance.id`). This module mirrors
those rules so a test can check alert rules against the instruments the services really create.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

type Kind = Literal["counter", "gauge", "histogram"]

# otlptranslator's unit map (the part the platform's units can reach).
_UNITS = {
    "d": "days",
    "h": "hours",
    "min": "minutes",
    "s": "seconds",
    "ms": "milliseconds",
    "us": "microseconds",
    "ns": "nanoseconds",
    "By": "bytes",
    "KiBy": "kibibytes",
    "MiBy": "mebibytes",
    "1": "",
    "%": "percent",
}
_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
# Labels every series scraped from the exporter carries.
TARGET_LABELS = frozenset({"job", "instance"})
# Series Prometheus makes itself (per scrape target), not exported by the services.
PROMETHEUS_SERIES = {"up": frozenset(TARGET_LABELS)}


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^a-zA-Z0-9:]+", text) if t]


def _unit_suffixes(unit: str) -> tuple[str, str]:
    main, _, per = unit.partition("/")
    main, per = main.strip(), per.strip()
    main_suffix = "" if not main or "{" in main or "}" in main else _UNITS.get(main, main)
    per_suffix = ""
    if per and "{" not in per and "}" not in per:
        per_suffix = "per_" + _PER_UNITS.get(per, per)
    return "_".join(_tokens(main_suffix)), "_".join(_tokens(per_suffix))


def metric_name(name: str, unit: str, kind: Kind) -> str:
    """The Prometheus name of an OpenTelemetry instrument (without histogram suffixes)."""
    tokens = _tokens(name)
    main, per = _unit_suffixes(unit)
    if main and main not in tokens:
        tokens.append(main)
    if per and per not in tokens:
        tokens.append(per)
    if kind == "counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    joined = "_".join(tokens)
    return f"_{joined}" if joined[:1].isdigit() else joined


def label_name(attribute: str) -> str:
    """The Prometheus label of an OpenTelemetry attribute key."""
    label = re.sub(r"[^a-zA-Z0-9_]", "_", attribute)
    return f"key_{label}" if label[:1].isdigit() else label


@dataclass(slots=True)
class Catalogue:
    """Prometheus series names and the labels each can carry."""

    series: dict[str, set[str]] = field(default_factory=dict)

    def add(self, name: str, unit: str, kind: Kind, attributes: Iterable[str]) -> None:
        """Add one instrument with the attribute keys seen on its points."""
        base = metric_name(name, unit, kind)
        labels = {label_name(a) for a in attributes} | TARGET_LABELS
        names = [base]
        if kind == "histogram":
            names = [f"{base}_bucket", f"{base}_sum", f"{base}_count"]
        for series in names:
            extra = {"le"} if series.endswith("_bucket") else set()
            self.series.setdefault(series, set()).update(labels | extra)


# --- what an alert expression reads --------------------------------------------------------------

_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"offset", "bool", "atan2", "inf", "nan"}
)
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")


@dataclass(frozen=True, slots=True)
class Reference:
    """The series an expression selects, with the labels it matches or groups on."""

    metrics: frozenset[str]
    matched: dict[str, frozenset[str]]  # metric -> labels in its {...} matchers
    grouped: frozenset[str]  # labels in by/without/on/ignoring/group_* clauses


def references(expr: str) -> Reference:
    """Metric names and label names a PromQL expression uses (enough for the platform's rules:
    selectors, aggregations, binary operators, functions, ranges and offsets)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings hold values, not names
    grouped: set[str] = set()
    for match in _GROUPING.finditer(text):
        grouped.update(label.strip() for label in match.group(2).split(",") if label.strip())
    text = _GROUPING.sub(" ", text)
    matched: dict[str, set[str]] = {}
    for match in _SELECTOR.finditer(text):
        name = match.group(1) or ""
        matched.setdefault(name, set()).update(_MATCHER_LABEL.findall(match.group(2)))
    text = _SELECTOR.sub(lambda m: f" {m.group(1) or ''} ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range durations
    text = re.sub(r"\boffset\s+\w+", " ", text)
    metrics = {name for name in matched if name}
    for match in _IDENT.finditer(text):
        word = match.group(0)
        follows = text[match.end() :].lstrip()[:1]
        if word in _KEYWORDS or follows == "(" or re.fullmatch(r"\d+[smhdwy]", word):
            continue
        metrics.add(word)
    return Reference(
        metrics=frozenset(metrics),
        matched={k: frozenset(v) for k, v in matched.items() if k},
        grouped=frozenset(grouped),
    )


def unknown_names(expr: str, catalogue: Catalogue) -> list[str]:
    """Every metric or label in `expr` that the catalogue (or Prometheus itself) lacks."""
    known = {**{k: set(v) for k, v in PROMETHEUS_SERIES.items()}, **catalogue.series}
    ref = references(expr)
    errors = [f"metric {m} is not exported" for m in sorted(ref.metrics) if m not in known]
    labels_in_expr: set[str] = set()
    for metric in ref.metrics & known.keys():
        labels_in_expr |= known[metric]
    for metric, labels in sorted(ref.matched.items()):
        for label in sorted(labels - known.get(metric, labels)):
            errors.append(f"label {label} is not on {metric}")
    errors += [f"label {g} is on none of the metrics" for g in sorted(ref.grouped - labels_in_expr)]
    return errors
