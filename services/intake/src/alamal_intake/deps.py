"""Dependencies the intake routes share: the store and the declared reason for an access."""

from alamal_runtime.audit import AccessReason
from alamal_runtime.http import StoreDep

__all__ = ["AccessReason", "StoreDep"]
