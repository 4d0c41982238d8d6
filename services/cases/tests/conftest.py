"""Cases test fixtures: intake events from the contracts, the service on the session broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from alamal_cases import referral_store
from alamal_cases.app import create_app
from alamal_cases.domain import Case, CaseStatus, FamilyRef
from alamal_cases.domain.partners import PartnerStanding
from alamal_cases.settings import CasesSettings
from alamal_cases.store import add_case
from alamal_contracts.codes import (
    AgeBand,
    ConsentPurpose,
    IntakeSource,
    MemberRole,
    PartnerKind,
    Project,
    Wijk,
)
from alamal_contracts.envelope import KafkaRecord, to_kafka
from alamal_contracts.events import ConsentFlag, Event, FamilyRegistered, MemberCount
from alamal_runtime.auth import Role
from alamal_runtime.store import Store
from alamal_runtime.telemetry import setup_telemetry

type Mint = Callable[..., str]

INTAKE = "/alamal/intake"


def registration(
    *,
    family_id: str | None = None,
    trusted_person_id: str | None = None,
    wijk: Wijk = Wijk.OVERVECHT,
) -> FamilyRegistered:
    """A valid `intake.family-registered.v1` event for a new (unique) family."""
    return FamilyRegistered(
        family_id=family_id or str(uuid.uuid4()),
        wijk=wijk,
        projects=(Project.TUSSEN_IN,),
        member_counts=(
            MemberCount(role=MemberRole.MOTHER, age_band=AgeBand.AGE_24_64, count=1),
            MemberCount(role=MemberRole.CHILD, age_band=AgeBand.AGE_4_11, count=2),
        ),
        languages=("ar", "nl"),
        intake_source=IntakeSource.WIJKTEAM,
        trusted_person_id=trusted_person_id or str(uuid.uuid4()),
        consents=(ConsentFlag(purpose=ConsentPurpose.CARE, granted=True),),
        registered_at=datetime.now(UTC),
    )


def kafka_record(event: Event, *, event_id: str | None = None, source: str = INTAKE) -> KafkaRecord:
    """The CloudEvents Kafka record intake's relay would publish for `event`."""
    return to_kafka(
        event, event_id=event_id or str(uuid.uuid4()), source=source, time=datetime.now(UTC)
    )


@dataclass(frozen=True, slots=True)
class Caller:
    """A staff user with her own service token."""

    user_id: str
    headers: dict[str, str]


@pytest.fixture(scope="session")
def caller(mint: Mint) -> Callable[..., Caller]:
    """Make a caller: `caller(Role.TRUSTED_PERSON, user_id=...)`, a fresh id by default."""

    def _caller(
        role: Role, *, user_id: str | None = None, wijken: set[str] | None = None
    ) -> Caller:
        uid = user_id or str(uuid.uuid4())
        token = mint(user_id=uid, role=role, wijken=wijken or set())
        return Caller(user_id=uid, headers={"Authorization": f"Bearer {token}"})

    return _caller


class Producer:
    """Publishes raw records to the session broker, as any producer on the topic could."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send(self, record: KafkaRecord, *, partition: int | None = None) -> None:
        """Publish a contract record and wait for the broker's acknowledgement."""
        await self.send_raw(
            record.topic,
            value=record.value,
            key=record.key.encode(),
            headers=list(record.headers),
            partition=partition,
        )

    async def send_raw(
        self,
        topic: str,
        *,
        value: bytes,
        key: bytes,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> None:
        """Publish any bytes with any headers (to test what consumers do with bad records)."""
        await self._producer.send_and_wait(
            topic, value=value, key=key, headers=headers, partition=partition
        )


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[Producer]:
    """A plain aiokafka producer (Tansu has no idempotent producer)."""
    client = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await client.start()
    try:
        yield Producer(client)
    finally:
        await client.stop()


@pytest.fixture(scope="module")
async def cases_app(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[FastAPI]:
    """Cases running in-process (consumer, relay, API) on the session broker; own store file."""
    _, public_pem = token_keys
    store_dir = tmp_path_factory.mktemp("cases")
    settings = CasesSettings(
        store_url=f"sqlite:///{store_dir}/cases.sqlite3",
        kafka_bootstrap=kafka_bootstrap,
        token_public_key=public_pem,
        profile="test",
        data_dir=store_dir,
        kafka_session_timeout_ms=3000,
        handler_retries=1,
        # One group per test module: Tansu ignores a clean leave, so a later module's app in the
        # same group would wait for the departed members to time out.
        kafka_consumer_group=f"test-cases-{uuid.uuid4().hex[:12]}",
    )
    app = create_app(settings, telemetry=setup_telemetry("cases", set_global=False))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(cases_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the in-process cases service."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=cases_app), base_url="http://cases.test", timeout=10
    ) as http:
        yield http


@pytest.fixture(scope="module")
def cases_store(cases_app: FastAPI) -> Store:
    """The running service's own store (to set up states no endpoint creates yet)."""
    store: Store = cases_app.state.store
    return store


async def cases_seen_by(
    client: httpx.AsyncClient, caller: Caller, family_id: str
) -> list[dict[str, object]]:
    """GET /cases?family_id= as `caller`."""
    response = await client.get("/cases", params={"family_id": family_id}, headers=caller.headers)
    assert response.status_code == 200, response.text
    cases: list[dict[str, object]] = response.json()
    return cases


async def wait_for_cases(
    client: httpx.AsyncClient, caller: Caller, family_id: str, *, within: float = 20.0
) -> list[dict[str, object]]:
    """Poll until the family has a case `caller` can see; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cases = await cases_seen_by(client, caller, family_id)
        if cases:
            return cases
        await asyncio.sleep(0.05)
    raise AssertionError(f"no case for family {family_id} within {within}s")


async def seed_case(
    store: Store,
    *,
    holder: str,
    wijk: Wijk = Wijk.OVERVECHT,
    status: CaseStatus = CaseStatus.OPEN,
    father: str | None = None,
    opened_days_ago: int = 60,
) -> Case:
    """Put a case straight into the service's store (a state no single endpoint creates)."""
    case = Case(
        id=str(uuid.uuid4()),
        family_id=str(uuid.uuid4()),
        wijk=wijk,
        trusted_person_id=holder,
        status=status,
        opened_at=datetime.now(UTC) - timedelta(days=opened_days_ago),
        father_trusted_person_id=father,
    )
    ref = FamilyRef(case.family_id, wijk, holder, case.id if status is CaseStatus.OPEN else None)
    async with store.transaction() as uow:
        await add_case(uow, case, ref)
    return case


async def seed_partner(
    store: Store,
    kind: PartnerKind,
    *,
    active: bool = True,
    revision: int = 1,
    partner_id: str | None = None,
) -> str:
    """Put a partner fact straight into cases' projection (as notifications' event would)."""
    standing = PartnerStanding(
        partner_id=partner_id or str(uuid.uuid4()),
        kind=kind,
        active=active,
        revision=revision,
        changed_at=datetime.now(UTC),
    )
    async with store.transaction() as uow:
        await referral_store.merge_partner(uow, standing)
    return standing.partner_id
