"""Cases' free text at rest: ciphertext in every store file, plaintext through the API."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from alamal_cases.domain import CaseStatus
from alamal_contracts.codes import PartnerKind
from alamal_runtime.auth import Role
from alamal_runtime.sealing import SealedStore
from alamal_runtime.store import Store
from alamal_stack.leak_scan import hits_in, hits_under

from .conftest import Caller, seed_case, seed_partner
from .test_visits_api import log, visit_body

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

PLANTED = {
    "visit_note": "Moeder vertelde over de schulden bij de woningbouw",
    "strength_seen": "Oudste dochter helpt met huiswerk",
    "plan_strength": "Oma woont om de hoek en kookt elke dag",
    "goal": "Zoon gaat weer naar de voetbalclub in Zuilen",
    "progress": "Eerste training was een succes, وقال إنه سعيد",
    "referral_note": "Vader wil hulp bij het vinden van werk",
    "held_note": "Gebeld vanuit de bus, dossier was al dicht",
}


async def test_casework_free_text_is_ciphertext_on_disk_and_readable_through_the_api(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    me = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=me.user_id)
    logged = await log(
        client,
        me,
        case.id,
        private_note=PLANTED["visit_note"],
        strengths_observed=[PLANTED["strength_seen"]],
    )
    assert logged.status_code == 201, logged.text
    plan = f"/cases/{case.id}/plan"
    strengths = {"items": [PLANTED["plan_strength"]]}
    assert (await client.put(f"{plan}/strengths", json=strengths, headers=me.headers)).is_success
    goal = await client.post(
        f"{plan}/goals", json={"area": "school", "description": PLANTED["goal"]}, headers=me.headers
    )
    assert goal.status_code == 201, goal.text
    progress = {"status": "in-progress", "note": PLANTED["progress"]}
    changed = await client.patch(
        f"{plan}/goals/{goal.json()['id']}", json=progress, headers=me.headers
    )
    assert changed.status_code == 200, changed.text
    referral = {
        "partner_id": await seed_partner(cases_store, PartnerKind.YOUTH_CARE),
        "urgency": "routine",
        "reason_codes": ["parenting-support"],
        "note": PLANTED["referral_note"],
    }
    proposed = await client.post(f"/cases/{case.id}/referrals", json=referral, headers=me.headers)
    assert proposed.status_code == 201, proposed.text

    closed = await seed_case(cases_store, holder=me.user_id, status=CaseStatus.CLOSED)
    held = await client.post(
        f"/cases/{closed.id}/visits",
        json=visit_body(
            private_note=PLANTED["held_note"], captured_offline_at="2026-01-05T10:00:00+01:00"
        ),
        headers={**me.headers, "Idempotency-Key": "held-for-the-seal-test-1"},
    )
    assert held.status_code == 202, held.text

    answers = [
        held.json(),
        (await client.get(f"/cases/{case.id}/visits", headers=me.headers)).json(),
        (await client.get(plan, headers=me.headers)).json(),
        (await client.get(f"/referrals/{proposed.json()['id']}", headers=me.headers)).json(),
    ]
    served = json.dumps(answers, ensure_ascii=False).encode()
    assert hits_in(served, PLANTED.values()) == list(PLANTED.values())

    assert isinstance(cases_store, SealedStore)
    folder = Path(cases_store.inner.path).parent  # type: ignore[attr-defined]
    assert {"cases.sqlite3", "cases.sqlite3-wal"} <= {p.name for p in folder.iterdir()}
    assert hits_under(folder, PLANTED.values()) == {}
