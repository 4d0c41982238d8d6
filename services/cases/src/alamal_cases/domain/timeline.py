"""A case's timeline: everything written and decided on it, as dated entries, newest first.

Pure: the routes load the case, its visits, plan and referrals; this module turns them into
one ordered list. Consent changes are intake's and are merged in by the page that shows them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from alamal_cases.domain.cases import HOME_ZONE, Case, Visit
from alamal_cases.domain.plan import Goal, Strengths
from alamal_cases.domain.referrals import Referral, ReferralState


class EntryKind(StrEnum):
    """What happened."""

    CASE_OPENED = "case-opened"
    CASE_CLOSED = "case-closed"
    VISIT = "visit"
    STRENGTHS = "strengths"
    GOAL_SET = "goal-set"
    GOAL_PROGRESS = "goal-progress"
    REFERRAL_PROPOSED = "referral-proposed"
    REFERRAL_APPROVED = "referral-approved"
    MELDCODE_OVERRIDE = "meldcode-override"
    REFERRAL_SENT = "referral-sent"
    REFERRAL_ANSWERED = "referral-answered"


@dataclass(frozen=True, slots=True)
class Entry:
    """One dated entry; which optional fields are set depends on the kind."""

    kind: EntryKind
    on: date
    at: datetime
    ref_id: str
    """The visit, goal, referral or case the entry is about."""
    by: str | None = None
    text: str | None = None
    """The words written (a note, a goal, a progress note): shown to those who may read them."""
    codes: tuple[str, ...] = ()
    """Topic, reason or outcome codes."""
    status: str | None = None
    """A goal's current status, a referral's state or urgency."""
    items: tuple[str, ...] = ()
    """Strengths written down or seen."""
    visit: Visit | None = None
    referral: Referral | None = None

    @property
    def key(self) -> tuple[str, str, str, str]:
        """The order of the timeline (newest first when reversed), unique per entry."""
        return (self.on.isoformat(), self.at.isoformat(), self.kind.value, self.ref_id)


def _day(at: datetime) -> date:
    return at.astimezone(HOME_ZONE).date()


def _of_referral(r: Referral) -> list[Entry]:
    entries = [
        Entry(
            EntryKind.REFERRAL_PROPOSED,
            _day(r.proposed_at),
            r.proposed_at,
            r.id,
            by=r.proposed_by,
            text=r.note,
            codes=r.reason_codes,
            status=r.urgency.value,
            referral=r,
        )
    ]
    if r.approved_at is not None:
        entries.append(
            Entry(
                EntryKind.REFERRAL_APPROVED,
                _day(r.approved_at),
                r.approved_at,
                r.id,
                by=r.approved_by,
                referral=r,
            )
        )
    if r.override is not None:
        entries.append(
            Entry(
                EntryKind.MELDCODE_OVERRIDE,
                _day(r.override.at),
                r.override.at,
                r.id,
                by=r.override.by,
                codes=(r.override.reason_code,),
                referral=r,
            )
        )
    if r.sent_at is not None:
        entries.append(
            Entry(
                EntryKind.REFERRAL_SENT, _day(r.sent_at), r.sent_at, r.id, by=r.sent_by, referral=r
            )
        )
    answered = (ReferralState.ACCEPTED, ReferralState.DECLINED, ReferralState.CLOSED)
    if r.state in answered and r.updated_at is not None:
        entries.append(
            Entry(
                EntryKind.REFERRAL_ANSWERED,
                _day(r.updated_at),
                r.updated_at,
                r.id,
                codes=(r.outcome_code,) if r.outcome_code else (),
                status=r.state.value,
                referral=r,
            )
        )
    return entries


def timeline(
    case: Case,
    visits: Iterable[Visit],
    goals: Iterable[Goal],
    strengths: Strengths | None,
    referrals: Iterable[Referral],
) -> list[Entry]:
    """Every entry of the case, newest first."""
    entries = [Entry(EntryKind.CASE_OPENED, _day(case.opened_at), case.opened_at, case.id)]
    if case.closed_at is not None:
        entries.append(
            Entry(
                EntryKind.CASE_CLOSED,
                _day(case.closed_at),
                case.closed_at,
                case.id,
                by=case.closed_by,
                codes=case.outcome_codes,
            )
        )
    for v in visits:
        entries.append(
            Entry(
                EntryKind.VISIT,
                v.occurred_on,
                v.logged_at,
                v.id,
                by=v.trusted_person_id,
                text=v.private_note,
                codes=v.topic_codes,
                items=v.strengths_observed,
                visit=v,
            )
        )
    if strengths is not None:
        entries.append(
            Entry(
                EntryKind.STRENGTHS,
                _day(strengths.updated_at),
                strengths.updated_at,
                case.id,
                by=strengths.updated_by,
                items=strengths.items,
            )
        )
    for g in goals:
        entries.append(
            Entry(
                EntryKind.GOAL_SET,
                _day(g.created_at),
                g.created_at,
                g.id,
                by=g.created_by,
                text=g.description,
                codes=(g.area.value,),
                status=g.status.value,
            )
        )
        for n, note in enumerate(g.progress_notes):
            entries.append(
                Entry(
                    EntryKind.GOAL_PROGRESS,
                    _day(note.at),
                    note.at,
                    f"{g.id}:{n}",
                    by=note.by,
                    text=note.text,
                    codes=(g.area.value,),
                )
            )
    for r in referrals:
        entries.extend(_of_referral(r))
    return sorted(entries, key=lambda e: e.key, reverse=True)
