"""The consent gate decides on the partner's REGISTERED kind, learnt from notifications' partner
facts on the real broker (integration), and every refused attempt is audited.

The three `test_regression_*` tests are the reproductions of issue 11, refused for good.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alamal_cases import referral_store
from alamal_cases.domain import partners
from alamal_cases.domain.partners import PartnerStanding
from alamal_contracts.codes import ConsentPurpose, PartnerKind
from alamal_contracts.events import PartnerChanged, PartnerFact, PartnerRegistered
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

from .conftest import Caller, Producer, kafka_record, seed_case, seed_partner
from .test_referrals_api import act, grant

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]
NOTIFICATIONS = "/alamal/notifications"


def body(partner_id: str, **change: Any) -> dict[str, Any]:
    """A referral to `partner_id`."""
    return {"partner_id": partner_id, "urgency": "urgent", "reason_codes": ["safety"], **change}


async def audit_of(
    client: httpx.AsyncClient, caller: MakeCaller, family_id: str
) -> list[dict[str, Any]]:
    """The family's access audit in cases, as an admin reads it."""
    admin = caller(Role.ADMIN)
    response = await client.get("/audit", params={"family_id": family_id}, headers=admin.headers)
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["records"]
    return records


def refusals(records: list[dict[str, Any]], action: str) -> list[str | None]:
    """The refusal codes of one action's refused attempts."""
    return [
        r["refusal"]
        for r in records
        if r["action"] == action and r["outcome"] == "denied-or-missing"
    ]


async def test_regression_youth_care_partner_declared_as_police_is_refused(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    """Issue 11, first reproduction: consent for the police only, a referral to a registered
    youth-care partner declared as `police`. Refused at proposal (422 on partner_kind); left
    undeclared it is a youth-care referral, and sending it is refused without that consent."""
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    youth_care = await seed_partner(cases_store, PartnerKind.YOUTH_CARE)
    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_POLICE)

    lying = await client.post(
        f"/cases/{case.id}/referrals",
        json=body(youth_care, partner_kind="police"),
        headers=trusted.headers,
    )
    assert lying.status_code == 422, lying.text
    assert lying.json()["fields"] == ["partner_kind"]

    honest = await client.post(
        f"/cases/{case.id}/referrals", json=body(youth_care), headers=trusted.headers
    )
    assert honest.status_code == 201, honest.text
    assert honest.json()["partner_kind"] == "youth-care"
    refused = await act(client, trusted, honest.json()["id"], "send")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "consent for share-youth-care missing"}
    listed = await client.get(f"/cases/{case.id}/referrals", headers=trusted.headers)
    assert [r["state"] for r in listed.json()["results"]] == ["proposed"]

    records = await audit_of(client, caller, case.family_id)
    assert refusals(records, "propose-referral") == ["partner-kind-mismatch"]
    assert refusals(records, "send-referral") == ["consent-missing"]


