"""Cases' privacy API: everything cases holds about a family, for the privacy officer only."""

from __future__ import annotations

from alamal_cases.privacy import export_family
from alamal_runtime.privacy import export_router

router = export_router(
    export_family,
    description="""The family's cases with visits (notes included), plan, referrals and
answers, the consent and assignment projections, and cases' access audit of the family (AVG
art. 15).

A family cases holds nothing about gets empty sections. Every role but the privacy officer
gets 403, audited.""",
)
