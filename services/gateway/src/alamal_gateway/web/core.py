"""Page plumbing: who is logged in, role checks, CSRF, rendering in the user's language."""

from __future__ import annotations

import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Annotated, Any, Final

from babel import Locale
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment
from starlette.datastructures import FormData

from alamal_gateway.accounts import User, get_user
from alamal_gateway.clients import Caller
from alamal_gateway.i18n import (
    LANGUAGE_NAMES,
    LANGUAGES,
    Translator,
    choose_language,
    from_accept_language,
)
from alamal_gateway.labels import ALL, NOTICES
from alamal_gateway.sessions import Session
from alamal_gateway.web.forms import FIELD_MESSAGES
from alamal_gateway.web.offline_pages import OfflinePage, offline_page
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role
from alamal_runtime.http import current_trace_id

SESSION_COOKIE = "__Host-alamal-session"
PRE_COOKIE = "__Host-alamal-pre"
"""Before login: a double-submit CSRF token for the login and language forms."""
LANG_COOKIE = "__Host-alamal-lang"
MAX_FORM_FIELD = 5000


class LoginRequiredError(Exception):
    """No live session: send the browser to the login page."""


class PageForbiddenError(Exception):
    """Logged in, but this page is not for her role."""


class CsrfError(Exception):
    """A POST without the form's synchroniser token (or with a wrong one)."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """The logged-in staff member and her session."""

    user: User
    session: Session

    @property
    def caller(self) -> Caller:
        """Whom the services are called for."""
        return Caller(user_id=self.user.id, role=self.user.role, wijken=self.user.wijken)


async def optional_viewer(request: Request) -> Viewer | None:
    """The logged-in user, or None (cached for the request)."""
    if hasattr(request.state, "viewer"):
        cached: Viewer | None = request.state.viewer
        return cached
    gw = gateway(request)
    viewer = None
    session = await gw.sessions.current(request.cookies.get(SESSION_COOKIE))
    if session is not None:
        user = await get_user(gw.store, session.user_id)
        if user is not None and not user.disabled:
            viewer = Viewer(user=user, session=session)
    request.state.viewer = viewer
    return viewer


async def _viewer(request: Request) -> Viewer:
    viewer = await optional_viewer(request)
    if viewer is None:
        raise LoginRequiredError
    return viewer


CurrentViewer = Annotated[Viewer, Depends(_viewer)]


def require_role(viewer: Viewer, *roles: Role) -> None:
    """PageForbiddenError unless the viewer has one of `roles`."""
    if viewer.user.role not in roles:
        raise PageForbiddenError


CASEWORK = (Role.TRUSTED_PERSON, Role.COORDINATOR)


def language_of(request: Request, viewer: Viewer | None) -> str:
    """The user's own language; before login the chosen one or the browser's."""
    if viewer is not None:
        return choose_language(viewer.user.language)
    return choose_language(
        request.cookies.get(LANG_COOKIE),
        from_accept_language(request.headers.get("accept-language")),
    )


def translator(request: Request, viewer: Viewer | None) -> Translator:
    """The translator for this request."""
    language = language_of(request, viewer)
    return Translator(language, gateway(request).translations[language])


def _pre_token(request: Request) -> str:
    token = request.cookies.get(PRE_COOKIE)
    if token is None or len(token) > 100:
        if not hasattr(request.state, "new_pre_token"):
            request.state.new_pre_token = secrets.token_urlsafe(32)
        token = str(request.state.new_pre_token)
    return token


def csrf_token(request: Request, viewer: Viewer | None) -> str:
    """The token every form carries: the session's, or the pre-login double-submit one."""
    return viewer.session.csrf_token if viewer is not None else _pre_token(request)


async def checked_form(request: Request, viewer: Viewer | None) -> FormData:
    """The POSTed form after the CSRF check (CsrfError otherwise)."""
    form = await request.form(max_files=0, max_fields=200)
    sent = form.get("csrf_token")
    if viewer is not None:
        expected: str | None = viewer.session.csrf_token
    else:
        expected = request.cookies.get(PRE_COOKIE)
    if not isinstance(sent, str) or not expected or not hmac.compare_digest(sent, expected):
        raise CsrfError
    return form


def field(form: FormData, name: str) -> str:
    """A text field of the form, trimmed and bounded ('' when absent)."""
    value = form.get(name)
    return value.strip()[:MAX_FORM_FIELD] if isinstance(value, str) else ""


def fields(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes)."""
    return [v.strip()[:200] for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def page_html(
    templates: Environment,
    t: Translator,
    template: str,
    *,
    user: User | None,
    csrf_token: str,
    path: str,
    offline: OfflinePage | None = None,
    **context: Any,
) -> str:
    """A page's HTML in the translator's language: every page goes through here, tests too."""
    return templates.get_template(template).render(
        offline=offline,
        _=t.gettext,
        t=t,
        lang=t.language,
        dir=t.direction,
        user=user,
        csrf_token=csrf_token,
        languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        path=path,
        label=lambda kind, code: t.gettext(ALL[kind][code]) if code in ALL[kind] else code,
        error_text=FIELD_MESSAGES,
        notices=NOTICES,
        language_name=lambda code: _language_name(code, t.language),
        **context,
    )


TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")
"""A trace id as services answer it (`X-Trace-Id`)."""


def render(
    request: Request,
    template: str,
    viewer: Viewer | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page in the user's language and direction."""
    gw = gateway(request)
    t = translator(request, viewer)
    html = page_html(
        gw.templates,
        t,
        template,
        user=None if viewer is None else viewer.user,
        csrf_token=csrf_token(request, viewer),
        path=request.url.path,
        offline=offline_page(
            gw.offline_keys,
            t,
            user_id=None if viewer is None else viewer.user.id,
            role=None if viewer is None else viewer.user.role,
            session_key="" if viewer is None else viewer.session.key,
        ),
        **({"trace_ids": [tid] if (tid := current_trace_id()) else []} | context),
    )
    response = HTMLResponse(html, status_code=status_code)
    set_pre_cookie(request, response)
    return response


def set_pre_cookie(request: Request, response: HTMLResponse | RedirectResponse) -> None:
    """Send the pre-login CSRF cookie if this request made a new one."""
    token = getattr(request.state, "new_pre_token", None)
    if token is not None:
        response.set_cookie(PRE_COOKIE, token, secure=True, httponly=True, samesite="lax", path="/")


def redirect(url: str) -> RedirectResponse:
    """See other: after a POST, the browser GETs the result (no double submit on reload)."""
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """A local path to return to after login; anything else goes home."""
    if value and value.startswith("/") and not value.startswith(("//", "/\\")) and len(value) < 300:
        return value
    return "/"


def _language_name(code: str, in_language: str) -> str:
    """A family language's name in the user's language (from the CLDR data Babel carries)."""
    name = Locale.parse(in_language).languages.get(code)
    return str(name) if name else code
