"""Calls from the gateway to the services: a fresh short-lived token per call, the trace injected.

Failures become a few typed errors the pages know how to show; nothing a service answers is
passed to the browser as-is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import httpx
import structlog
from opentelemetry.propagate import inject

from alamal_runtime.auth import Role, mint_token
from alamal_runtime.http import TRACE_ID_HEADER
from alamal_runtime.telemetry import Telemetry

SERVICES: Final = ("intake", "cases", "notifications", "reporting")
"""The services behind the gateway (each answers the privacy, retention and ops routes)."""

log = structlog.get_logger(__name__)


class ServiceError(Exception):
    """Base of the errors a service call raises on purpose."""

    def __init__(self, service: str, status: int = 0) -> None:
        super().__init__(f"{service}: {status}")
        self.service = service
        self.status = status
        self.trace_id: str | None = None
        """The trace id the service answered with (`X-Trace-Id`), when it answered."""


class ServiceUnavailableError(ServiceError):
    """The service is down, not configured, timed out or answered 5xx."""


class NotFoundError(ServiceError):
    """404 (missing or outside the caller's scope: the services answer the same)."""


class ForbiddenError(ServiceError):
    """403: the caller's role may not do this."""


class ConflictError(ServiceError):
    """409 (a state or consent rule) or 428/412."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(service, status)
        self.detail = detail


class InvalidError(ServiceError):
    """422: the fields named (dotted paths below the body, e.g. `members.0.birth_year`)."""

    def __init__(
        self, service: str, fields: list[str], messages: dict[str, str] | None = None
    ) -> None:
        super().__init__(service, 422)
        self.fields = fields
        self.messages = messages or {}
        """Field path -> the service's message (codes and fixed phrases; never shown as-is)."""


@dataclass(frozen=True, slots=True)
class Caller:
    """The staff user on whose behalf the gateway calls."""

    user_id: str
    role: Role
    wijken: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: status, JSON (or None), raw bytes and selected headers."""

    status: int
    data: Any
    content: bytes
    headers: httpx.Headers


class ServiceClients:
    """One pooled HTTP client; `call(service, ...)` as a given staff user."""

    def __init__(
        self,
        urls: dict[str, str | None],
        *,
        signing_key: str,
        ttl: int,
        timeout: float,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._urls = {name: url.rstrip("/") for name, url in urls.items() if url}
        self._signing_key = signing_key
        self._ttl = ttl
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        if telemetry is not None:
            telemetry.trace_client(self._http)

    def configured(self, service: str) -> bool:
        """True when the gateway knows where the service is."""
        return service in self._urls

    async def close(self) -> None:
        """Release pooled connections."""
        await self._http.aclose()

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        caller: Caller | None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Call a service; raise a ServiceError for every non-2xx answer."""
        base = self._urls.get(service)
        if base is None:
            raise ServiceUnavailableError(service)
        sent = dict(headers or {})
        if caller is not None:
            token = mint_token(
                self._signing_key,
                user_id=caller.user_id,
                role=caller.role,
                wijken=list(caller.wijken),
                audience=service,
                ttl_seconds=self._ttl,
            )
            sent["Authorization"] = f"Bearer {token}"
        inject(sent)  # W3C traceparent (of the call's client span when the client is traced)
        try:
            response = await self._http.request(
                method, base + path, json=json, params=params, headers=sent
            )
        except httpx.HTTPError as exc:
            log.warning("service_unreachable", service=service, error=type(exc).__name__)
            raise ServiceUnavailableError(service) from None
        # No path: it can carry ids, and the method, service and status say enough here.
        log.info("service_call", service=service, method=method, status=response.status_code)
        return _reply(service, response)


def _reply(service: str, response: httpx.Response) -> Reply:
    status = response.status_code
    if status < 300:
        is_json = response.headers.get("content-type", "").startswith("application/json")
        data = response.json() if is_json and response.content else None
        return Reply(status=status, data=data, content=response.content, headers=response.headers)
    error = _error(service, response)
    error.trace_id = response.headers.get(TRACE_ID_HEADER)
    raise error


def _error(service: str, response: httpx.Response) -> ServiceError:
    status = response.status_code
    if status == 404:
        return NotFoundError(service, status)
    if status in (401, 403):
        # 401 means our own token was refused: a configuration error, shown as forbidden.
        return ForbiddenError(service, status)
    if status in (409, 412, 428):
        return ConflictError(service, status, _detail(response))
    if status == 422:
        return InvalidError(service, _fields(response), _messages(response))
    log.warning(
        "service_error",
        service=service,
        status=status,
        service_trace_id=response.headers.get(TRACE_ID_HEADER),
    )
    return ServiceUnavailableError(service, status)


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", "")
    except ValueError:
        return ""
    return detail if isinstance(detail, str) else ""


def _fields(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return ["body"]
    fields = body.get("fields") if isinstance(body, dict) else None
    if isinstance(fields, list):
        return [str(f) for f in fields]
    return ["body"]


def _messages(response: httpx.Response) -> dict[str, str]:
    try:
        body = response.json()
    except ValueError:
        return {}
    detail = body.get("detail") if isinstance(body, dict) else None
    found: dict[str, str] = {}
    for item in detail if isinstance(detail, list) else []:
        if isinstance(item, dict) and isinstance(item.get("loc"), list):
            path = ".".join(str(p) for p in item["loc"][1:]) or "body"
            found.setdefault(path, str(item.get("msg", ""))[:200])
    return found


def results(data: Any) -> list[Any]:
    """The items of a list answer, or of a page answer (`{"results": [...], ...}`)."""
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        items = data.get("results", data.get("items", []))
        return items if isinstance(items, list) else []
    return []
