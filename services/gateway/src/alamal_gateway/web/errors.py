"""Error pages: in the user's language, never a stack trace, never a service's own words."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

from alamal_gateway.clients import (
    ForbiddenError,
    NotFoundError,
    ServiceError,
    ServiceUnavailableError,
)
from alamal_gateway.web.core import (
    TRACE_ID,
    CsrfError,
    LoginRequiredError,
    PageForbiddenError,
    optional_viewer,
    render,
)
from alamal_runtime.http import current_trace_id, where_it_failed

log = structlog.get_logger(__name__)


def trace_ids(*service_errors: ServiceError | None) -> list[str]:
    """The references staff can quote to the operator: this request's trace id (the gateway
    answers it in `X-Trace-Id`, and every service call of the request carries the same
    trace), and each failing service's own if it answered with another one."""
    ids = [tid] if (tid := current_trace_id()) else []
    for service_error in service_errors:
        answered = None if service_error is None else service_error.trace_id
        if answered and TRACE_ID.fullmatch(answered) and answered not in ids:
            ids.append(answered)
    return ids


async def _page(
    request: Request, status: int, kind: str, service_error: ServiceError | None = None
) -> HTMLResponse:
    try:
        viewer = await optional_viewer(request)
    except Exception:  # the store itself may be what failed
        viewer = None
    return render(
        request,
        "error.html",
        viewer,
        status_code=status,
        kind=kind,
        trace_ids=trace_ids(service_error),
    )


_HANDLED = (
    LoginRequiredError,
    PageForbiddenError,
    CsrfError,
    ServiceError,
    StarletteHTTPException,
    RequestValidationError,
)


class PageRoute(APIRoute):
    """A route whose unexpected errors become the error page (logged by type and place only)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap the handler FastAPI built."""
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except _HANDLED:
                raise
            except Exception as exc:
                log.error("page_error", error=type(exc).__name__, where=where_it_failed(exc))
                return await _page(request, 500, "error")

        return guarded


def install(app: FastAPI) -> None:
    """Register the page error handlers."""

    @app.exception_handler(LoginRequiredError)
    async def _login(request: Request, _: LoginRequiredError) -> Response:
        target = request.url.path if request.method == "GET" else "/"
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(PageForbiddenError)
    async def _forbidden(request: Request, _: PageForbiddenError) -> Response:
        return await _page(request, 403, "forbidden")

    @app.exception_handler(ForbiddenError)
    async def _service_forbidden(request: Request, exc: ForbiddenError) -> Response:
        return await _page(request, 403, "forbidden", exc)

    @app.exception_handler(CsrfError)
    async def _csrf(request: Request, _: CsrfError) -> Response:
        log.warning("csrf_rejected", path=request.url.path)
        return await _page(request, 403, "csrf")

    @app.exception_handler(NotFoundError)
    async def _not_found(request: Request, exc: NotFoundError) -> Response:
        return await _page(request, 404, "not-found", exc)

    @app.exception_handler(ServiceUnavailableError)
    async def _down(request: Request, exc: ServiceUnavailableError) -> Response:
        log.warning("page_service_unavailable", service=exc.service)
        return await _page(request, 503, "unavailable", exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return await _page(request, 404, "not-found")
        if exc.status_code == 405:
            return await _page(request, 405, "not-found")
        return await _page(request, exc.status_code, "error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, _: RequestValidationError) -> Response:
        # Only path and query parameters are declared; a malformed id is a page that is not there.
        return await _page(request, 404, "not-found")
