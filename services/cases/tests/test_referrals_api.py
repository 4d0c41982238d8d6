"""Referrals over HTTP, in-process on the real broker and a real SQLite store (integration)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest

from alamal_cases.domain import CaseStatus
from alamal_cases.referral_store import CONSENTS
from alamal_contracts.codes import ConsentPurpose, PartnerKind, Wijk
from alamal_contracts.envelope import from_kafka
from alamal_contracts.events import ConsentChanged, ConsentFlag, ReferralEscalated, ReferralUpdated
from alamal_contracts.schemas import DEFAULT_DIR, filename
from alamal_contracts.topics import REFERRAL_ESCALATED, REFERRAL_UPDATED
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_stack.kafka_testing import Records, read_topic_until

from .conftest import (
    Caller,
    Producer,
    kafka_record,
    registration,
    seed_case,
    seed_partner,
    wait_for_cases,
)

pytestmark = pytest.mark.integration

type MakeCaller = Callable[..., Caller]

PLANTED_NOTE = "Quietly-Planted-Referral-Note-5521"


PARTNERS: dict[str, str] = {}
"""One registered, active partner per kind (in cases' projection), by kind."""


@pytest.fixture(scope="module", autouse=True)
async def registered_partners(cases_store: Store) -> None:
    """Register one partner of every kind in the module's cases projection."""
    for kind in PartnerKind:
        PARTNERS[kind.value] = await seed_partner(cases_store, kind)


def referral_body(*, to: str = "youth-care", **change: Any) -> dict[str, Any]:
    """A valid referral to the registered partner of kind `to`, with `change` applied."""
    body: dict[str, Any] = {
        "partner_id": PARTNERS[to],
        "urgency": "routine",
        "reason_codes": ["parenting-support", "school-absence"],
        "note": PLANTED_NOTE,
    }
    body.update(change)
    return body


async def propose(
    client: httpx.AsyncClient, caller: Caller, case_id: str, **change: Any
) -> httpx.Response:
    """POST a referral as `caller` (to the partner of kind `to=`, youth care by default)."""
    return await client.post(
        f"/cases/{case_id}/referrals", json=referral_body(**change), headers=caller.headers
    )


async def act(
    client: httpx.AsyncClient, caller: Caller, referral_id: str, step: str, body: Any = None
) -> httpx.Response:
    """POST one step (`approve`, `send`, `meldcode-override`, `status`) as `caller`."""
    return await client.post(f"/referrals/{referral_id}/{step}", json=body, headers=caller.headers)


async def grant(producer: Producer, store: Store, family_id: str, purpose: ConsentPurpose) -> None:
    """Publish intake's consent change and wait until cases has projected it."""
    changed = ConsentChanged(
        family_id=family_id,
        purpose=purpose,
        granted=True,
        changed_at=datetime.now(UTC),
        consent_text_version="2025-09",
    )
    await producer.send(kafka_record(changed))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        record = await store.get(CONSENTS, f"{family_id}:{purpose.value}")
        if record is not None and record.data["granted"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("consent change not projected within 20s")


def validated(records: Records, topic: str, key: bytes) -> list[bytes]:
    """The values of `key`'s records, each checked against the topic's JSON Schema."""
    schema = json.loads((DEFAULT_DIR / filename(topic)).read_text(encoding="utf-8"))
    values = [r.value for r in records if r.key == key]
    for record in records:
        if record.key == key:
            jsonschema.Draft202012Validator(schema).validate(json.loads(record.value))
            assert PLANTED_NOTE.encode() not in record.value
            assert all(PLANTED_NOTE.encode() not in v for _, v in record.headers)
    return values


async def test_the_full_lifecycle_emits_thin_schema_valid_events(
    client: httpx.AsyncClient, producer: Producer, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    registered = registration(trusted_person_id=trusted.user_id).model_copy(
        update={
            "consents": (
                ConsentFlag(purpose=ConsentPurpose.CARE, granted=True),
                ConsentFlag(purpose=ConsentPurpose.SHARE_YOUTH_CARE, granted=True),
            )
        }
    )
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)

    proposed = await propose(client, trusted, str(case["id"]))
    assert proposed.status_code == 201, proposed.text
    referral = proposed.json()
    assert proposed.headers["Location"] == f"/referrals/{referral['id']}"
    assert (referral["state"], referral["note"]) == ("proposed", PLANTED_NOTE)
    rid = referral["id"]

    approved = await act(client, coordinator, rid, "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approved_by"] == coordinator.user_id
    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["legal_basis"] == "consent"
    assert sent.json()["sent_without_approval"] is False
    accepted = await act(client, coordinator, rid, "status", {"status": "accepted"})
    assert accepted.status_code == 200, accepted.text
    closed = await act(
        client, coordinator, rid, "status", {"status": "closed", "outcome_code": "support-started"}
    )
    assert closed.status_code == 200, closed.text
    assert (closed.json()["state"], closed.json()["outcome_code"]) == ("closed", "support-started")

    one = await client.get(f"/referrals/{rid}", headers=trusted.headers)
    assert one.json() == closed.json()
    listed = await client.get(f"/cases/{case['id']}/referrals", headers=coordinator.headers)
    assert listed.json()["results"] == [closed.json()]

    key = registered.family_id.encode()
    escalated_records = await read_topic_until(
        kafka_bootstrap, REFERRAL_ESCALATED, lambda rs: any(r.key == key for r in rs)
    )
    (value,) = validated(escalated_records, REFERRAL_ESCALATED, key)
    escalated_record = next(r for r in escalated_records if r.key == key)
    escalated = from_kafka(value, escalated_record.headers, expect=ReferralEscalated).data
    assert (escalated.referral_id, escalated.case_id) == (rid, case["id"])
    assert escalated.partner_kind.value == "youth-care"
    assert escalated.legal_basis.value == "consent"
    assert escalated.reason_codes == ("parenting-support", "school-absence")

    updated_records = await read_topic_until(
        kafka_bootstrap, REFERRAL_UPDATED, lambda rs: sum(r.key == key for r in rs) >= 2
    )
    values = validated(updated_records, REFERRAL_UPDATED, key)
    mine = [r for r in updated_records if r.key == key]
    updates = [from_kafka(r.value, r.headers, expect=ReferralUpdated).data for r in mine]
    assert len(values) == 2
    assert [(u.status.value, u.outcome_code) for u in updates] == [
        ("accepted", None),
        ("closed", "support-started"),
    ]
    assert {u.referral_id for u in updates} == {rid}


async def test_the_consent_gate_and_a_consent_changed_event(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    proposed = await propose(client, trusted, case.id, to="police", urgency="urgent")
    rid = proposed.json()["id"]

    refused = await act(client, trusted, rid, "send")
    assert refused.status_code == 409
    assert refused.json() == {"detail": "consent for share-police missing"}
    assert (await client.get(f"/referrals/{rid}", headers=trusted.headers)).json()[
        "state"
    ] == "proposed"

    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_POLICE)
    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["legal_basis"] == "consent"
    assert sent.json()["sent_without_approval"] is True


async def test_a_consent_change_before_the_registration_is_kept(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    registered = registration(trusted_person_id=trusted.user_id)
    await grant(producer, cases_store, registered.family_id, ConsentPurpose.SHARE_GGD)
    await producer.send(kafka_record(registered))
    (case,) = await wait_for_cases(client, trusted, registered.family_id)
    rid = (await propose(client, trusted, str(case["id"]), to="ggd", urgency="acute")).json()["id"]
    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["legal_basis"] == "consent"


async def test_a_meldcode_override_by_a_coordinator(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller, kafka_bootstrap: str
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"zuidwest"})
    case = await seed_case(cases_store, holder=trusted.user_id, wijk=Wijk.ZUIDWEST)
    rid = (await propose(client, trusted, case.id, to="veilig-thuis")).json()["id"]
    assert (await act(client, coordinator, rid, "approve")).status_code == 200
    refused = await act(client, trusted, rid, "send")
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "consent for share-veilig-thuis missing; a coordinator may record a Meldcode"
        " override"
    }

    override = {"reason_code": "child-unsafe"}
    for step, body in (("meldcode-override", override), ("approve", None)):
        denied = await act(client, trusted, rid, step, body)
        assert denied.status_code == 403
        assert denied.json() == {"detail": "only a coordinator of the wijk may do this"}
    recorded = await act(client, coordinator, rid, "meldcode-override", override)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["meldcode_override"]["reason_code"] == "child-unsafe"
    assert recorded.json()["meldcode_override"]["by"] == coordinator.user_id

    sent = await act(client, trusted, rid, "send")
    assert sent.status_code == 200, sent.text
    assert sent.json()["legal_basis"] == "meldcode-override"

    key = case.family_id.encode()
    records = await read_topic_until(
        kafka_bootstrap, REFERRAL_ESCALATED, lambda rs: any(r.key == key for r in rs)
    )
    (value,) = validated(records, REFERRAL_ESCALATED, key)
    assert json.loads(value)["legal_basis"] == "meldcode-override"


async def test_the_override_applies_to_veilig_thuis_only(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    rid = (await propose(client, trusted, case.id, to="police")).json()["id"]
    refused = await act(client, coordinator, rid, "meldcode-override", {"reason_code": "x"})
    assert refused.status_code == 409
    assert refused.json() == {"detail": "the Meldcode override applies to Veilig Thuis only"}


async def test_illegal_transitions_are_409(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_YOUTH_CARE)
    rid = (await propose(client, trusted, case.id)).json()["id"]

    unapproved = await act(client, trusted, rid, "send")
    assert unapproved.status_code == 409
    assert unapproved.json() == {"detail": "a routine referral must be approved before sending"}
    never_sent = await act(
        client, coordinator, rid, "status", {"status": "closed", "outcome_code": "x"}
    )
    assert never_sent.status_code == 409
    assert (
        await act(client, coordinator, rid, "status", {"status": "accepted"})
    ).status_code == 409

    assert (await act(client, coordinator, rid, "approve")).status_code == 200
    assert (await act(client, coordinator, rid, "approve")).status_code == 409
    assert (await act(client, trusted, rid, "send")).status_code == 200
    assert (await act(client, trusted, rid, "send")).status_code == 409
    late = await act(client, coordinator, rid, "status", {"status": "closed", "outcome_code": "x"})
    assert late.status_code == 409
    assert (await client.get(f"/referrals/{rid}", headers=trusted.headers)).json()[
        "state"
    ] == "sent"

    closed_case = await seed_case(cases_store, holder=trusted.user_id, status=CaseStatus.CLOSED)
    assert (await propose(client, trusted, closed_case.id)).status_code == 409


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"partner_id": "police-utrecht"}, "partner_id", id="partner-id-not-uuid"),
        pytest.param({"partner_kind": "church"}, "partner_kind", id="unknown-kind"),
        pytest.param({"to": "other"}, "partner_id", id="kind-without-consent"),
        pytest.param({"partner_kind": "police"}, "partner_kind", id="declared-kind-mismatch"),
        pytest.param({"partner_id": str(uuid.uuid4())}, "partner_id", id="unregistered-partner"),
        pytest.param({"urgency": "whenever"}, "urgency", id="unknown-urgency"),
        pytest.param({"reason_codes": []}, "reason_codes", id="no-reasons"),
        pytest.param({"reason_codes": [f"r{i}" for i in range(11)]}, "reason_codes", id="11"),
        pytest.param({"reason_codes": ["Hit by Ahmed"]}, "reason_codes.0", id="free-text"),
        pytest.param({"reason_codes": ["money", "money"]}, "reason_codes", id="duplicates"),
        pytest.param({"note": "x" * 4001}, "note", id="long-note"),
        pytest.param({"family_name": "Fatima"}, "family_name", id="unknown-field"),
    ],
)
async def test_bad_proposals_are_422_naming_the_field(
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: MakeCaller,
    change: dict[str, Any],
    field: str,
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=trusted.user_id)
    response = await propose(client, trusted, case.id, **change)
    assert response.status_code == 422, response.text
    assert response.json()["fields"] == [field]
    assert "Fatima" not in response.text
    assert "Ahmed" not in response.text
    listed = await client.get(f"/cases/{case.id}/referrals", headers=trusted.headers)
    assert listed.json()["results"] == []


