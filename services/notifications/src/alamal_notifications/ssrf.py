"""SSRF protection: endpoint URLs may not reach private, loopback, link-local or reserved hosts.

Checked when an endpoint is created and again before every delivery (the name may resolve
elsewhere by then: DNS rebinding); the request then goes to the address that was checked.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

type Network = ipaddress.IPv4Network | ipaddress.IPv6Network
type Address = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000


class UnsafeURLError(Exception):
    """The URL is not acceptable as a webhook endpoint; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class CheckedTarget:
    """A URL together with the address it was checked to resolve to."""

    url: httpx.URL
    address: str

    def request_url(self) -> httpx.URL:
        """The URL with its host replaced by the checked address (no second DNS lookup)."""
        return self.url.copy_with(host=self.address)

    def host_header(self) -> str:
        """The Host header of the original URL."""
        host = self.url.host
        if ":" in host:
            host = f"[{host}]"
        return host if self.url.port is None else f"{host}:{self.url.port}"


def check_shape(raw: str, *, require_https: bool) -> httpx.URL:
    """Parse and check the URL's form (scheme, host, no credentials); UnsafeURLError if not."""
    if len(raw) > MAX_URL_LENGTH:
        raise UnsafeURLError("URL too long")
    try:
        url = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError):
        raise UnsafeURLError("not a valid URL") from None
    allowed = {"https"} if require_https else {"https", "http"}
    if url.scheme not in allowed:
        raise UnsafeURLError("the URL must use https" if require_https else "http(s) only")
    if not url.host:
        raise UnsafeURLError("the URL needs a host")
    if url.userinfo:
        raise UnsafeURLError("the URL may not carry credentials")
    if url.fragment:
        raise UnsafeURLError("the URL may not have a fragment")
    return url


def _unwrap(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_forbidden(address: Address, allowed: Sequence[Network]) -> bool:
    """Private, loopback, link-local, multicast, reserved or non-global, unless allowed."""
    plain = _unwrap(address)
    if any(plain in network for network in allowed):
        return False
    return not plain.is_global or plain.is_multicast or plain.is_reserved


async def resolve_checked(
    raw: str, *, require_https: bool, allowed: Sequence[Network]
) -> CheckedTarget:
    """Check the URL and every address its host resolves to; return one checked address."""
    url = check_shape(raw, require_https=require_https)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(url.host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                url.host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError):
            raise UnsafeURLError("the host does not resolve") from None
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
        if not addresses:
            raise UnsafeURLError("the host does not resolve")
    # Every address must pass: a name with one public and one private address is refused.
    if any(is_forbidden(address, allowed) for address in addresses):
        raise UnsafeURLError("the host resolves to a private or reserved address")
    return CheckedTarget(url=url, address=str(_unwrap(addresses[0])))
