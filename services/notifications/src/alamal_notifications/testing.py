"""Support for the tests and the benchmark: test settings, the app in-process, events, admin calls.

Not used by the service itself.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    LegalBasis,
    MemberRole,
    PartnerKind,
    Urgency,
    Wijk,
)
from alamal_contracts.envelope import to_kafka
from alamal_contracts.events import (
    ConsentFlag,
    EventBase,
    FamilyRegistered,
    MemberCount,
    ReferralEscalated,
)
from alamal_notifications.app import create_app
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.auth import Role
from alamal_runtime.telemetry import setup_telemetry

type Mint = Callable[..., str]
CASES = "/alamal/cases"
INTAKE = "/alamal/intake"
# Compressed: 5 attempts within ~1.5 s; a hanging receiver is given up on after 0.5 s.
TEST_SETTINGS: dict[str, Any] = {
    "profile": "test",
    "kafka_session_timeout_ms": 2000,
    "handler_retries": 1,
    "retry_schedule_seconds": (0.1, 0.2, 0.4, 0.8),
    "retry_jitter": 0.0,
    "delivery_timeout_seconds": 0.5,
    "dispatch_poll_seconds": 0.05,
    "per_endpoint_concurrency": 1,
    "allowed_cidrs": ("127.0.0.1/32",),
    "public_base_url": "https://notifications.test",
    "outbox_poll_seconds": 0.1,
}


@asynccontextmanager
async def running(settings: NotificationsSettings) -> AsyncIterator[FastAPI]:
    """The service in-process (consumers, relay, delivery loop, API) for the block."""
    app = create_app(settings, telemetry=setup_telemetry("notifications", set_global=False))
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client of an in-process app."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://notifications.test", timeout=10
    )


class Producer:
    """Publishes contract events as their producing service's relay would."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, event: EventBase, *, source: str = CASES) -> str:
        """Publish an event with a fresh id; return the id."""
        event_id = str(uuid.uuid4())
        record = to_kafka(event, event_id=event_id, source=source, time=datetime.now(UTC))
        await self._producer.send_and_wait(
            record.topic, value=record.value, key=record.key.encode(), headers=list(record.headers)
        )
        return event_id


def escalation(
    partner_id: str,
    *,
    kind: PartnerKind = PartnerKind.YOUTH_CARE,
    urgency: Urgency = Urgency.URGENT,
    legal_basis: LegalBasis = LegalBasis.CONSENT,
    family_id: str | None = None,
    referral_id: str | None = None,
    escalated_at: datetime | None = None,
) -> ReferralEscalated:
    """A `cases.referral-escalated.v1` event addressed to `partner_id`."""
    return ReferralEscalated(
        family_id=family_id or str(uuid.uuid4()),
        referral_id=referral_id or str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        partner_id=partner_id,
        partner_kind=kind,
        urgency=urgency,
        reason_codes=("safety", "parenting"),
        legal_basis=legal_basis,
        escalated_at=escalated_at or datetime.now(UTC),
    )


def registration(
    *, family_id: str | None = None, granted: tuple[ConsentPurpose, ...] = ()
) -> FamilyRegistered:
    """Intake's `intake.family-registered.v1` with consent given for `granted` (publish it with
    `source=INTAKE`)."""
    return FamilyRegistered(
        family_id=family_id or str(uuid.uuid4()),
        wijk=Wijk.OVERVECHT,
        projects=(),
        member_counts=(MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),),
        languages=("nl",),
        intake_source=IntakeSource.SELF,
        trusted_person_id=str(uuid.uuid4()),
        consents=tuple(ConsentFlag(purpose=p, granted=True) for p in granted),
        registered_at=datetime.now(UTC),
    )


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(f"{response.status_code}: {response.text}")


