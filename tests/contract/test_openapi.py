"""Every route of every service publishes every status it can answer, with the error body
schema, in a valid OpenAPI document (built without starting the services: no I/O).

What the routes really answer during the whole test session is checked against these documents
by `alamal_stack.openapi_recorder` at the end of the run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from openapi_spec_validator import validate as validate_spec
from pydantic import BaseModel

from alamal_cases.app import create_app as cases_app
from alamal_cases.settings import CasesSettings
from alamal_intake.app import create_app as intake_app
from alamal_intake.settings import IntakeSettings
from alamal_notifications.app import create_app as notifications_app
from alamal_notifications.partner_contract import partner_openapi
from alamal_notifications.settings import NotificationsSettings
from alamal_reporting.app import create_app as reporting_app
from alamal_reporting.settings import ReportingSettings
from alamal_runtime.auth import Role, mint_token
from alamal_runtime.openapi import LaxNumberError, api_routes, check_strict_numbers, route_statuses
from alamal_runtime.telemetry import setup_telemetry

type Build = Callable[..., FastAPI]
SERVICES: dict[str, tuple[Build, type[Any]]] = {
    "intake": (intake_app, IntakeSettings),
    "cases": (cases_app, CasesSettings),
    "notifications": (notifications_app, NotificationsSettings),
    "reporting": (reporting_app, ReportingSettings),
}
ERROR = {"$ref": "#/components/schemas/ErrorBody"}
INVALID = {"$ref": "#/components/schemas/ValidationErrorBody"}


@pytest.fixture(scope="module")
def apps(
    tmp_path_factory: pytest.TempPathFactory, token_keys: tuple[str, str]
) -> dict[str, FastAPI]:
    """Each service's app as its composition root builds it (not started)."""
    folder = tmp_path_factory.mktemp("openapi")
    built: dict[str, FastAPI] = {}
    for name, (build, settings) in SERVICES.items():
        # A data folder for the generated development keys (secrets, key-encryption key).
        extra: dict[str, Any] = {"data_dir": folder / name}
        built[name] = build(
            settings(
                store_url=f"sqlite:///{folder}/{name}.sqlite3",
                kafka_bootstrap="127.0.0.1:9",
                token_public_key=token_keys[1],
                profile="test",
                **extra,
            ),
            telemetry=setup_telemetry(name, set_global=False),
        )
    return built


def operations(app: FastAPI) -> Iterator[tuple[Any, str, dict[str, Any]]]:
    """(route, method, its operation in the document) for every documented API route."""
    paths = app.openapi()["paths"]
    for route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods):
            yield route, method, paths[route.path_format][method.lower()]


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_lists_every_status_it_can_answer(
    apps: dict[str, FastAPI], service: str
) -> None:
    app = apps[service]
    validate_spec(app.openapi())  # type: ignore[arg-type]
    count = 0
    for route, method, operation in operations(app):
        responses = operation["responses"]
        for status in route_statuses(route):
            answer = responses.get(str(status))
            assert answer is not None, f"{method} {route.path_format}: {status} missing"
            schema = answer["content"]["application/json"]["schema"]
            assert schema == (INVALID if status == 422 else ERROR), (route.path_format, status)
        assert "500" in responses
        count += 1
    assert count >= 5


def test_what_the_code_raises_is_found(apps: dict[str, FastAPI]) -> None:
    """Spot checks that fail if the scan of the routes' code stops working."""

    def statuses(service: str, method: str, path: str) -> set[str]:
        operation = apps[service].openapi()["paths"][path][method]
        return set(operation["responses"])

    assert {"401", "404", "409", "413", "422"} <= statuses(
        "cases", "post", "/cases/{case_id}/referrals"
    )
    assert {"403", "409"} <= statuses("cases", "post", "/referrals/{referral_id}/approve")
    assert {"409", "428"} <= statuses("intake", "patch", "/families/{family_id}")
    assert {"403", "409"} <= statuses("notifications", "post", "/endpoints/{endpoint_id}/verify")
    assert "409" in statuses("notifications", "post", "/partner/v1/referrals/{referral_id}/status")
    assert "403" not in statuses("notifications", "get", "/partner/v1/referrals/{referral_id}")


def test_the_partner_api_has_its_own_document_with_the_webhooks(apps: dict[str, FastAPI]) -> None:
    document = partner_openapi(apps["notifications"], server="https://partners.example.org")
    validate_spec(document)  # type: ignore[arg-type]
    assert document["openapi"] == "3.1.0"
    assert set(document["paths"]) == {
        "/partner/v1/referrals",
        "/partner/v1/referrals/{referral_id}",
        "/partner/v1/referrals/{referral_id}/status",
    }
    assert set(document["webhooks"]) == {
        "referral.escalated",
        "referral.updated",
        "referral.erasure-requested",
        "webhook.test",
    }
    for hook in document["webhooks"].values():
        headers = {p["name"] for p in hook["post"]["parameters"] if p["in"] == "header"}
        assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert document["components"]["securitySchemes"]["HTTPBasic"]["scheme"] == "basic"


class _Inner(BaseModel):
    count: int | None = None


class _Lax(BaseModel):
    seconds: float
    nested: list[_Inner] = []


def test_a_request_body_with_lax_numbers_is_refused_at_start_up() -> None:
    router = APIRouter()

    @router.post("/lax")
    async def lax(body: _Lax) -> None:
        """Takes numbers a JSON `true` would fill."""

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(LaxNumberError, match=r"/lax nested\.count, /lax seconds"):
        check_strict_numbers(app)


async def test_a_body_that_is_not_utf8_is_422_naming_the_body(
    apps: dict[str, FastAPI], token_keys: tuple[str, str]
) -> None:
    token = mint_token(token_keys[0], user_id=str(uuid.uuid4()), role=Role.ADMIN, wijken=set())
    transport = httpx.ASGITransport(app=apps["notifications"])
    async with httpx.AsyncClient(transport=transport, base_url="http://n.test") as client:
        answer = await client.post(
            "/partners",
            content=b'{"name": "\xff\xfe", "kind": "police"}',
            headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
        )
    assert answer.status_code == 422
    assert answer.json()["fields"] == ["body"]


def test_the_documents_hold_no_machine_path(apps: dict[str, FastAPI]) -> None:
    home = str(Path.home())
    checkout = Path(__file__).resolve().parents[2]  # where this clone lives on the machine
    # The clone's folder and the folder holding it (other clones and tools sit beside it).
    places = [str(p) for p in (checkout, checkout.parent) if p != Path(p.anchor)]
    assert places
    for app in apps.values():
        document = str(app.openapi())
        for place in places:
            assert place not in document
        assert home == "/" or home not in document
