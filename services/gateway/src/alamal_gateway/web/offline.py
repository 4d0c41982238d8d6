"""The offline layer's routes: the service worker, the session's device key, and the sync of a
visit saved on a device (JSON, for the page script), with the held visits it may lead to."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from functools import cache
from importlib import resources
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from alamal_gateway.clients import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    ServiceUnavailableError,
)
from alamal_gateway.i18n import LANGUAGES, N_, Translator
from alamal_gateway.offline_keys import KEY_ID_PATTERN, SealError, b64url
from alamal_gateway.web.casework import VISIT_FIELDS, visit_request
from alamal_gateway.web.core import Viewer, optional_viewer, translator
from alamal_gateway.web.forms import FIELD_MESSAGES, map_fields
from alamal_gateway.web.offline_pages import HOLD_REASONS, OFFLINE_NOTICE, SYNC_MESSAGES
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter()
log = structlog.get_logger(__name__)

SW_ASSETS = ("sw.js", "offline.js", "app.css", "icon.svg", "icon-192.png", "manifest.webmanifest")
KEY = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{16,64}$")]


@cache
def _service_worker() -> tuple[str, str]:
    """sw.js with its version (a digest of itself and the assets it caches) filled in."""
    static = resources.files("alamal_gateway").joinpath("static")
    digest = hashlib.sha256()
    for name in SW_ASSETS:
        digest.update(static.joinpath(name).read_bytes())
    return static.joinpath("sw.js").read_text(encoding="utf-8"), digest.hexdigest()[:16]


@router.get("/sw.js", include_in_schema=False)
async def service_worker(request: Request) -> Response:
    """The service worker at the root (its scope is the whole site); never cached stale."""
    script, version = _service_worker()
    max_age = gateway(request).settings.session_absolute_seconds
    body = script.replace("__VERSION__", version).replace("__MAX_AGE__", str(max_age))
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/offline", response_class=HTMLResponse, include_in_schema=False)
async def offline_notice(request: Request) -> HTMLResponse:
    """What a device shows for a page it did not keep: in the three languages, no user data
    (the service worker caches it once for everyone on the device)."""
    gw = gateway(request)
    translators = [Translator(code, gw.translations[code]) for code in LANGUAGES]
    page = gw.templates.get_template("offline.html")
    return HTMLResponse(page.render(translators=translators, notice=OFFLINE_NOTICE))


def _json(state: str, status: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"state": state, **extra}, status_code=status)


async def _trusted(request: Request) -> Viewer | JSONResponse:
    viewer = await optional_viewer(request)
    if viewer is None:
        return _json("login", 401)
    if viewer.user.role is not Role.TRUSTED_PERSON:
        return _json("forbidden", 403)
    return viewer


@router.get("/offline/key", include_in_schema=False)
async def session_key(request: Request) -> JSONResponse:
    """This session's device key (raw, once per page that lacks it): the page imports it as a
    non-extractable, encrypt-only WebCrypto key. Trusted persons only; never stored anywhere."""
    viewer = await _trusted(request)
    if isinstance(viewer, JSONResponse):
        return viewer
    keys = gateway(request).offline_keys
    key_id = keys.key_id(viewer.session.key)
    return JSONResponse(
        {"key_id": key_id, "key": b64url(keys.key(viewer.user.id, key_id))},
        headers={"Cache-Control": "no-store"},
    )


class SealedIn(BaseModel):
    """The sealed private part: AES-GCM nonce and ciphertext, base64url."""

    model_config = ConfigDict(extra="forbid")

    iv: str = Field(min_length=16, max_length=16)
    data: str = Field(min_length=22, max_length=16_000)


class QueuedFieldsIn(BaseModel):
    """The visit form's plain fields as the device kept them (codes, dates and numbers)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=40)
    occurred_on: str = Field(max_length=10)
    duration_minutes: str = Field(max_length=4)
    topic_codes: list[Annotated[str, Field(max_length=40)]] = Field(max_length=20)
    follow_up: str = Field(max_length=3)