@dataclass(frozen=True, slots=True)
class Admin:
    """An admin driving the admin API."""

    client: httpx.AsyncClient
    headers: dict[str, str]

    async def partner(self, kind: PartnerKind = PartnerKind.YOUTH_CARE) -> str:
        """Register a partner; its id."""
        response = await self.client.post(
            "/partners",
            json={"name": "Jeugdzorg Utrecht", "kind": kind.value},
            headers=self.headers,
        )
        _expect(response, 201)
        partner_id: str = response.json()["id"]
        return partner_id

    async def endpoint(
        self,
        partner_id: str,
        url: str,
        *,
        event_types: tuple[str, ...] = ("referral.escalated", "referral.updated"),
        filters: dict[str, list[str]] | None = None,
        verify: bool = True,
    ) -> dict[str, Any]:
        """Register an endpoint and (unless `verify=False`) verify it with the signed test, which
        must succeed; the creation's answer, with its secret."""
        response = await self.client.post(
            f"/partners/{partner_id}/endpoints",
            json={"url": url, "event_types": list(event_types), "filters": filters or {}},
            headers=self.headers,
        )
        _expect(response, 201)
        created: dict[str, Any] = response.json()
        if verify:
            await self.verify_patiently(created["id"])
        return created

    async def verify_patiently(self, endpoint_id: str, *, tries: int = 5) -> dict[str, Any]:
        """Verify, again (as the 409 tells an admin to) while the signed test only timed out:
        on a loaded machine the in-process receiver may answer after the tests' short delivery
        timeout. Any other refusal fails at once."""
        for _ in range(tries - 1):
            response = await self.client.post(
                f"/endpoints/{endpoint_id}/verify", headers=self.headers
            )
            if not (response.status_code == 409 and "(timeout)" in response.text):
                _expect(response, 200)
                answer: dict[str, Any] = response.json()
                return answer
        return await self.verify(endpoint_id)

    async def verify(self, endpoint_id: str, *, status: int = 200) -> dict[str, Any]:
        """POST the endpoint's verify action, expecting `status`; the answer."""
        response = await self.client.post(f"/endpoints/{endpoint_id}/verify", headers=self.headers)
        _expect(response, status)
        answer: dict[str, Any] = response.json()
        return answer

    async def change(self, partner_id: str, **change: object) -> dict[str, Any]:
        """PATCH a partner (`kind=`, `active=`, `name=`); the answer."""
        response = await self.client.patch(
            f"/partners/{partner_id}", json=change, headers=self.headers
        )
        _expect(response, 200)
        changed: dict[str, Any] = response.json()
        return changed

    async def credential(self, partner_id: str) -> tuple[str, str]:
        """A partner-API credential: (client id, secret)."""
        response = await self.client.post(
            f"/partners/{partner_id}/credentials", headers=self.headers
        )
        _expect(response, 201)
        body = response.json()
        return body["client_id"], body["client_secret"]


def headers_for(mint: Mint, role: Role) -> dict[str, str]:
    """Bearer headers of a fresh staff user with `role`."""
    return {"Authorization": f"Bearer {mint(user_id=str(uuid.uuid4()), role=role)}"}


def path() -> str:
    """A fresh receiver path, one per endpoint."""
    return f"/hooks/{uuid.uuid4().hex}"


class PublishedContract:
    """The partner API's published OpenAPI document, as a validator of what partners get."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def _validator(self, schema: dict[str, Any]) -> Any:
        import jsonschema  # type: ignore[import-untyped]

        root = {**schema, "components": self.document.get("components", {})}
        return jsonschema.Draft202012Validator(
            root, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )

    def check_webhook(self, body: bytes) -> str:
        """Validate a webhook body against the `webhooks` entry of its type; return the type."""
        import json

        payload = json.loads(body)
        event_type = payload["type"]
        hook = self.document["webhooks"][event_type]["post"]
        schema = hook["requestBody"]["content"]["application/json"]["schema"]
        self._validator(schema).validate(payload)
        headers = {p["name"] for p in hook["parameters"] if p["in"] == "header"}
        if headers != {"webhook-id", "webhook-timestamp", "webhook-signature"}:
            raise AssertionError(f"signature headers not documented: {headers}")
        return str(event_type)

    def check_answer(self, method: str, path: str, status: int, body: Any) -> None:
        """Validate a partner API answer against the document's response for that status."""
        template = self._template(path)
        responses = self.document["paths"][template][method.lower()]["responses"]
        if str(status) not in responses:
            raise AssertionError(f"{method} {template}: {status} is not documented")
        content = responses[str(status)].get("content", {}).get("application/json")
        if content is not None:
            self._validator(content["schema"]).validate(body)

    def _template(self, path: str) -> str:
        parts = path.rstrip("/").split("/")
        for template in self.document["paths"]:
            pieces = template.split("/")
            if len(pieces) == len(parts) and all(
                t == p or (t.startswith("{") and t.endswith("}"))
                for t, p in zip(pieces, parts, strict=True)
            ):
                return str(template)
        raise AssertionError(f"{path} is not in the partner API's document")
