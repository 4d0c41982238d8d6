"""Who may see which reports (DESIGN.md, Roles): coordinators their wijken, funders all."""

from __future__ import annotations

from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import HTTPProblem

REPORT_ROLES = frozenset({Role.COORDINATOR, Role.FUNDER})


def report_scope(principal: Principal) -> frozenset[str] | None:
    """The wijken the caller's reports cover (None: all); 403 for any other role."""
    if principal.role is Role.COORDINATOR:
        return principal.wijken
    if principal.role is Role.FUNDER:
        return None
    raise HTTPProblem(403, "reports are for coordinators and funders")


def may_see_staff(principal: Principal) -> bool:
    """Only coordinators see breakdowns by staff member; funders get aggregates only."""
    return principal.role is Role.COORDINATOR
