"""Who may see which case (DESIGN.md, Roles)."""

from __future__ import annotations

from alamal_cases.domain import Case
from alamal_runtime.auth import Principal, Role


def may_read(principal: Principal, case: Case) -> bool:
    """A trusted person sees her own cases; a coordinator those in her wijken; no one else."""
    if principal.role is Role.TRUSTED_PERSON:
        return case.trusted_person_id == principal.user_id
    if principal.role is Role.COORDINATOR:
        return case.wijk.value in principal.wijken
    return False


def may_log_visit(principal: Principal, case: Case) -> bool:
    """Whoever may read a case may log a contact on it: its trusted person, or a coordinator."""
    return may_read(principal, case)
