"""Login, logout and the language switch."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alamal_gateway.accounts import find_by_username, update_user
from alamal_gateway.i18n import LANGUAGES
from alamal_gateway.login_guard import LoginOutcome
from alamal_gateway.passwords import verify_password
from alamal_gateway.web.core import (
    LANG_COOKIE,
    SESSION_COOKIE,
    checked_form,
    field,
    optional_viewer,
    redirect,
    render,
    safe_next,
    set_pre_cookie,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(route_class=PageRoute)

HOME_OF = {
    Role.TRUSTED_PERSON: "/caseload",
    Role.COORDINATOR: "/caseload",
    Role.ADMIN: "/admin/users",
    Role.OPERATOR: "/operator",
    Role.PRIVACY_OFFICER: "/privacy",
}


@router.get("/", response_model=None)
async def home(request: Request) -> Response:
    """The user's start page, or the login page."""
    viewer = await optional_viewer(request)
    if viewer is None:
        return redirect("/login")
    return redirect(HOME_OF.get(viewer.user.role, "/login"))


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return render(request, "login.html", None, next=safe_next(next), error=None)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the password with rate limiting, lockout and audit; start a session."""
    gw = gateway(request)
    form = await checked_form(request, None)
    username, password = field(form, "username")[:100], str(form.get("password") or "")[:256]
    target = safe_next(field(form, "next"))
    address = request.client.host if request.client else "unknown"
    now = datetime.now(UTC)
    user = await find_by_username(gw.store, username) if username else None
    user_id = None if user is None else user.id
    refusal = await gw.guard.refusal(address=address, user_id=user_id, now=now)
    if refusal is not None:
        await gw.guard.record(address=address, user_id=user_id, outcome=refusal, now=now)
        return _failed(request, target, "locked")
    matches = verify_password(None if user is None else user.password_hash, password)
    if user is None or not matches:
        outcome = LoginOutcome.BAD_CREDENTIALS
        await gw.guard.record(address=address, user_id=user_id, outcome=outcome, now=now)
        return _failed(request, target, "credentials")
    if user.disabled:
        await gw.guard.record(
            address=address, user_id=user_id, outcome=LoginOutcome.DISABLED, now=now
        )
        return _failed(request, target, "credentials")
    await gw.guard.record(address=address, user_id=user.id, outcome=LoginOutcome.SUCCESS, now=now)
    cookie, _ = await gw.sessions.start(user.id, now=now)
    response = redirect(target if target != "/" else HOME_OF.get(user.role, "/"))
    response.set_cookie(
        SESSION_COOKIE, cookie, secure=True, httponly=True, samesite="lax", path="/"
    )
    return response


def _failed(request: Request, target: str, error: str) -> HTMLResponse:
    # One message for a wrong username and a wrong password: no account enumeration.
    return render(request, "login.html", None, status_code=401, next=target, error=error)


@router.post("/logout", response_model=None)
async def logout(request: Request) -> Response:
    """End the session server-side and drop the cookie."""
    gw = gateway(request)
    viewer = await optional_viewer(request)
    await checked_form(request, viewer)
    await gw.sessions.end(request.cookies.get(SESSION_COOKIE))
    if viewer is not None:
        address = request.client.host if request.client else "unknown"
        await gw.guard.record(
            address=address,
            user_id=viewer.user.id,
            outcome=LoginOutcome.LOGOUT,
            now=datetime.now(UTC),
        )
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, secure=True, httponly=True, samesite="lax", path="/")
    return response


@router.post("/language", response_model=None)
async def switch_language(request: Request) -> Response:
    """Switch the language: stored on the user, or in a cookie before login."""
    viewer = await optional_viewer(request)
    form = await checked_form(request, viewer)
    language = field(form, "language")
    response: RedirectResponse = redirect(safe_next(field(form, "next")))
    if language not in LANGUAGES:
        return response
    if viewer is not None:
        await update_user(gateway(request).store, viewer.user.id, language=language)
    response.set_cookie(
        LANG_COOKIE,
        language,
        secure=True,
        httponly=True,
        samesite="lax",
        path="/",
        max_age=365 * 24 * 3600,
    )
    set_pre_cookie(request, response)
    return response
