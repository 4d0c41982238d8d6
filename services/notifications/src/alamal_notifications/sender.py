"""One signed webhook request: SSRF check, Standard Webhooks headers, capped response excerpt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from standardwebhooks.webhooks import Webhook

from alamal_notifications.domain.delivery import is_success, parse_retry_after
from alamal_notifications.ssrf import Network, UnsafeURLError, resolve_checked

USER_AGENT = "AlAmal-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt got back; `error` is a code, never a message that could quote data."""

    status_code: int | None
    error: str | None
    latency_ms: float
    excerpt: str
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        """A 2xx within the timeout."""
        return self.error is None and is_success(self.status_code)


def signature_header(secrets: Sequence[str], *, msg_id: str, at: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated (rotation overlap)."""
    return " ".join(
        Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body) for secret in secrets
    )


class Sender:
    """Sends webhook requests; never follows redirects and never waits past the timeout.

    Requests go to the checked IP address, so connection pools are keyed by that address: one
    client per endpoint origin keeps a TLS connection set up (and verified) for one host name
    from being reused for another name on the same address.
    """

    def __init__(
        self,
        client_factory: Callable[[], httpx.AsyncClient],
        *,
        require_https: bool,
        allowed: Sequence[Network],
        timeout: float,
        excerpt_bytes: int,
    ) -> None:
        self._client_factory = client_factory
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._require_https = require_https
        self._allowed = tuple(allowed)
        self._timeout = timeout
        self._excerpt_bytes = excerpt_bytes

    async def send(self, url: str, *, msg_id: str, body: str, secrets: Sequence[str]) -> Outcome:
        """Sign and POST `body`; the outcome says what happened (it never raises for it)."""
        started = time.perf_counter()

        def outcome(status: int | None, error: str | None, excerpt: str = "") -> Outcome:
            return Outcome(status, error, round((time.perf_counter() - started) * 1000, 2), excerpt)

        try:
            target = await resolve_checked(
                url, require_https=self._require_https, allowed=self._allowed
            )
        except UnsafeURLError:
            return outcome(None, "unsafe_target")
        at = datetime.now(UTC)
        headers = {
            "Host": target.host_header(),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": signature_header(secrets, msg_id=msg_id, at=at, body=body),
        }
        extensions = {"sni_hostname": target.url.host} if target.url.scheme == "https" else {}
        client = self._client_for(target.url)
        request = client.build_request(
            "POST",
            target.request_url(),
            content=body.encode("utf-8"),
            headers=headers,
            extensions=extensions,
        )
        try:
            async with asyncio.timeout(self._timeout):
                response = await client.send(request, stream=True, follow_redirects=False)
                try:
                    excerpt = await self._excerpt(response)
                finally:
                    await response.aclose()
        except TimeoutError:
            return outcome(None, "timeout")
        except httpx.TimeoutException:
            return outcome(None, "timeout")
        except httpx.ConnectError:
            return outcome(None, "connect_error")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            return outcome(None, "connection_error")
        except httpx.HTTPError:
            return outcome(None, "http_error")
        status = response.status_code
        error = None
        if 300 <= status < 400:
            error = "redirect"
        elif not is_success(status):
            error = f"http_{status}"
        result = outcome(status, error, excerpt)
        retry_after = parse_retry_after(response.headers.get("retry-after"), now=datetime.now(UTC))
        return Outcome(
            result.status_code, result.error, result.latency_ms, result.excerpt, retry_after
        )

    def _client_for(self, url: httpx.URL) -> httpx.AsyncClient:
        origin = f"{url.scheme}://{url.host}:{url.port}"
        client = self._clients.get(origin)
        if client is None:
            client = self._clients[origin] = self._client_factory()
        return client

    async def aclose(self) -> None:
        """Close every connection pool."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def _excerpt(self, response: httpx.Response) -> str:
        if self._excerpt_bytes == 0:
            return ""
        collected = bytearray()
        async for chunk in response.aiter_bytes():
            collected.extend(chunk)
            if len(collected) >= self._excerpt_bytes:
                break
        text = bytes(collected[: self._excerpt_bytes]).decode("utf-8", errors="replace")
        return "".join(ch if ch.isprintable() else " " for ch in text)
