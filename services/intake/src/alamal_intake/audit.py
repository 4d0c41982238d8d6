"""Intake's access audit: the shared audit record (`alamal_runtime.audit`) and intake's actions."""

from __future__ import annotations

from enum import StrEnum

from alamal_runtime.audit import (
    ACCESS_AUDIT,
    DEFAULT_REASON,
    REASON_PATTERN,
    AccessAudit,
    AuditOutcome,
    audit,
    audit_from_record,
    audit_of_family,
    entry,
    prepare_audit,
    write_audit,
)


class AuditAction(StrEnum):
    """What the caller tried to do."""

    READ_FAMILY = "read-family"
    READ_CONSENTS = "read-consents"
    RECORD_CONSENT = "record-consent"
    REGISTER_FAMILY = "register-family"
    UPDATE_FAMILY = "update-family"
    SEARCH_FAMILY = "search-family"
    ASSIGN_FAMILY = "assign-family"
    # The privacy officer's actions (AVG requests)
    EXPORT_FAMILY = "export-family"
    PRIVACY_SEARCH = "privacy-search"
    REQUEST_ERASURE = "request-erasure"
    APPROVE_ERASURE = "approve-erasure"
    REJECT_ERASURE = "reject-erasure"
    READ_ERASURES = "read-erasures"


__all__ = [
    "ACCESS_AUDIT",
    "DEFAULT_REASON",
    "REASON_PATTERN",
    "AccessAudit",
    "AuditAction",
    "AuditOutcome",
    "audit",
    "audit_from_record",
    "audit_of_family",
    "entry",
    "prepare_audit",
    "write_audit",
]
