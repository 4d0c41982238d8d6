"""FastAPI dependencies shared by notifications' routers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from alamal_notifications.dispatcher import Dispatcher
from alamal_notifications.secretbox import SecretBox
from alamal_notifications.sender import Sender
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.auth import Principal, Role
from alamal_runtime.http import CurrentPrincipal, HTTPProblem
from alamal_runtime.store import Store


@dataclass(frozen=True, slots=True)
class Services:
    """What the routers use, built once in the composition root."""

    store: Store
    settings: NotificationsSettings
    box: SecretBox
    sender: Sender
    dispatcher: Dispatcher


def _services(request: Request) -> Services:
    services: Services = request.app.state.notifications
    return services


ServicesDep = Annotated[Services, Depends(_services)]

FORBIDDEN = "not allowed for this role"


def _admin(principal: CurrentPrincipal) -> Principal:
    if principal.role is not Role.ADMIN:
        raise HTTPProblem(403, FORBIDDEN)
    return principal


def _admin_or_operator(principal: CurrentPrincipal) -> Principal:
    if principal.role not in {Role.ADMIN, Role.OPERATOR}:
        raise HTTPProblem(403, FORBIDDEN)
    return principal


AdminDep = Annotated[Principal, Depends(_admin)]
"""An admin (partners, endpoints, secrets, resends)."""

ReaderDep = Annotated[Principal, Depends(_admin_or_operator)]
"""An admin or operator (delivery logs and failures hold no personal data)."""
