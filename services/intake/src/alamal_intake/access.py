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
    """A trusted person reads her own families (the father's one too); a coordinator her wijken."""
    if principal.role is Role.TRUSTED_PERSON:
        return principal.user_id in (family.trusted_person_id, family.father_trusted_person_id)
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


def may_update(principal: Principal, family: Family) -> bool:
    """Whoever may read the family may change its details (the same caseload)."""
    return may_read(principal, family)


def may_move_to(principal: Principal, wijk: str) -> bool:
    """Only a coordinator moves a family to another wijk, and only into one of hers."""
    return principal.role is Role.COORDINATOR and wijk in principal.wijken


def may_assign(principal: Principal, family: Family) -> bool:
    """Only a coordinator assigns trusted persons, for families in her wijken."""
    return principal.role is Role.COORDINATOR and family.wijk.value in principal.wijken
