"""Security headers on every answer, and no caching of pages that show personal data."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


HSTS = "max-age=31536000; includeSubDomains"


class SecurityHeaders:
    """Adds the headers above and `Server-Timing`; pages (not assets) get `no-store`.

    With `hsts` (the production profile), answers over HTTPS also carry
    `Strict-Transport-Security`, so a browser never again tries the site over plain HTTP.
    Behind a TLS proxy the scheme is HTTPS only when the proxy is trusted
    (`forwarded_allow_ips`).
    """

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_static = str(scope.get("path", "")).startswith("/static/")
        hsts = self.hsts and scope.get("scheme") == "https"
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if not is_static:
                    headers["Cache-Control"] = "no-store"
                if hsts:
                    headers["Strict-Transport-Security"] = HSTS
                elapsed_ms = (time.perf_counter() - started) * 1000
                headers["Server-Timing"] = f"app;dur={elapsed_ms:.1f}"
            await send(message)

        await self.app(scope, receive, with_headers)
