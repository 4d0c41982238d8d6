"""Calls to the services' operator and admin endpoints with a freshly minted service token."""

from __future__ import annotations

import getpass
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from alamal_runtime.auth import Role, mint_token

SIGNING_KEY_ENV = "ALAMAL_OPS_SIGNING_KEY_FILE"
USER_ENV = "ALAMAL_OPS_USER"
DEFAULT_URLS = {
    "gateway": "http://127.0.0.1:8100",
    "intake": "http://127.0.0.1:8101",
    "cases": "http://127.0.0.1:8102",
    "notifications": "http://127.0.0.1:8103",
    "reporting": "http://127.0.0.1:8104",
}
TOKEN_TTL_SECONDS = 60


class OpsError(Exception):
    """A command could not do its work; the message is safe to print."""


@dataclass(frozen=True, slots=True)
class Signer:
    """Mints short-lived service tokens with the gateway's signing key."""

    private_key_pem: str
    user_id: str

    @classmethod
    def load(cls, key_file: str | None, user: str | None) -> Signer:
        """From `--signing-key-file` or $ALAMAL_OPS_SIGNING_KEY_FILE, and the operator's id."""
        path = key_file or os.environ.get(SIGNING_KEY_ENV)
        if not path:
            raise OpsError(f"give --signing-key-file or set {SIGNING_KEY_ENV}")
        try:
            pem = Path(path).read_text(encoding="ascii")
        except OSError as exc:
            raise OpsError(f"cannot read the signing key file ({type(exc).__name__})") from None
        user_id = user or os.environ.get(USER_ENV) or _default_user()
        try:
            user_id = str(uuid.UUID(user_id))
        except ValueError:
            raise OpsError("the operator id must be a UUID") from None
        return cls(pem, user_id)

    def headers(self, role: Role, service: str) -> dict[str, str]:
        """An Authorization header for one call to `service`."""
        token = mint_token(
            self.private_key_pem,
            user_id=self.user_id,
            role=role,
            audience=service,
            ttl_seconds=TOKEN_TTL_SECONDS,
        )
        return {"Authorization": f"Bearer {token}"}


def _default_user() -> str:
    # Stable per operator account, so the services' logs can tell operators apart.
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{getpass.getuser()}.operators.alamal"))


async def outbox_backlog(
    signer: Signer, urls: dict[str, str], *, client: httpx.AsyncClient | None = None
) -> dict[str, int | str]:
    """Each service's outbox backlog, or why it could not be read."""
    result: dict[str, int | str] = {}
    async with client_for(client) as http:
        for service, url in urls.items():
            try:
                response = await http.get(
                    f"{url}/ops/outbox", headers=signer.headers(Role.OPERATOR, service)
                )
            except httpx.HTTPError as exc:
                result[service] = f"unreachable ({type(exc).__name__})"
                continue
            if response.status_code != 200:
                result[service] = f"HTTP {response.status_code}"
                continue
            result[service] = int(response.json()["backlog"])
    return result


async def resend_webhook(
    signer: Signer, url: str, endpoint_id: str, message_id: str
) -> dict[str, object]:
    """Ask notifications to send one webhook message again now (admin)."""
    async with client_for(None) as http:
        response = await http.post(
            f"{url}/endpoints/{endpoint_id}/messages/{message_id}/resend",
            headers=signer.headers(Role.ADMIN, "notifications"),
        )
    return json_or_raise(response)


async def recover_webhooks(
    signer: Signer, url: str, endpoint_id: str, since: datetime
) -> dict[str, object]:
    """Ask notifications to queue every failed message since `since` again (admin)."""
    async with client_for(None) as http:
        response = await http.post(
            f"{url}/endpoints/{endpoint_id}/recover",
            json={"since": since.isoformat()},
            headers=signer.headers(Role.ADMIN, "notifications"),
        )
    return json_or_raise(response)


def json_or_raise(response: httpx.Response) -> dict[str, Any]:
    """The JSON answer, or OpsError with the status and the service's detail."""
    if response.status_code >= 400:
        detail = (
            response.json().get("detail")
            if response.headers.get("content-type", "").startswith("application/json")
            else None
        )
        raise OpsError(f"HTTP {response.status_code}: {detail if isinstance(detail, str) else ''}")
    body: dict[str, Any] = response.json()
    return body


class client_for:  # noqa: N801 - used like a function
    """The given client, or a new one closed on exit: `async with client_for(None) as http`."""

    def __init__(self, given: httpx.AsyncClient | None) -> None:
        self._given = given
        self._own: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        self._own = httpx.AsyncClient(timeout=10)
        return self._own

    async def __aexit__(self, *_: object) -> None:
        if self._own is not None:
            await self._own.aclose()
