"""No personal data in spans, by construction: intake and cases run in-process, are searched and
addressed with planted names, phone numbers and note fragments (in query strings and in path
segments), and no span that reaches an exporter holds one of them.

The same spans, taken before redaction by an exporter wired around it on purpose, do hold the
planted values: that is what the check would see if the redaction were removed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from alamal_cases.app import create_app as create_cases
from alamal_cases.settings import CasesSettings
from alamal_intake.app import create_app as create_intake
from alamal_intake.settings import IntakeSettings
from alamal_runtime.auth import Role
from alamal_runtime.settings import ServiceSettings
from alamal_runtime.telemetry import FAMILY_ID, setup_telemetry

pytestmark = pytest.mark.integration

NAME, SURNAME = "Fatima-Spanplant", "Amrani-Spanplant"
PHONE = "0612398745"
NOTE = "Planted-span-note-3391"
PLANTED = (NAME, SURNAME, PHONE, NOTE)

type Mint = Callable[..., str]


@dataclass
class Service:
    """One service in-process: its HTTP client, the spans exported, the spans before redaction."""

    http: httpx.AsyncClient
    exported: InMemorySpanExporter
    raw: InMemorySpanExporter


async def _start(
    stack: AsyncExitStack,
    name: str,
    create: Callable[..., FastAPI],
    settings: ServiceSettings,
) -> Service:
    telemetry = setup_telemetry(name, set_global=False)
    exported, raw = InMemorySpanExporter(), InMemorySpanExporter()
    telemetry.export_spans(exported, batch=False)
    # Around the redaction on purpose: what an exporter would get without it.
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(raw))
    app = create(settings, telemetry=telemetry)
    await stack.enter_async_context(app.router.lifespan_context(app))
    http = await stack.enter_async_context(
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
    )
    return Service(http, exported, raw)


@pytest.fixture(scope="module")
async def services(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[dict[str, Service]]:
    """Intake and cases in-process on the session broker, each with both exporters."""
    _, public = token_keys
    data = tmp_path_factory.mktemp("span-redaction")
    common = {"kafka_bootstrap": kafka_bootstrap, "token_public_key": public, "profile": "test"}
    async with AsyncExitStack() as stack:
        yield {
            "intake": await _start(
                stack,
                "intake",
                create_intake,
                IntakeSettings(
                    store_url=f"sqlite:///{data}/intake.sqlite3", data_dir=data / "intake", **common
                ),
            ),
            "cases": await _start(
                stack,
                "cases",
                create_cases,
                CasesSettings(
                    store_url=f"sqlite:///{data}/cases.sqlite3", data_dir=data / "cases", **common
                ),
            ),
        }


def readable(span: ReadableSpan) -> str:
    """Everything a person could read in a span: name, attributes, events, status."""
    events = [f"{e.name} {dict(e.attributes or {})}" for e in span.events]
    parts = [span.name, str(dict(span.attributes or {})), *events, span.status.description or ""]
    return " ".join(parts)


def found(spans: tuple[ReadableSpan, ...]) -> list[str]:
    """`span name: value` for each planted value in a span."""
    return [f"{s.name}: {v}" for s in spans for v in PLANTED if v in readable(s)]


async def test_spans_from_searches_with_planted_values_hold_none_of_them(
    services: dict[str, Service], mint: Mint
) -> None:
    user = str(uuid.uuid4())
    headers = {
        "Authorization": "Bearer "
        + mint(user_id=user, role=Role.TRUSTED_PERSON, wijken={"overvecht"})
    }
    intake, cases = services["intake"].http, services["cases"].http
    registered = await intake.post(
        "/families",
        json={
            "members": [
                {"role": "mother", "birth_year": 1984, "first_name": NAME, "surname": SURNAME}
            ],
            "wijk": "overvecht",
            "languages": ["ar"],
            "intake_source": "school",
            "trusted_person_id": user,
            "consents": [{"purpose": "care", "granted": True}],
        },
        headers=headers,
    )
    assert registered.status_code == 201, registered.text
    family_id = registered.json()["id"]
    read = await intake.get(f"/families/{family_id}", headers=headers)
    changed = await intake.patch(
        f"/families/{family_id}",
        json={"phone": PHONE, "notes": NOTE},
        headers=headers | {"If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    for fragment in PLANTED:  # the documented search, by name, by phone, by a note fragment
        answer = await intake.get("/families", params={"name": fragment}, headers=headers)
        assert answer.status_code == 200, answer.text
    assert (await intake.get(f"/families/{PHONE}", headers=headers)).status_code == 422
    assert (await intake.get(f"/families/{NAME}/consents", headers=headers)).status_code == 422
    assert (await intake.get(f"/{NOTE}", params={NAME: PHONE}, headers=headers)).status_code == 404
    assert (
        await cases.get("/cases", params={"family_id": NOTE}, headers=headers)
    ).status_code == 422
    assert (await cases.get(f"/cases/{NAME}/visits", headers=headers)).status_code == 422
    answer = await cases.get(
        f"/cases/{uuid.uuid4()}/visits", params={"cursor": NOTE}, headers=headers
    )
    assert answer.status_code in (404, 422)

    exported = services["intake"].exported.get_finished_spans()
    exported += services["cases"].exported.get_finished_spans()
    raw = services["intake"].raw.get_finished_spans() + services["cases"].raw.get_finished_spans()
    assert len(exported) == len(raw) >= 10
    assert found(exported) == []
    # Without the redaction the same spans leak every planted value: the check can fail.
    assert {v for v in PLANTED if any(v in readable(s) for s in raw)} == set(PLANTED)
    # Ids stay: the family's spans can be found by its id.
    tagged = [s for s in exported if dict(s.attributes or {}).get(FAMILY_ID) == family_id]
    assert {s.name for s in tagged} >= {"POST /families"}
    print(f"{len(exported)} spans exported, none with a planted value")  # noqa: T201
