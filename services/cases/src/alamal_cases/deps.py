"""FastAPI dependencies shared by cases' routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from alamal_runtime.store import Store


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(_store)]