class QueuedVisitIn(BaseModel):
    """A visit from a device's queue."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: KEY
    case_id: uuid.UUID
    key_id: str = Field(pattern=KEY_ID_PATTERN)
    captured_at: AwareDatetime
    fields: QueuedFieldsIn
    sealed: SealedIn


class PrivatePart(BaseModel):
    """What the seal holds: the strength seen and the private note."""

    model_config = ConfigDict(extra="forbid")

    strength: str = Field(max_length=5000)
    private_note: str = Field(max_length=5000)


@router.post("/offline/visits", include_in_schema=False)
async def sync_visit(request: Request) -> JSONResponse:
    """Send one queued visit to cases, once per device-made key. Answers the page script with
    a state: sent, held (with the reason, in words), invalid (field -> words), not-found,
    unreadable, forbidden, login (session gone: the queue stays) or unavailable (try later)."""
    viewer = await _trusted(request)
    if isinstance(viewer, JSONResponse):
        return viewer
    sent_token = request.headers.get("X-CSRF-Token", "")
    if not hmac.compare_digest(sent_token.encode(), viewer.session.csrf_token.encode()):
        log.warning("csrf_rejected", path=request.url.path)
        return _json("forbidden", 403)
    t = translator(request, viewer)
    try:
        queued = QueuedVisitIn.model_validate_json(await request.body())
        private = PrivatePart.model_validate_json(
            gateway(request).offline_keys.open(
                viewer.user.id,
                queued.key_id,
                iv=queued.sealed.iv,
                data=queued.sealed.data,
                idempotency_key=queued.idempotency_key,
                case_id=str(queued.case_id),
            )
        )
    except (ValidationError, SealError, json.JSONDecodeError, UnicodeDecodeError):
        log.info("offline_visit_unreadable")
        return _json("unreadable", 400, message=t.gettext(SYNC_MESSAGES["unreadable"]))
    values: dict[str, Any] = {
        **queued.fields.model_dump(),
        "strength": private.strength.strip(),
        "private_note": private.private_note.strip(),
    }
    body, errors = visit_request(values)
    if errors:
        return _invalid(t, errors)
    body["captured_offline_at"] = queued.captured_at.isoformat()
    return await _send(request, viewer, queued, body, t)


async def _send(
    request: Request,
    viewer: Viewer,
    queued: QueuedVisitIn,
    body: dict[str, Any],
    t: Translator,
) -> JSONResponse:
    try:
        reply = await gateway(request).clients.call(
            "cases",
            "POST",
            f"/cases/{queued.case_id}/visits",
            viewer.caller,
            json=body,
            headers={"Idempotency-Key": queued.idempotency_key},
        )
    except InvalidError as invalid:
        return _invalid(t, map_fields(invalid.fields, VISIT_FIELDS))
    except NotFoundError:
        return _json("not-found", 404, message=t.gettext(SYNC_MESSAGES["not-found"]))
    except (ForbiddenError, ConflictError):
        return _json("forbidden", 403, message=t.gettext(SYNC_MESSAGES["forbidden"]))
    except ServiceUnavailableError:
        return _json("unavailable", 503)
    data = reply.data if isinstance(reply.data, dict) else {}
    if reply.status == 202:
        reason = str(data.get("reason", "case-closed"))
        log.info("offline_visit_held", case_id=str(queued.case_id), reason=reason)
        message = t.gettext(HOLD_REASONS.get(reason, HOLD_REASONS["case-closed"]))
        return _json("held", 202, reason=reason, message=message, next="/visits/held")
    family = str(data.get("family_id", ""))
    log.info("offline_visit_sent", case_id=str(queued.case_id))
    return _json("sent", 201, next=f"/families/{family}?notice=visit-logged")


FIELD_LABELS = {
    "kind": N_("What kind of contact?"),
    "topic_codes": N_("About"),
    "occurred_on": N_("Date"),
    "duration_minutes": N_("How long?"),
    "follow_up": N_("Follow up"),
    "strength": N_("A strength of the family you saw"),
    "private_note": N_("Private note (stays with Al Amal)"),
}
"""The visit form's labels: the queue on another page names the field it speaks of."""


def _invalid(t: Translator, errors: dict[str, str]) -> JSONResponse:
    words = {
        name: (f"{t.gettext(FIELD_LABELS[name])}: " if name in FIELD_LABELS else "")
        + t.gettext(FIELD_MESSAGES.get(code, FIELD_MESSAGES["invalid"]))
        for name, code in errors.items()
    }
    return _json("invalid", 422, errors=words)
