"""Retention: personal data kept no longer than needed (AVG art. 5(1)(e)), per category.

Each service declares its rules (`ServiceRuntime.retain`; audit records and dead letters are
declared for every service by the runtime). The schedule runs them every
`<PREFIX>RETENTION_INTERVAL_SECONDS` and on demand, and keeps a deletion log (category, rule,
how many, when; no personal data) that the privacy officer reads, with a dry run of what the
rules would delete within a number of days. Defaults and reasoning: docs/retention.md.
"""

from alamal_runtime.retention.policy import DEFAULT_KEEP_DAYS, Category, Policy
from alamal_runtime.retention.schedule import (
    RETENTION_LOG,
    AgeRule,
    Due,
    Outcome,
    RetentionSchedule,
    Rule,
    instant,
)

__all__ = [
    "DEFAULT_KEEP_DAYS",
    "RETENTION_LOG",
    "AgeRule",
    "Category",
    "Due",
    "Outcome",
    "Policy",
    "RetentionSchedule",
    "Rule",
    "instant",
]
