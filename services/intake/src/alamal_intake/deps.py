"""Dependencies the intake routes share: the store and the declared reason for an access."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from alamal_intake.audit import REASON_PATTERN
from alamal_runtime.store import Store


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]

AccessReason = Annotated[
    str,
    Header(
        alias="X-Access-Reason",
        pattern=REASON_PATTERN,
        description="Why the caller accesses the family: a short code, recorded in the audit.",
    ),
]
"""The `X-Access-Reason` header; routes default it to `audit.DEFAULT_REASON`."""
