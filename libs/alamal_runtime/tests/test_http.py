"""The runtime's HTTP pieces in a tiny app: auth, validation, body limits, failures, health."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import structlog
import structlog.testing
from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from alamal_contracts.codes import Wijk
from alamal_runtime.auth import Role, TokenVerifier, generate_keypair, mint_token
from alamal_runtime.http import (
    BodySizeLimit,
    CatchUnexpected,
    CurrentPrincipal,
    Pingable,
    health_router,
    install_error_handlers,
)
from alamal_runtime.store import StaleWriteError, StoreOperationError, StoreUnavailableError
from alamal_runtime.store.sqlite import SqliteStore

type Mint = Callable[..., str]

MAX_BODY = 1024
PLANTED_NAME = "Fatima El Amrani"
SECRET = "mongodb://admin:hunter2@10.0.0.5"

USER_ID = "5e0c1b7a-2d4f-4e8a-b1c3-9a7f6d2e8b10"


class FakeCheck:
    """A pingable that answers or fails on demand, as a broker or store would."""

    def __init__(self, *, healthy: bool = True) -> None:
        self.healthy = healthy

    async def ping(self) -> None:
        if not self.healthy:
            raise ConnectionError(f"cannot reach {SECRET}")


class NewFamily(BaseModel):
    model_config = ConfigDict(extra="forbid")

    contact_name: str = Field(max_length=10)
    wijk: Wijk
    children: int = Field(ge=0, le=20)


def build_app(verifier: TokenVerifier, checks: dict[str, Pingable]) -> FastAPI:
    """A service-shaped app assembled from the runtime's HTTP pieces only."""
    app = FastAPI()
    app.state.token_verifier = verifier
    install_error_handlers(app)
    app.add_middleware(CatchUnexpected)
    app.include_router(health_router(checks))
    router = APIRouter()

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str | list[str]]:
        return {
            "user_id": principal.user_id,
            "role": principal.role.value,
            "wijken": sorted(principal.wijken),
        }

    @router.post("/families", status_code=201)
    async def register(family: NewFamily) -> dict[str, str]:
        return {"wijk": family.wijk.value}

    @router.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(f"could not load the file of {PLANTED_NAME}")

    @router.get("/store-down")
    async def store_down() -> None:
        raise StoreUnavailableError(f"{SECRET} refused the connection")

    @router.get("/store-refused")
    async def store_refused() -> None:
        raise StoreOperationError(f"limit refused for {PLANTED_NAME}", code=2)

    @router.get("/store-stale")
    async def store_stale() -> None:
        raise StaleWriteError(f"families/{PLANTED_NAME} is not at version 3")

    app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_BODY)
    return app


@pytest.fixture
def verifier(token_keys: tuple[str, str]) -> TokenVerifier:
    _, public = token_keys
    return TokenVerifier(public, audience="intake", issuer="alamal-gateway")


@pytest.fixture
def checks() -> dict[str, FakeCheck]:
    return {"store": FakeCheck(), "broker": FakeCheck()}


