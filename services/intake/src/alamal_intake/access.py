"""Who may do what with a family at intake (DESIGN.md, Roles)."""

from __future__ import annotations

from alamal_intake.domain import Family
from alamal_runtime.auth import Principal, Role


def may_register(principal: Principal, *, wijk: str, trusted_person_id: str) -> bool:
    """A trusted person registers families for herself; a coordinator in her wijken."""
    if principal.role is Role.TRUSTED_PERSON:
        return trusted_person_id == principal.user_id
    if principal.role is Role.COORDINATOR:
        return wijk in principal.wijken
    return False


def may_read(principal: Principal, family: Family) -> bool:
    """A trusted person reads her own families; a coordinator those in her wijken."""
    if principal.role is Role.TRUSTED_PERSON:
        return family.trusted_person_id == principal.user_id
    if principal.role is Role.COORDINATOR:
        return family.wijk.value in principal.wijken
    return False


def may_record_consent(principal: Principal, family: Family) -> bool:
    """Whoever may read the family may record its answers (the same caseload)."""
    return may_read(principal, family)


def may_read_audit(principal: Principal, family: Family | None) -> bool:
    """Admins see any family's audit (ids and codes only); a coordinator those of her wijken."""
    if principal.role is Role.ADMIN:
        return True
    if principal.role is Role.COORDINATOR and family is not None:
        return family.wijk.value in principal.wijken
    return False
