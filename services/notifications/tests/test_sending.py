"""Signing, SSRF checks and the sender against a real receiver (no service running)."""

from __future__ import annotations

import base64
import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alamal_notifications.receiver import Receiver
from alamal_notifications.secretbox import new_webhook_secret
from alamal_notifications.sender import Sender, signature_header
from alamal_notifications.ssrf import UnsafeURLError, is_forbidden, resolve_checked

LOCAL = (ipaddress.ip_network("127.0.0.1/32"),)


def plain() -> httpx.AsyncClient:
    return httpx.AsyncClient(follow_redirects=False, trust_env=False)


def test_secrets_follow_the_standard() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_webhook_secret() != secret


def test_one_signature_per_secret() -> None:
    at = datetime.now(UTC)
    header = signature_header(
        [new_webhook_secret(), new_webhook_secret()], msg_id="msg_1", at=at, body="{}"
    )
    assert [part.split(",")[0] for part in header.split(" ")] == ["v1", "v1"]


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.0.1", True),
        ("127.0.0.2", True),
        ("169.254.169.254", True),
        ("224.0.0.1", True),
        ("240.0.0.1", True),
        ("0.0.0.0", True),  # noqa: S104 - an address under test
        ("100.64.1.1", True),
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),
        ("::ffff:10.0.0.1", True),
        ("127.0.0.1", False),
        ("93.184.216.34", False),
        ("2606:4700::1111", False),
    ],
)
def test_private_and_reserved_addresses_are_forbidden(address: str, forbidden: bool) -> None:
    assert is_forbidden(ipaddress.ip_address(address), LOCAL) is forbidden


async def test_names_are_resolved_and_every_address_checked() -> None:
    with pytest.raises(UnsafeURLError):
        await resolve_checked("http://localhost:9/x", require_https=False, allowed=())
    target = await resolve_checked("http://localhost:9/x", require_https=False, allowed=LOCAL)
    assert target.address == "127.0.0.1"
    assert target.host_header() == "localhost:9"
    assert str(target.request_url()) == "http://127.0.0.1:9/x"
    with pytest.raises(UnsafeURLError, match="https"):
        await resolve_checked("http://localhost:9/x", require_https=True, allowed=LOCAL)
    with pytest.raises(UnsafeURLError, match="resolve"):
        await resolve_checked("https://no-such-host.invalid/", require_https=True, allowed=())


async def test_the_sender_checks_the_address_again_at_delivery() -> None:
    receiver = Receiver()
    await receiver.start()
    try:
        strict = Sender(plain, require_https=False, allowed=(), timeout=1, excerpt_bytes=16)
        refused = await strict.send(
            receiver.url("/x"), msg_id="msg_1", body="{}", secrets=[new_webhook_secret()]
        )
        assert (refused.ok, refused.error) == (False, "unsafe_target")
        assert receiver.received == []

        secret = new_webhook_secret()
        allowed = Sender(plain, require_https=False, allowed=LOCAL, timeout=1, excerpt_bytes=16)
        sent = await allowed.send(
            receiver.url("/x").replace("127.0.0.1", "localhost"),
            msg_id="msg_2",
            body='{"a":1}',
            secrets=[secret],
        )
        assert sent.ok
        assert sent.status_code == 200
        [got] = receiver.received
        assert got.verifies(secret)
        assert got.headers["host"] == f"localhost:{receiver.port}"
        await strict.aclose()
        await allowed.aclose()
    finally:
        await receiver.stop()


def _self_signed(folder: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for `localhost` only, and a client trusting it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode("ascii"))
    return server, client


async def test_https_goes_to_the_checked_address_and_verifies_the_host_name(
    tmp_path: Path,
) -> None:
    server_tls, client_tls = _self_signed(tmp_path)
    receiver = Receiver()
    await receiver.start(tls=server_tls)
    secret = new_webhook_secret()
    try:
        sender = Sender(
            lambda: httpx.AsyncClient(verify=client_tls, trust_env=False),
            require_https=True,
            allowed=LOCAL,
            timeout=2,
            excerpt_bytes=8,
        )
        try:
            by_name = await sender.send(
                f"https://localhost:{receiver.port}/x", msg_id="msg_1", body="{}", secrets=[secret]
            )
            assert by_name.ok, by_name
            assert receiver.received[0].verifies(secret)
            # The certificate names localhost only: the address itself must not pass.
            by_address = await sender.send(
                f"https://127.0.0.1:{receiver.port}/x", msg_id="msg_2", body="{}", secrets=[secret]
            )
            assert by_address.error == "connect_error"
            assert len(receiver.received) == 1
        finally:
            await sender.aclose()
    finally:
        await receiver.stop()
