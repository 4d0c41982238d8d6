"""Forwarded headers: believed only from proxies named in settings, never by default.

A real uvicorn server on a free port; the client is a local process (127.0.0.1), which is
exactly the address uvicorn's own default would trust.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from alamal_runtime.auth import generate_keypair
from alamal_runtime.main import uvicorn_config
from alamal_runtime.settings import ServiceSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _echo() -> FastAPI:
    app = FastAPI()

    @app.get("/who")
    async def who(request: Request) -> dict[str, str]:
        return {"host": request.client.host if request.client else "", "scheme": request.url.scheme}

    return app


async def _served(forwarded_allow_ips: str) -> AsyncIterator[str]:
    settings = ServiceSettings(
        store_url="sqlite:///unused.sqlite3",
        kafka_bootstrap="127.0.0.1:1",
        token_public_key=generate_keypair()[1],
        http_port=_free_port(),
        forwarded_allow_ips=forwarded_allow_ips,
    )
    server = uvicorn.Server(uvicorn_config(settings, _echo()))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{settings.http_port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def default_server() -> AsyncIterator[str]:
    async for url in _served(""):
        yield url


@pytest.fixture
async def proxied_server() -> AsyncIterator[str]:
    async for url in _served("127.0.0.1"):
        yield url


FORGED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


async def test_by_default_a_local_client_cannot_choose_its_address(default_server: str) -> None:
    async with httpx.AsyncClient() as client:
        seen = (await client.get(f"{default_server}/who", headers=FORGED)).json()
    assert seen == {"host": "127.0.0.1", "scheme": "http"}


async def test_a_named_proxy_is_believed(proxied_server: str) -> None:
    async with httpx.AsyncClient() as client:
        seen = (await client.get(f"{proxied_server}/who", headers=FORGED)).json()
    assert seen == {"host": "203.0.113.7", "scheme": "https"}


def test_a_malformed_proxy_list_is_refused() -> None:
    with pytest.raises(ValueError, match="forwarded_allow_ips"):
        ServiceSettings(
            store_url="sqlite:///unused.sqlite3",
            kafka_bootstrap="127.0.0.1:1",
            token_public_key=generate_keypair()[1],
            forwarded_allow_ips="*",
        )
