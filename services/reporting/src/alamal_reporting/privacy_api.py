"""Reporting's privacy API: the facts it holds about a family, for the privacy officer only."""

from __future__ import annotations

from alamal_reporting.privacy import export_family
from alamal_runtime.privacy import export_router

router = export_router(
    export_family,
    description="""The facts reporting keeps about the family: per collection (families,
cases, visits, referrals, goals) the stored codes, counts and dates (AVG art. 15). Every
role but the privacy officer gets 403, audited.""",
)
