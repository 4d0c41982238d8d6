"""Names to show instead of ids: families (from intake), staff (the gateway's users), partners.

Every lookup is in the caller's scope: intake answers only the families she may see, and a
family she may not see simply has no name here (the page then says "a family").
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from alamal_gateway.accounts import list_users
from alamal_gateway.clients import (
    ForbiddenError,
    NotFoundError,
    ServiceUnavailableError,
    results,
)
from alamal_gateway.web.core import Viewer
from alamal_gateway.web.state import gateway
from alamal_runtime.auth import Role

PAGE = 100
MAX_PAGES = 50
"""At most 5,000 families per lookup; a coordinator's wijken hold hundreds."""


async def family_names(request: Request, viewer: Viewer) -> dict[str, list[str]] | None:
    """Family id -> first names of every family in the caller's scope, following every page of
    intake's search (no silent cap); None when intake does not answer."""
    clients = gateway(request).clients
    names: dict[str, list[str]] = {}
    cursor: str | None = None
    try:
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            data = (
                await clients.call("intake", "GET", "/families", viewer.caller, params=params)
            ).data
            for family in results(data):
                names[str(family["id"])] = [str(n) for n in family["first_names"]]
            cursor = data.get("next_cursor") if isinstance(data, dict) else None
            if not cursor:
                break
    except (ServiceUnavailableError, ForbiddenError, NotFoundError):
        return None
    return names


async def staff_names(request: Request) -> dict[str, str]:
    """User id -> the name colleagues know her by."""
    return {u.id: u.display_name or u.username for u in await list_users(gateway(request).store)}


async def trusted_persons(request: Request, viewer: Viewer) -> list[dict[str, str]]:
    """Active trusted persons a coordinator may assign: in one of her wijken (or without any)."""
    if viewer.user.role is not Role.COORDINATOR:
        return []
    users = await list_users(gateway(request).store)
    return [
        {"id": u.id, "name": u.display_name or u.username}
        for u in users
        if u.role is Role.TRUSTED_PERSON
        and not u.disabled
        and (not u.wijken or set(u.wijken) & set(viewer.user.wijken))
    ]


async def partner_names(request: Request, viewer: Viewer) -> dict[str, dict[str, str]]:
    """Partner id -> {name, kind} from the partner directory ({} when it does not answer)."""
    try:
        reply = await gateway(request).clients.call(
            "notifications", "GET", "/partners/directory", viewer.caller
        )
    except (ServiceUnavailableError, NotFoundError, ForbiddenError):
        return {}
    items = reply.data if isinstance(reply.data, list) else results(reply.data)
    return {str(p["id"]): {"name": str(p["name"]), "kind": str(p["kind"])} for p in items}
