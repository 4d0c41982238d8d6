"""The partner guide's own sample receiver, run as the partner would run it (a separate process
that rejects whatever it cannot verify), registered through the verification flow."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

from alamal_contracts.codes import ConsentPurpose
from alamal_notifications.testing import INTAKE, Admin, Producer, escalation, registration

pytestmark = pytest.mark.integration

SERVICE = Path(__file__).resolve().parents[1]
SAMPLE = SERVICE / "examples" / "webhook_receiver.py"
GUIDE = SERVICE / "README.md"


def free_port() -> int:
    """A port nothing listens on now (the endpoint's URL is needed before the receiver runs)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def sample_receiver(port: int, secret: str) -> Iterator[subprocess.Popen[str]]:
    """The guide's sample in its own Python process, with the partner's secret."""
    process = subprocess.Popen(  # noqa: S603 - our own file, our own interpreter
        [sys.executable, str(SAMPLE), "--port", str(port)],
        env={**os.environ, "WEBHOOK_SECRET": secret},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            assert process.poll() is None, "the sample receiver exited"
            assert time.monotonic() < deadline, "the sample receiver never listened"
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


async def next_line(stream: IO[str], *, within: float = 15.0) -> dict[str, Any]:
    """The next event the sample printed."""
    line = await asyncio.wait_for(asyncio.to_thread(stream.readline), within)
    event: dict[str, Any] = json.loads(line)
    return event


@pytest.fixture
async def partner_secret(admin: Admin) -> tuple[str, dict[str, Any], int]:
    """A partner with a new, unverified endpoint on a free port: (partner id, endpoint, port)."""
    partner = await admin.partner()
    port = free_port()
    endpoint = await admin.endpoint(partner, f"http://127.0.0.1:{port}/webhooks", verify=False)
    return partner, endpoint, port


def test_the_guide_shows_the_sample_that_is_tested() -> None:
    """The code in the partner guide is this file, verbatim (so the guide cannot drift)."""
    code = SAMPLE.read_text(encoding="utf-8")
    guide = GUIDE.read_text(encoding="utf-8")
    assert f"```python\n{code}```" in guide


async def test_the_guide_sample_registers_through_the_verification_flow(
    admin: Admin,
    client: httpx.AsyncClient,
    producer: Producer,
    partner_secret: tuple[str, dict[str, Any], int],
) -> None:
    partner, endpoint, port = partner_secret
    verify = f"/endpoints/{endpoint['id']}/verify"
    # Not listening yet, then listening with a wrong secret: both refused, still disabled.
    down = await client.post(verify, headers=admin.headers)
    assert down.status_code == 409
    assert "connect_error" in down.json()["detail"]
    with sample_receiver(port, "whsec_" + "QUFB" * 11):
        wrong = await client.post(verify, headers=admin.headers)
        assert wrong.status_code == 409
        assert "http_400" in wrong.json()["detail"]
    shown = await client.get(f"/endpoints/{endpoint['id']}", headers=admin.headers)
    assert shown.json()["enabled"] is False

    with sample_receiver(port, endpoint["secret"]) as process:
        assert process.stdout is not None
        verified = await client.post(verify, headers=admin.headers)
        assert verified.status_code == 200, verified.text
        assert verified.json()["enabled"] is True
        test_event = await next_line(process.stdout)
        assert test_event["type"] == "webhook.test"
        assert test_event["data"] == {"endpoint_id": endpoint["id"], "partner_id": partner}

        registered = registration(granted=(ConsentPurpose.SHARE_YOUTH_CARE,))
        await producer.send(registered, source=INTAKE)
        event = escalation(partner, family_id=registered.family_id)
        await producer.send(event)
        delivered = await next_line(process.stdout)
        assert delivered["type"] == "referral.escalated"
        assert delivered["data"]["referral_id"] == event.referral_id
        assert set(delivered["data"]) == {"referral_id", "partner_id", "status", "url"}
