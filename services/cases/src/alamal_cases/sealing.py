"""Which of cases' fields are personal: sealed at rest with the family's data key.

Free text written about a family (visit notes and strengths seen, also of visits held for a
coordinator, the plan's strengths, goals and progress notes, a referral's note) is sealed;
ids, codes, dates and states stay plaintext because queries, indexes and reports use them.
"""

from alamal_cases.held_visit_store import HELD_VISITS
from alamal_cases.plan_store import GOALS, STRENGTHS
from alamal_cases.referral_store import REFERRALS
from alamal_cases.store import CASES, VISITS
from alamal_runtime.sealing import FamilyOfDocument, SealedCollection, SealSchema

SEALED: SealSchema = {
    VISITS: SealedCollection(fields=("strengths_observed", "private_note")),
    GOALS: SealedCollection(fields=("description", "progress_notes")),
    # The strengths list is keyed by its case: its family is the case's.
    STRENGTHS: SealedCollection(fields=("items",), family=FamilyOfDocument(CASES)),
    REFERRALS: SealedCollection(fields=("note",)),
    # A visit saved offline and held for a coordinator carries the same free text.
    HELD_VISITS: SealedCollection(fields=("strengths_observed", "private_note")),
}