@pytest.fixture
async def client(
    verifier: TokenVerifier, checks: dict[str, FakeCheck]
) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions stays on: an unhandled error must not reach the server (which would
    # log its message) but end in CatchUnexpected.
    transport = httpx.ASGITransport(app=build_app(verifier, dict(checks)))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as opened:
        yield opened


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def chunks(total: int, size: int = 256) -> AsyncIterator[bytes]:
    """A streamed body without Content-Length (chunked transfer encoding)."""
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


# --- authentication ----------------------------------------------------------------------------


async def test_a_valid_token_yields_the_principal(client: httpx.AsyncClient, mint: Mint) -> None:
    token = mint(user_id=USER_ID, role=Role.TRUSTED_PERSON, wijken={"zuid", "west"})

    response = await client.get("/me", headers=bearer(token))

    assert response.status_code == 200
    assert response.json() == {
        "user_id": USER_ID,
        "role": "trusted_person",
        "wijken": ["west", "zuid"],
    }


async def test_no_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert response.json() == {"detail": "not authenticated"}
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("kind", ["garbage", "expired", "other-key", "other-audience", "basic"])
async def test_a_bad_token_is_401_without_saying_why(
    client: httpx.AsyncClient, token_keys: tuple[str, str], kind: str
) -> None:
    private, _ = token_keys
    other_private, _ = generate_keypair()
    headers = {
        "garbage": bearer("not.a.token"),
        "expired": bearer(
            mint_token(
                private, user_id=USER_ID, role=Role.COORDINATOR, now=1_000_000, ttl_seconds=60
            )
        ),
        "other-key": bearer(mint_token(other_private, user_id=USER_ID, role=Role.COORDINATOR)),
        "other-audience": bearer(
            mint_token(private, user_id=USER_ID, role=Role.COORDINATOR, audience="reporting")
        ),
        "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
    }[kind]

    response = await client.get("/me", headers=headers)

    assert response.status_code == 401
    assert response.json() == {"detail": "not authenticated"}


# --- validation --------------------------------------------------------------------------------


async def test_422_names_the_bad_fields_without_echoing_their_values(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/families",
        json={"contact_name": PLANTED_NAME, "wijk": "Kanaleneiland 12", "children": "Amrani"},
    )

    assert response.status_code == 422
    body = response.json()
    assert body["fields"] == ["children", "contact_name", "wijk"]
    assert {e["type"] for e in body["detail"]} == {
        "string_too_long",
        "enum",
        "int_parsing",
    }
    for error in body["detail"]:
        assert set(error) == {"loc", "msg", "type"}
    for planted in ("Fatima", "Amrani", "Kanaleneiland"):
        assert planted not in response.text


async def test_422_for_a_body_that_is_not_json_echoes_nothing(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/families",
        content=f'{{"contact_name": "{PLANTED_NAME}", '.encode(),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 422
    assert "Fatima" not in response.text
    assert [e["type"] for e in response.json()["detail"]] == ["json_invalid"]


# --- body size ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/upload", "/families"])
async def test_an_oversize_body_with_content_length_is_413(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, content=b" " * (MAX_BODY + 1))

    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {MAX_BODY} bytes"}


@pytest.mark.parametrize("path", ["/upload", "/families"])
async def test_an_oversize_chunked_body_is_413(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(
        path, content=chunks(MAX_BODY * 3), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.json() == {"detail": f"request body larger than {MAX_BODY} bytes"}


async def test_a_chunked_body_within_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", content=chunks(MAX_BODY))

    assert response.status_code == 200
    assert response.json() == {"size": MAX_BODY}


# --- failures ----------------------------------------------------------------------------------


async def test_an_unhandled_error_is_a_bare_500(client: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/boom")

    assert [(e["event"], e["error"]) for e in logs] == [("unhandled_error", "RuntimeError")]
    assert "boom" in " ".join(logs[0]["where"]), "the log says where it failed"
    assert "Fatima" not in repr(logs)
    assert "could not load" not in repr(logs)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json()["detail"] == "internal error"
    for leak in ("Traceback", "RuntimeError", "Fatima", "could not load"):
        assert leak not in response.text


async def test_an_unavailable_store_is_503_with_retry_after(client: httpx.AsyncClient) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/store-down")

    assert [e["event"] for e in logs] == ["store_unavailable"]

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "storage temporarily unavailable, try again"
    assert "hunter2" not in response.text
    assert "10.0.0.5" not in response.text


async def test_an_unmapped_store_error_is_503_with_a_reason_code_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    with structlog.testing.capture_logs() as logs:
        response = await client.get("/store-refused")

    assert [(e["event"], e["reason"]) for e in logs] == [("store_error", "store_refused")]
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["reason"] == "store_refused"
    assert PLANTED_NAME not in response.text
    assert PLANTED_NAME not in repr(logs)


async def test_an_unhandled_stale_write_is_409_with_its_reason(client: httpx.AsyncClient) -> None:
    response = await client.get("/store-stale")

    assert response.status_code == 409
    assert response.json()["reason"] == "stale_write"
    assert PLANTED_NAME not in response.text


# --- health ------------------------------------------------------------------------------------


async def test_live_and_ready_when_everything_answers(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    ready = await client.get("/health/ready")

    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checks": {"store": "ok", "broker": "ok"}}


async def test_ready_is_503_naming_the_failing_check(
    client: httpx.AsyncClient, checks: dict[str, FakeCheck]
) -> None:
    checks["broker"].healthy = False

    response = await client.get("/health/ready")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"store": "ok", "broker": "unavailable (ConnectionError)"},
    }
    assert "hunter2" not in response.text
    assert (await client.get("/health/live")).status_code == 200


async def test_ready_follows_a_real_store(verifier: TokenVerifier, tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "intake.sqlite3")
    await store.open()
    app = build_app(verifier, {"store": store})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
        up = await client.get("/health/ready")
        await store.close()
        down = await client.get("/health/ready")

    assert up.status_code == 200
    assert down.status_code == 503
    assert json.loads(down.text)["checks"] == {"store": "unavailable (StoreUnavailableError)"}
