"""A check over the whole test session that the published contract is complete: every error
status an in-process service answered during the tests is listed in its OpenAPI document.

Registered by the root conftest. Each app built by `ServiceRuntime.create_app` with an OpenAPI
document records the route template and status of every answer; at the end of the session an
error status that the app's `openapi()` does not list for that operation fails the run, naming
the service, the operation and the status. Only statuses answered by a matched route count
(an unknown path's 404 and Starlette's 405 belong to no route).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alamal_runtime.service import ServiceRuntime

ANSWERED: defaultdict[int, set[tuple[str, str, int]]] = defaultdict(set)
APPS: dict[int, FastAPI] = {}
IGNORED = frozenset({405})


class _Recorder:
    def __init__(self, app: ASGIApp, owner: int) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path_format", None) or getattr(route, "path", None)
            if status and path:
                ANSWERED[self.owner].add((scope["method"], str(path), status[0]))


@pytest.fixture(scope="session", autouse=True)
def _record_answers() -> Iterator[None]:
    original = ServiceRuntime.create_app

    def recording(self: ServiceRuntime, **kw: Any) -> FastAPI:
        app = original(self, **kw)
        if app.openapi_url:
            APPS[id(app)] = app
            app.add_middleware(_Recorder, owner=id(app))
        return app

    ServiceRuntime.create_app = recording  # type: ignore[method-assign]
    try:
        yield
    finally:
        ServiceRuntime.create_app = original  # type: ignore[method-assign]


def undocumented() -> list[str]:
    """`service METHOD path: status` for every error answered but not in the OpenAPI."""
    found: set[str] = set()
    for owner, answers in ANSWERED.items():
        app = APPS[owner]
        paths = app.openapi()["paths"]
        for method, path, status in answers:
            operation = paths.get(path, {}).get(method.lower())
            if status < 400 or status in IGNORED or operation is None:
                continue
            if str(status) not in operation["responses"]:
                found.add(f"{app.title}: {method} {path}: {status}")
    return sorted(found)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Fail the run if a route answered an error status its OpenAPI does not list."""
    missing = undocumented()
    if not missing:
        return
    lines = "\n".join(f"  {line}" for line in missing)
    message = f"OpenAPI incomplete: answers the documents do not list:\n{lines}"
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(message, red=True)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
