"""Dead letters for operators, through each service's `/ops/dead-letters` routes.

A letter is named `<consumer>:<source topic>:<partition>:<offset>` in the services' API, the
gateway's operator page and here alike, and its state is the service's (open, replayed,
failed-again, resolved): the tool shows, replays and resolves; the service does the work and
records who did it. Never a payload value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from alamal_ops.services_api import OpsError, Signer, client_for, json_or_raise
from alamal_runtime.auth import Role

STATES = ("open", "replayed", "failed-again", "resolved")
RESOLVE_REASONS = (
    "invalid-data",
    "superseded",
    "duplicate",
    "handled-manually",
    "family-erased",
    "test-data",
)


def service_of(name: str) -> str:
    """The service that holds a letter: the consumer part of its name."""
    service, sep, _ = name.partition(":")
    if not sep or not service:
        raise OpsError(
            f"{name!r} is not a dead letter's name: use consumer:topic:partition:offset as "
            "`dead-letters list` shows it"
        )
    return service


@dataclass(frozen=True, slots=True)
class Listing:
    """Every service's letters, and the services that could not be asked (with why)."""

    letters: list[dict[str, Any]]
    unreachable: dict[str, str]


async def list_letters(
    signer: Signer, urls: dict[str, str], *, state: str | None = None
) -> Listing:
    """The letters of every service in `urls`, newest first."""
    letters: list[dict[str, Any]] = []
    unreachable: dict[str, str] = {}
    params = {"state": state} if state else None
    async with client_for(None) as http:
        for service, url in urls.items():
            try:
                response = await http.get(
                    f"{url}/ops/dead-letters",
                    params=params,
                    headers=signer.headers(Role.OPERATOR, service),
                )
            except httpx.HTTPError as exc:
                unreachable[service] = f"unreachable ({type(exc).__name__})"
                continue
            if response.status_code != 200:
                unreachable[service] = f"HTTP {response.status_code}"
                continue
            letters += response.json()
    letters.sort(key=lambda letter: str(letter.get("at", "")), reverse=True)
    return Listing(letters, unreachable)


async def get_letter(signer: Signer, urls: dict[str, str], name: str) -> dict[str, Any]:
    """One letter, from the service that holds it."""
    return await _call(signer, urls, name, "GET", "")


async def replay(signer: Signer, urls: dict[str, str], name: str) -> dict[str, Any]:
    """Ask the service to publish the letter's record to its topic again."""
    return await _call(signer, urls, name, "POST", "/replay")


async def resolve(signer: Signer, urls: dict[str, str], name: str, reason: str) -> dict[str, Any]:
    """Ask the service to close the letter for good, with the reason code."""
    return await _call(signer, urls, name, "POST", "/resolve", {"reason": reason})


async def _call(
    signer: Signer,
    urls: dict[str, str],
    name: str,
    method: str,
    action: str,
    body: dict[str, str] | None = None,
) -> dict[str, Any]:
    service = service_of(name)
    url = urls.get(service)
    if url is None:
        raise OpsError(f"no service {service!r} in this stack (known: {', '.join(sorted(urls))})")
    async with client_for(None) as http:
        response = await http.request(
            method,
            f"{url}/ops/dead-letters/{name}{action}",
            json=body,
            headers=signer.headers(Role.OPERATOR, service),
        )
    if response.status_code == 404:
        raise OpsError(f"{service} has no dead letter named {name}: see `dead-letters list`")
    return json_or_raise(response)
