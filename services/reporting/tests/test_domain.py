"""Facts, merge and reports without I/O (unit)."""

from __future__ import annotations

import random
from collections.abc import Iterable

import pytest

from alamal_contracts.codes import ConsentPurpose, ReferralStatus, Wijk
from alamal_contracts.events import ConsentChanged, Event, ReferralUpdated
from alamal_reporting.domain import reports
from alamal_reporting.domain.facts import FactDoc, facts_of
from alamal_reporting.domain.model import Period, ReadModel, Snapshot, household_band, read_model
from alamal_reporting.domain.tables import Cell, Table
from alamal_reporting.store import combine

from .flow import YEAR, Flow, at, family, new_id, standard_flow

YEAR_PERIOD = Period(at(1, 1).date(), at(12, 31).date())


def model_of(events: Iterable[Event], *, wijken: frozenset[str] | None = None) -> ReadModel:
    """The read model after merging `events` in the given order."""
    pending: dict[tuple[str, str], FactDoc] = {}
    for event in events:
        combine(pending, facts_of(event))
    by: dict[str, dict[str, FactDoc]] = {}
    for (collection, entity_id), doc in pending.items():
        by.setdefault(collection, {})[entity_id] = doc
    snapshot = Snapshot(
        families=by.get("rp-families", {}),
        cases=by.get("rp-cases", {}),
        visits=by.get("rp-visits", {}),
        referrals=by.get("rp-referrals", {}),
        goals=by.get("rp-goals", {}),
    )
    return read_model(snapshot, wijken=wijken)


def table(model: ReadModel, report: str, breakdown: str, period: Period = YEAR_PERIOD) -> Table:
    """One suppressed table of the model."""
    return reports.build(model, report, breakdown, period)


def as_dict(t: Table) -> dict[str, tuple[Cell, ...]]:
    """Rows by label, with the total under `total`."""
    return {row.label: row.cells for row in t.rows} | {"total": t.total.cells}


def all_tables(model: ReadModel, period: Period = YEAR_PERIOD) -> list[Table]:
    """Every report and breakdown."""
    return [
        table(model, report, breakdown, period)
        for report, builders in reports.REPORTS.items()
        for breakdown in builders
    ]


def test_the_standard_flow_counts_consenting_families_with_suppression() -> None:
    model = model_of(event for _, event in standard_flow().events)
    assert as_dict(table(model, "families", "wijk")) == {
        "oost": ("<5",),
        "west": ("<5",),  # complementary: otherwise oost = total - west - zuid
        "zuid": (6,),
        "total": (13,),
    }
    assert as_dict(table(model, "families", "household")) == {
        "one-parent/children-0": ("<5",),
        "one-parent/children-1-2": (6,),
        "one-parent/children-3+": ("<5",),
        "total": (13,),
    }
    assert as_dict(table(model, "contacts", "kind")) == {
        "home-visit": (13, 13),
        "phone": (13, 13),
        "total": (26, 13),
    }
    assert as_dict(table(model, "contacts", "month")) == {
        f"{YEAR}-03": (13, 13),
        f"{YEAR}-04": (13, 13),
        "total": (26, 13),
    }
    assert as_dict(table(model, "referrals", "partner-kind")) == {
        "youth-care": (6, 6, 3.0),
        "total": (6, 6, 3.0),
    }
    assert as_dict(table(model, "outcomes", "goal-status")) == {
        "reached": (13, 13),
        "total": (13, 13),
    }
    assert as_dict(table(model, "outcomes", "closure-outcome")) == {
        "goals-reached": (13, 13),
        "total": (13, 13),
    }
    assert as_dict(table(model, "follow-up", "first-contact"))["15-30-days"] == (13, 13)


def test_a_coordinators_scope_limits_the_families_counted() -> None:
    model = model_of((e for _, e in standard_flow().events), wijken=frozenset({"zuid"}))
    assert as_dict(table(model, "families", "wijk")) == {"zuid": (6,), "total": (6,)}


def test_shuffled_and_duplicated_events_give_the_in_order_result() -> None:
    events = [event for _, event in standard_flow().events]
    in_order = all_tables(model_of(events))
    rng = random.Random(5)
    for _ in range(5):
        replay = events + rng.sample(events, k=len(events) // 2)
        rng.shuffle(replay)
        assert all_tables(model_of(replay)) == in_order


def test_a_withdrawal_removes_the_family_from_reports_of_the_past() -> None:
    flow = Flow()
    ids = [family(flow, wijk=Wijk.ZUID) for _ in range(6)]
    events = [e for _, e in flow.events]
    assert as_dict(table(model_of(events), "families", "wijk"))["zuid"] == (6,)
    withdrawal = ConsentChanged(
        family_id=ids[0],
        purpose=ConsentPurpose.REPORTING,
        granted=False,
        changed_at=at(12, 30),
        consent_text_version="2003-01",
    )
    assert as_dict(table(model_of([*events, withdrawal]), "families", "wijk"))["zuid"] == (5,)
    # An older grant arriving late does not undo the withdrawal.
    older_grant = withdrawal.model_copy(update={"granted": True, "changed_at": at(12, 1)})
    model = model_of([withdrawal, *events, older_grant])
    assert as_dict(table(model, "families", "wijk"))["zuid"] == (5,)


def test_an_update_before_its_escalation_is_kept_and_the_latest_status_wins() -> None:
    flow = Flow()
    for _ in range(5):
        family(flow, wijk=Wijk.ZUID, referral=True)
    events = [e for _, e in flow.events]
    updates = [e for e in events if isinstance(e, ReferralUpdated)]
    closed = [
        u.model_copy(update={"status": ReferralStatus.CLOSED, "updated_at": at(9, 1)})
        for u in updates
    ]
    model = model_of([*closed, *updates, *reversed(events)])
    assert as_dict(table(model, "referrals", "status")) == {
        "closed": (5, 5, 3.0),
        "total": (5, 5, 3.0),
    }


def test_an_empty_period_gives_empty_tables() -> None:
    model = model_of(e for _, e in standard_flow().events)
    empty = Period(at(1, 1).date().replace(year=YEAR - 2), at(1, 1).date().replace(year=YEAR - 1))
    for t in all_tables(model, empty):
        assert t.rows == ()
        assert all(cell in (0, None) for cell in t.total.cells)


@pytest.mark.parametrize(
    ("children", "parents", "band"),
    [
        (0, 1, "one-parent/children-0"),
        (2, 2, "two-parent/children-1-2"),
        (3, 0, "no-parent/children-3+"),
    ],
)
def test_household_bands(children: int, parents: int, band: str) -> None:
    assert household_band(children, parents) == band


def test_events_reporting_does_not_use_contribute_nothing() -> None:
    care = ConsentChanged(
        family_id=new_id(),
        purpose=ConsentPurpose.CARE,
        granted=False,
        changed_at=at(1, 1),
        consent_text_version="x1",
    )
    assert facts_of(care) == []
