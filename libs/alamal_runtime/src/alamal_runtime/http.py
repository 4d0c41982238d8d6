"""HTTP building blocks every service uses: auth dependency, health routes, error handling."""

from __future__ import annotations

import contextlib
import json
import time
import traceback
from typing import Annotated, Any, Final, Protocol, Self

import structlog
from fastapi import APIRouter, Depends, FastAPI, Request, Response, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alamal_runtime.auth import InvalidTokenError, Principal, Role, TokenVerifier
from alamal_runtime.store import (
    DuplicateError,
    StaleWriteError,
    Store,
    StoreError,
    StoreUnavailableError,
)
from alamal_runtime.telemetry import tag_ids

log = structlog.get_logger(__name__)

_bearer = HTTPBearer(auto_error=False)


class HTTPProblem(Exception):  # noqa: N818 - a response, not a failure
    """An error with a status code and a safe, personal-data-free detail."""

    def __init__(self, status_code: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller, or 401 without detail.

    Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, and a thread
    hop per request costs more than verifying the signature (~0.1 ms) on the event loop; it
    also binds the caller's ids to the request's own log context, not a thread's copy.
    """
    verifier: TokenVerifier = request.app.state.token_verifier
    if credentials is None:
        raise HTTPProblem(401, "not authenticated", {"WWW-Authenticate": "Bearer"})
    try:
        principal = verifier.verify(credentials.credentials)
    except InvalidTokenError:
        raise HTTPProblem(401, "not authenticated", {"WWW-Authenticate": "Bearer"}) from None
    structlog.contextvars.bind_contextvars(user_id=principal.user_id, role=principal.role.value)
    trace.get_current_span().set_attribute("enduser.id", principal.user_id)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


class Pingable(Protocol):
    """Something readiness can check."""

    async def ping(self) -> None:
        """Raise unless reachable."""


def health_router(checks: dict[str, Pingable]) -> APIRouter:
    """`/health/live` (the process answers) and `/health/ready` (every dependency answers)."""
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check.ping()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"unavailable ({type(exc).__name__})"
        ok = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
        )

    return router


async def _store(request: Request) -> Store:  # async: no worker thread per request
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]
"""The service's own store, as `ServiceRuntime.create_app` put it on the app."""


def ops_router(service: str, store: Store) -> APIRouter:
    """Operator-only `/ops/outbox` (this instance's outbox backlog, a count); the dead-letter
    routes are `alamal_runtime.dead_letters_api`'s.

    Runtime plumbing, not part of a service's own API: kept out of its OpenAPI document (and
    so out of the services' route-by-role matrices; the roles are tested with the ops tool).
    """
    router = APIRouter(prefix="/ops", tags=["operations"], include_in_schema=False)

    @router.get("/outbox")
    async def outbox(principal: CurrentPrincipal) -> dict[str, str | int]:
        if principal.role is not Role.OPERATOR:
            raise HTTPProblem(403, "operators only")
        return {"service": service, "backlog": await store.outbox_backlog()}

    return router


def current_trace_id() -> str | None:
    """The trace id of the request being answered (as `X-Trace-Id` says), if it is traced."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


_UNPARSABLE: Final = "There was an error parsing the body"


def install_error_handlers(app: FastAPI) -> None:
    """422 naming each bad field (never echoing values), safe 4xx/503, and no stack traces."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        fields = sorted({".".join(str(p) for p in e["loc"][1:]) or "body" for e in errors})
        return JSONResponse(
            {"detail": errors, "fields": fields}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
        )

    @app.exception_handler(StarletteHTTPException)
    async def _framework(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a body it cannot decode (not UTF-8, say) with a bare 400: it is
        # invalid input like any other, so it gets the 422 naming `body`.
        if exc.status_code == status.HTTP_400_BAD_REQUEST and exc.detail == _UNPARSABLE:
            problem = {"loc": ["body"], "msg": "the body is not UTF-8 JSON", "type": "json_invalid"}
            return JSONResponse(
                {"detail": [problem], "fields": ["body"]},
                status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
            )
        return await http_exception_handler(request, exc)

    @app.exception_handler(HTTPProblem)
    async def _problem(_: Request, exc: HTTPProblem) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(StoreUnavailableError)
    async def _unavailable(_: Request, exc: StoreUnavailableError) -> JSONResponse:
        log.error("store_unavailable")
        return JSONResponse(
            {
                "detail": "storage temporarily unavailable, try again",
                "reason": exc.reason,
                "trace_id": current_trace_id(),
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(StoreError)
    async def _store_error(_: Request, exc: StoreError) -> JSONResponse:
        # A store error no route handled: never a bare 500. A lost race on one document is a
        # conflict the caller can resolve by reading again; anything else is the store's fault.
        # Logged and answered with the type and reason code only (messages may name ids).
        if isinstance(exc, StaleWriteError | DuplicateError):
            log.warning("store_conflict_unhandled", error=type(exc).__name__, reason=exc.reason)
            return JSONResponse(
                {
                    "detail": "changed at the same time; read it again and retry",
                    "reason": exc.reason,
                },
                status_code=409,
            )
        log.error("store_error", error=type(exc).__name__, reason=exc.reason)
        return JSONResponse(
            {
                "detail": "storage could not complete the request, try again later",
                "reason": exc.reason,
                "trace_id": current_trace_id(),
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )


def where_it_failed(exc: BaseException) -> list[str]:
    """The traceback as file:line:function only: no message, no locals (they may hold names)."""
    return [
        f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}:{frame.name}"
        for frame in traceback.extract_tb(exc.__traceback__)
    ]


class CatchUnexpected:
    """Turns any unhandled error into a 500 with the trace id, logged without its message.

    Starlette's own fallback re-raises to the server, which logs the message and traceback;
    exception messages can quote personal data, so this stops them here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            log.error("unhandled_error", error=type(exc).__name__, where=where_it_failed(exc))
            if started:
                return
            body = json.dumps({"detail": "internal error", "trace_id": current_trace_id()}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


TRACE_ID_HEADER = "X-Trace-Id"
QUIET_PREFIXES = ("/health/",)
"""Paths polled by probes: no request line for them (they would drown the log)."""


def route_template(scope: Scope) -> str:
    """The template of the route a request matched (`/cases/{case_id}`), never the raw path."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(template, str):
        return template
    return "(mount)" if scope.get("root_path") else "(unmatched)"


class RequestLog:
    """One log line per request: method, route template, status, duration and (bound by the
    logging set-up) the trace id; never the path's values or the query string.

    Also answers the trace id in `X-Trace-Id`, so any answer (an error above all) leads to its
    lines in every service's log, and tags the request's span with the family, case or
    referral id of the path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if nothing below starts a response

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Routed by now; the server span ends with the last body message, so tag it here.
                params = scope.get("path_params") or {}
                tag_ids(
                    family_id=params.get("family_id"),
                    case_id=params.get("case_id"),
                    referral_id=params.get("referral_id"),
                )
                if (trace_id := current_trace_id()) is not None:
                    headers = list(message.get("headers", []))
                    headers.append((TRACE_ID_HEADER.lower().encode(), trace_id.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        finally:
            if not str(scope.get("path", "")).startswith(QUIET_PREFIXES):
                log.info(
                    "http_request",
                    method=scope.get("method"),
                    route=route_template(scope),
                    status=status,
                    duration_ms=round((time.perf_counter() - started) * 1000, 1),
                )


class BodySizeLimit:
    """Refuses request bodies over `max_bytes` with 413, whether or not Content-Length is sent."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
        received = 0
        refused = started = False

        async def limited_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # FastAPI turns any error while reading a body into its own 400: drop that answer.
            if not refused:
                started = True
                await send(message)

        with contextlib.suppress(_BodyTooLargeError):
            await self.app(scope, limited_receive, guarded_send)
        if refused and not started:
            await _too_large(send, self.max_bytes)


class _BodyTooLargeError(Exception):
    pass


async def _too_large(send: Send, max_bytes: int) -> None:
    body = b'{"detail":"request body larger than ' + str(max_bytes).encode() + b' bytes"}'
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def field_error(field: str, message: str, *, kind: str = "value_error") -> RequestValidationError:
    """A 422 for one body field found invalid after parsing, shaped like every other 422."""
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": kind}])


class DomainView(BaseModel):
    """A response model read from the same-named attributes of a domain object."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, obj: object) -> Self:
        """Build the response from a domain object (tuples become lists, enums stay enums)."""
        return cls.model_validate(obj)