async def test_bad_step_bodies_are_422(
    client: httpx.AsyncClient, cases_store: Store, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    rid = (await propose(client, trusted, case.id, to="veilig-thuis", urgency="acute")).json()["id"]
    for body in (
        {"reason_code": "Child Unsafe"},
        {"reason_code": ""},
        {},
        {"reason_code": "a" * 65},
    ):
        bad = await act(client, coordinator, rid, "meldcode-override", body)
        assert bad.status_code == 422, body
        assert bad.json()["fields"] == ["reason_code"]
    for body, field in (
        ({"status": "sent"}, "status"),
        ({"status": "accepted", "outcome_code": "Free text"}, "outcome_code"),
    ):
        bad = await act(client, coordinator, rid, "status", body)
        assert bad.status_code == 422
        assert bad.json()["fields"] == [field]


async def test_closing_without_an_outcome_code_is_422(
    client: httpx.AsyncClient, cases_store: Store, producer: Producer, caller: MakeCaller
) -> None:
    trusted = caller(Role.TRUSTED_PERSON)
    coordinator = caller(Role.COORDINATOR, wijken={"overvecht"})
    case = await seed_case(cases_store, holder=trusted.user_id)
    await grant(producer, cases_store, case.family_id, ConsentPurpose.SHARE_WELFARE)
    rid = (await propose(client, trusted, case.id, to="welfare", urgency="urgent")).json()["id"]
    assert (await act(client, trusted, rid, "send")).status_code == 200
    assert (
        await act(client, coordinator, rid, "status", {"status": "declined"})
    ).status_code == 200
    bad = await act(client, coordinator, rid, "status", {"status": "closed"})
    assert bad.status_code == 422
    assert bad.json()["fields"] == ["outcome_code"]


@pytest.mark.parametrize(
    ("role", "wijken"),
    [
        pytest.param(Role.TRUSTED_PERSON, {"overvecht"}, id="another-trusted-person"),
        pytest.param(Role.COORDINATOR, {"zuid"}, id="coordinator-of-another-wijk"),
        pytest.param(Role.ADMIN, set(), id="admin"),
        pytest.param(Role.FUNDER, {"overvecht"}, id="funder"),
    ],
)
async def test_out_of_scope_is_404_like_a_missing_referral(
    client: httpx.AsyncClient,
    cases_store: Store,
    caller: MakeCaller,
    role: Role,
    wijken: set[str],
) -> None:
    holder = caller(Role.TRUSTED_PERSON)
    case = await seed_case(cases_store, holder=holder.user_id)
    rid = (await propose(client, holder, case.id)).json()["id"]
    outsider = caller(role, wijken=wijken)
    for case_id in (case.id, str(uuid.uuid4())):
        posted = await propose(client, outsider, case_id)
        listed = await client.get(f"/cases/{case_id}/referrals", headers=outsider.headers)
        assert posted.status_code == listed.status_code == 404
        assert posted.json() == listed.json() == {"detail": "case not found"}
    for referral_id in (rid, str(uuid.uuid4())):
        read = await client.get(f"/referrals/{referral_id}", headers=outsider.headers)
        assert read.status_code == 404
        assert read.json() == {"detail": "referral not found"}
        for step, body in (
            ("approve", None),
            ("send", None),
            ("meldcode-override", {"reason_code": "child-unsafe"}),
            ("status", {"status": "accepted"}),
        ):
            refused = await act(client, outsider, referral_id, step, body)
            assert refused.status_code == 404
            assert refused.json() == {"detail": "referral not found"}
    seen = await client.get(f"/referrals/{rid}", headers=holder.headers)
    assert seen.json()["state"] == "proposed"


async def test_referral_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    some = uuid.uuid4()
    assert (await client.post(f"/cases/{some}/referrals", json=referral_body())).status_code == 401
    assert (await client.get(f"/cases/{some}/referrals")).status_code == 401
    assert (await client.get(f"/referrals/{some}")).status_code == 401
    assert (await client.post(f"/referrals/{some}/send")).status_code == 401
