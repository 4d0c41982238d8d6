"""Who may see which case (DESIGN.md, Roles)."""

from __future__ import annotations

from alamal_cases.domain import Case
from alamal_runtime.auth import Principal, Role


def may_read(principal: Principal, case: Case) -> bool:
    """A trusted person sees the cases she holds (also as the father's trusted person in
    Tussen In); a coordinator those in her wijken; no one else (admins do no casework)."""
    if principal.role is Role.TRUSTED_PERSON:
        return case.held_by(principal.user_id)
    if principal.role is Role.COORDINATOR:
        return case.wijk.value in principal.wijken
    return False


def may_log_visit(principal: Principal, case: Case) -> bool:
    """Whoever may read a case may log a contact on it: its trusted person, or a coordinator."""
    return may_read(principal, case)


def may_propose_referral(principal: Principal, case: Case) -> bool:
    """The case's trusted person, or a coordinator of its wijk."""
    return may_read(principal, case)


def may_send_referral(principal: Principal, case: Case) -> bool:
    """Whoever may propose may send (routine ones only once a coordinator approved them)."""
    return may_read(principal, case)


def may_decide_referral(principal: Principal, case: Case) -> bool:
    """Approve, record a Meldcode override or the partner's answer: a coordinator in scope."""
    return principal.role is Role.COORDINATOR and may_read(principal, case)


def may_edit_plan(principal: Principal, case: Case) -> bool:
    """The plan is made with the family by whoever works with it: holders and coordinators."""
    return may_read(principal, case)


def may_close(principal: Principal, case: Case) -> bool:
    """The case's own trusted person (not the father's alongside her), or a coordinator."""
    if principal.role is Role.TRUSTED_PERSON:
        return case.trusted_person_id == principal.user_id
    return principal.role is Role.COORDINATOR and may_read(principal, case)