async def test_regression_police_partner_declared_veilig_thuis_gets_no_override(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    """Issue 11, second reproduction: a registered police partner declared as `veilig-thuis`
    to get a Meldcode override. Refused at proposal; undeclared, the override is refused."""
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    police = await seed_partner(cases_store, PartnerKind.POLICE)

    lying = await client.post(
        f"/cases/{case.id}/referrals",
        json=body(police, partner_kind="veilig-thuis"),
        headers=trusted.headers,
    )
    assert lying.status_code == 422, lying.text
    assert lying.json()["fields"] == ["partner_kind"]

    proposed = await client.post(
        f"/cases/{case.id}/referrals", json=body(police), headers=trusted.headers
    )
    rid = proposed.json()["id"]
    override = await act(client, coordinator, rid, "meldcode-override", {"reason_code": "x"})
    assert override.status_code == 409
    assert override.json() == {"detail": "the Meldcode override applies to Veilig Thuis only"}
    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 409
    records = await audit_of(client, caller, case.family_id)
    assert refusals(records, "record-meldcode-override") == ["meldcode-not-allowed"]
    assert refusals(records, "send-referral") == ["consent-missing"]


async def test_regression_an_unregistered_partner_id_is_refused(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    """Issue 11, third reproduction: a partner id no one registered was accepted and "sent" to
    nobody. Now a 422 on partner_id, audited, and nothing is stored."""
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    for declared in ({}, {"partner_kind": "youth-care"}):
        response = await client.post(
            f"/cases/{case.id}/referrals",
            json=body(str(uuid.uuid4()), **declared),
            headers=trusted.headers,
        )
        assert response.status_code == 422, response.text
        assert response.json()["fields"] == ["partner_id"]
    listed = await client.get(f"/cases/{case.id}/referrals", headers=trusted.headers)
    assert listed.json()["results"] == []
    records = await audit_of(client, caller, case.family_id)
    assert refusals(records, "propose-referral") == ["unknown-partner"] * 2


async def test_an_inactive_partner_is_422_and_one_deactivated_before_sending_409(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_WELFARE)
    inactive = await seed_partner(cases_store, PartnerKind.WELFARE, active=False)
    refused = await client.post(
        f"/cases/{case.id}/referrals", json=body(inactive), headers=trusted.headers
    )
    assert refused.status_code == 422
    assert refused.json()["fields"] == ["partner_id"]

    welfare = await seed_partner(cases_store, PartnerKind.WELFARE)
    rid = (
        await client.post(
            f"/cases/{case.id}/referrals", json=body(welfare), headers=trusted.headers
        )
    ).json()["id"]
    await publish_and_wait(
        producer,
        cases_store,
        PartnerChanged(
            partner_id=welfare,
            kind=PartnerKind.WELFARE,
            active=False,
            revision=2,
            changed_at=datetime.now(UTC),
        ),
    )
    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 409
    assert sent.json() == {"detail": "the partner was deactivated: nothing can be sent to it"}
    records = await audit_of(client, caller, case.family_id)
    assert refusals(records, "propose-referral") == ["inactive-partner"]
    assert refusals(records, "send-referral") == ["inactive-partner"]


async def test_a_kind_change_after_proposal_is_409_until_proposed_again(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    """Proposed to a partner registered as Veilig Thuis, with an override recorded; the partner
    is then registered as police: the referral cannot go out on the old kind's override."""
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    partner = await seed_partner(cases_store, PartnerKind.VEILIG_THUIS)
    rid = (
        await client.post(
            f"/cases/{case.id}/referrals", json=body(partner), headers=trusted.headers
        )
    ).json()["id"]
    recorded = await act(client, coordinator, rid, "meldcode-override", {"reason_code": "unsafe"})
    assert recorded.status_code == 200, recorded.text
    await publish_and_wait(
        producer,
        cases_store,
        PartnerChanged(
            partner_id=partner,
            kind=PartnerKind.POLICE,
            active=True,
            revision=2,
            changed_at=datetime.now(UTC),
        ),
    )
    refused = await act(client, trusted, rid, "send")
    assert refused.status_code == 409
    assert "registered kind changed" in refused.json()["detail"]

    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_POLICE)
    again = await client.post(
        f"/cases/{case.id}/referrals", json=body(partner), headers=trusted.headers
    )
    assert again.json()["partner_kind"] == "police"
    sent = await act(client, trusted, again.json()["id"], "send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["legal_basis"] == "consent"


async def publish_and_wait(producer: Producer, store: Store, fact: PartnerFact) -> None:
    """Publish notifications' partner fact and wait until cases projected that revision."""
    await producer.send(kafka_record(fact, source=NOTIFICATIONS))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        async with store.transaction() as uow:
            standing = await referral_store.partner_in(uow, fact.partner_id)
        if standing is not None and standing.revision >= fact.revision:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("partner fact not projected within 20s")


def _facts(partner_id: str, at: datetime) -> list[PartnerFact]:
    kinds = [PartnerKind.YOUTH_CARE, PartnerKind.POLICE, PartnerKind.VEILIG_THUIS]
    facts: list[PartnerFact] = [
        PartnerRegistered(
            partner_id=partner_id, kind=kinds[0], active=True, revision=1, changed_at=at
        )
    ]
    for revision in range(2, 6):
        facts.append(
            PartnerChanged(
                partner_id=partner_id,
                kind=kinds[revision % 3],
                active=revision != 4,
                revision=revision,
                changed_at=at + timedelta(seconds=revision),
            )
        )
    return facts


def test_the_projection_is_order_free_and_idempotent() -> None:
    """Unit: 50 shuffled, duplicated streams of one partner's facts end where the in-order
    stream ends, and a re-announce of an old revision changes nothing."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    facts = [partners.from_fact(f) for f in _facts(str(uuid.uuid4()), at)]
    expected = partners.merge(facts)
    rng = random.Random(11)
    for _ in range(50):
        stream = facts + rng.sample(facts, k=3)
        rng.shuffle(stream)
        assert partners.merge(stream) == expected
    assert partners.merge(facts[:2], into=expected) == expected


async def test_partner_facts_over_the_broker_end_in_one_state_whatever_the_order(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    """Integration: facts published shuffled and twice, some before any referral, some after a
    referral was proposed, give the in-order final standing; the gate then follows it."""
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    partner_id = str(uuid.uuid4())
    facts = _facts(partner_id, datetime.now(UTC))
    await publish_and_wait(producer, cases_store, facts[0])
    proposed = await client.post(
        f"/cases/{case.id}/referrals", json=body(partner_id), headers=trusted.headers
    )
    assert proposed.json()["partner_kind"] == "youth-care"
    stream = [*facts[1:], *facts]
    random.Random(7).shuffle(stream)
    for fact in stream:
        await producer.send(kafka_record(fact, source=NOTIFICATIONS))
    await publish_and_wait(producer, cases_store, facts[-1])
    await asyncio.sleep(0.5)  # let every repeat in flight be handled too
    async with cases_store.transaction() as uow:
        standing = await referral_store.partner_in(uow, partner_id)
    want = partners.merge(partners.from_fact(f) for f in facts)[partner_id]
    assert standing == want
    assert standing == PartnerStanding(
        partner_id, PartnerKind.VEILIG_THUIS, True, 5, facts[-1].changed_at
    )
    refused = await act(client, trusted, proposed.json()["id"], "send")
    assert refused.status_code == 409
    assert "registered kind changed" in refused.json()["detail"]
