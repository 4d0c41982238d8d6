"""User management for admins: create, set role and wijken, reset the password, disable."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alamal_gateway.accounts import (
    LANGUAGES,
    STAFF_ROLES,
    USERNAME_PATTERN,
    UsernameTakenError,
    create_user,
    get_user,
    list_users,
    normalise_username,
    update_user,
    valid_wijken,
)
from alamal_gateway.clients import NotFoundError
from alamal_gateway.labels import WIJK
from alamal_gateway.passwords import password_problem
from alamal_gateway.web.core import (
    CurrentViewer,
    Viewer,
    checked_form,
    field,
    fields,
    redirect,
    render,
    require_role,
)
from alamal_gateway.web.errors import PageRoute
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

router = APIRouter(prefix="/admin/users", route_class=PageRoute)


async def _page(
    request: Request,
    viewer: Viewer,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    users = await list_users(gateway(request).store)
    return render(
        request,
        "users.html",
        viewer,
        status_code=status_code,
        users=users,
        roles=[r.value for r in STAFF_ROLES],
        wijken=list(WIJK),
        user_languages=LANGUAGES,
        values=values or {"role": "trusted_person", "wijken": [], "language": "nl"},
        errors=errors or {},
        notice=notice,
    )


@router.get("", response_class=HTMLResponse)
async def users_page(request: Request, viewer: CurrentViewer, notice: str = "") -> HTMLResponse:
    """Every user with role, wijken and state, and the form to add one."""
    require_role(viewer, Role.ADMIN)
    return await _page(request, viewer, notice=notice)


@router.post("", response_model=None)
async def add_user(request: Request, viewer: CurrentViewer) -> Response:
    """Create a user; the admin hands the first password over in person."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    values: dict[str, object] = {
        "username": field(form, "username"),
        "display_name": field(form, "display_name")[:80],
        "role": field(form, "role"),
        "wijken": fields(form, "wijken"),
        "language": field(form, "language"),
    }
    password = str(form.get("password") or "")
    errors: dict[str, str] = {}
    if not USERNAME_PATTERN.fullmatch(normalise_username(str(values["username"]))):
        errors["username"] = "username"
    if values["role"] not in {r.value for r in STAFF_ROLES}:
        errors["role"] = "choose"
    problem = password_problem(password)
    if problem is not None:
        errors["password"] = "password"  # noqa: S105 - a message key
    try:
        wijken = valid_wijken(list(fields(form, "wijken")))
    except ValueError:
        errors["wijken"] = "invalid"
        wijken = ()
    if not errors:
        try:
            await create_user(
                gateway(request).store,
                username=str(values["username"]),
                password=password,
                role=Role(str(values["role"])),
                wijken=wijken,
                language=str(values["language"]),
                display_name=str(values["display_name"]),
            )
        except UsernameTakenError:
            errors["username"] = "taken"
    if errors:
        return await _page(request, viewer, values=values, errors=errors, status_code=422)
    return redirect("/admin/users?notice=user-created")


@router.post("/{user_id}", response_model=None)
async def change_user(request: Request, user_id: uuid.UUID, viewer: CurrentViewer) -> Response:
    """Set role and wijken, reset the password, or disable / enable one user."""
    require_role(viewer, Role.ADMIN)
    form = await checked_form(request, viewer)
    store = gateway(request).store
    user = await get_user(store, str(user_id))
    if user is None:
        raise NotFoundError("gateway", 404)
    action = field(form, "action")
    if action == "password":
        password = str(form.get("password") or "")
        if password_problem(password) is not None:
            return redirect("/admin/users?notice=password-too-short")
        await update_user(store, user.id, password=password)
        return redirect("/admin/users?notice=password-reset")
    if action in ("disable", "enable"):
        if user.id == viewer.user.id:
            return redirect("/admin/users?notice=not-yourself")
        await update_user(store, user.id, disabled=action == "disable")
        return redirect("/admin/users?notice=user-changed")
    role = field(form, "role")
    if role not in {r.value for r in STAFF_ROLES}:
        return redirect("/admin/users?notice=invalid")
    try:
        wijken = valid_wijken(fields(form, "wijken"))
    except ValueError:
        return redirect("/admin/users?notice=invalid")
    if user.id == viewer.user.id and role != Role.ADMIN.value:
        return redirect("/admin/users?notice=not-yourself")
    await update_user(store, user.id, role=Role(role), wijken=wijken)
    return redirect("/admin/users?notice=user-changed")
