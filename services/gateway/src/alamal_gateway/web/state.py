"""What every page needs, built once in the composition root and kept on `app.state.gateway`."""

from __future__ import annotations

import gettext
from dataclasses import dataclass

from fastapi import Request
from jinja2 import Environment

from alamal_gateway.clients import ServiceClients
from alamal_gateway.login_guard import LoginGuard
from alamal_gateway.offline_keys import OfflineKeys
from alamal_gateway.sessions import SessionStore
from alamal_gateway.settings import GatewaySettings
from alamal_runtime.store import Store


@dataclass(slots=True)
class Gateway:
    """The gateway's collaborators: store, sessions, login guard, service clients, templates,
    and the keys of visits saved offline."""

    settings: GatewaySettings
    store: Store
    sessions: SessionStore
    guard: LoginGuard
    clients: ServiceClients
    templates: Environment
    translations: dict[str, gettext.GNUTranslations]
    offline_keys: OfflineKeys


def gateway(request: Request) -> Gateway:
    """The gateway's collaborators for this request."""
    gw: Gateway = request.app.state.gateway
    return gw
