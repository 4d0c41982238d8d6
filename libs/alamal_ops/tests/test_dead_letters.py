"""Dead letters through a real service's operator API and the ops CLI, on a real broker.

One name everywhere (`consumer:topic:partition:offset`), the states open / replayed /
failed-again / resolved in the API and the tool, and `resolve` with a reason code, audited.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaProducer
from rich.console import Console

from alamal_ops.cli import main
from alamal_runtime.audit import AuditOutcome, audit_of_family
from alamal_runtime.auth import Role
from alamal_runtime.dead_letters_api import original_headers
from alamal_runtime.stack_state import ServiceState, StackState, state_path, write_state
from alamal_stack.processes import free_port

from .conftest import SERVICE, Probe, eventually, family_record

type Mint = Callable[..., str]

PLANTED_NAME = "Fatima-El-Amrani-7731"  # a personal value inside a malformed record
OPERATOR = str(uuid.uuid4())


@pytest.fixture(scope="module")
async def stack_dir(
    probe: Probe, kafka_bootstrap: str, token_keys: tuple[str, str], tmp_path_factory: Any
) -> AsyncIterator[Path]:
    """The probe served on a real port, and a state file naming it as the runner would."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(probe.app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started or None), every=0.05)
    data = tmp_path_factory.mktemp("ops-stack")
    key = data / "signing.pem"
    key.write_text(token_keys[0], encoding="ascii")
    write_state(
        state_path(data),
        StackState(
            runner_pid=os.getpid(),
            bootstrap=kafka_bootstrap,
            services={SERVICE: ServiceState(url=f"http://127.0.0.1:{port}")},
            data_dir=str(data),
            signing_key=str(key),
        ),
    )
    yield data
    server.should_exit = True
    await task


async def cli(stack_dir: Path, *args: str) -> tuple[int, str]:
    """Run the CLI against the probe's stack (in a thread: it runs its own loop)."""

    def run() -> tuple[int, str]:
        buffer = io.StringIO()
        console = Console(file=buffer, width=250, color_system=None)
        code = main(["--no-progress", "--data-dir", str(stack_dir), *args], console=console)
        return code, buffer.getvalue()

    return await asyncio.to_thread(run)


def operator(mint: Mint, role: Role = Role.OPERATOR, user: str = OPERATOR) -> dict[str, str]:
    """Headers of a caller with `role`."""
    return {"Authorization": f"Bearer {mint(user_id=user, role=role, audience=SERVICE)}"}


async def letters(client: httpx.AsyncClient, mint: Mint, **params: str) -> list[dict[str, Any]]:
    """The probe's letters through its API."""
    answer = await client.get("/ops/dead-letters", params=params, headers=operator(mint))
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def letter_of(
    client: httpx.AsyncClient, mint: Mint, event_id: str, state: str = "open"
) -> dict[str, Any]:
    """The letter of an event once it is there in `state`."""

    async def found() -> dict[str, Any] | None:
        return next(
            (
                x
                for x in await letters(client, mint)
                if x["event_id"] == event_id and x["state"] == state
            ),
            None,
        )

    return await eventually(found)


async def failing_event(probe: Probe, producer: AIOKafkaProducer) -> tuple[str, str]:
    """Publish an event the probe's handler fails on; return (event id, family id)."""
    event_id = str(uuid.uuid4())
    probe.failing.add(event_id)
    value, key, headers = family_record(event_id)
    await producer.send_and_wait(probe.topic, value=value, key=key, headers=headers)
    return event_id, key.decode()


async def test_a_letter_has_one_name_in_the_api_and_the_tool_and_never_a_value(
    probe: Probe,
    producer: AIOKafkaProducer,
    client: httpx.AsyncClient,
    mint: Mint,
    stack_dir: Path,
) -> None:
    bad_value = ('{"first_name": "' + PLANTED_NAME + '"}').encode()
    sent = await producer.send_and_wait(
        probe.topic, value=bad_value, key=b"k1", headers=[("ce_type", b"nl.alamal.intake.x.v1")]
    )
    name = f"{SERVICE}:{probe.topic}:{sent.partition}:{sent.offset}"

    async def listed() -> dict[str, Any] | None:
        return next((x for x in await letters(client, mint) if x["name"] == name), None)

    letter = await eventually(listed)
    assert letter["reason"] == "invalid_event"
    assert letter["state"] == "open"
    assert letter["value_bytes"] == len(bad_value)
    assert letter["event_type"] is None  # not a type of the contracts: input, not shown
    one = await client.get(f"/ops/dead-letters/{name}", headers=operator(mint))
    assert one.json() == letter

    code, listing = await cli(stack_dir, "dead-letters", "list", "--service", SERVICE)
    assert code == 0, listing
    assert name in listing
    code, detail = await cli(stack_dir, "dead-letters", "inspect", name)
    assert code == 0, detail
    assert f"{len(bad_value)} bytes" in detail
    assert "invalid_event" in detail
    for shown in (json.dumps(letter), listing, detail):
        assert PLANTED_NAME not in shown
        assert "first_name" not in shown
    for role in (Role.ADMIN, Role.COORDINATOR, Role.TRUSTED_PERSON):
        refused = await client.get("/ops/dead-letters", headers=operator(mint, role))
        assert refused.status_code == 403


async def test_a_replay_that_succeeds_marks_the_letter_replayed_and_is_audited(
    probe: Probe,
    producer: AIOKafkaProducer,
    client: httpx.AsyncClient,
    mint: Mint,
    stack_dir: Path,
) -> None:
    event_id, family_id = await failing_event(probe, producer)
    letter = await letter_of(client, mint, event_id)
    assert letter["reason"] == "handler_failed"
    assert letter["error_type"] == "RuntimeError"
    assert letter["family_id"] == family_id

    probe.failing.discard(event_id)
    code, out = await cli(stack_dir, "dead-letters", "replay", letter["name"], "--user", OPERATOR)
    assert code == 0, out
    assert f"replayed {letter['name']} -> {probe.topic}:" in out

    async def handled() -> bool:
        return event_id in probe.handled

    await eventually(handled)
    after = await letter_of(client, mint, event_id, "replayed")
    assert after["replayed_by"] == OPERATOR
    _, listing = await cli(stack_dir, "dead-letters", "list", "--state", "replayed")
    assert letter["name"] in listing
    records = await audit_of_family(probe.runtime.store, family_id, limit=10)
    assert [(r.action, r.outcome, r.user_id) for r in records] == [
        ("replay-dead-letter", AuditOutcome.ALLOWED, OPERATOR)
    ]


async def test_a_replay_that_fails_again_names_the_new_letter(
    probe: Probe,
    producer: AIOKafkaProducer,
    client: httpx.AsyncClient,
    mint: Mint,
    stack_dir: Path,
) -> None:
    event_id, _ = await failing_event(probe, producer)
    first = await letter_of(client, mint, event_id)
    replayed = await client.post(
        f"/ops/dead-letters/{first['name']}/replay", headers=operator(mint)
    )
    assert replayed.status_code == 200, replayed.text
    old = await letter_of(client, mint, event_id, "failed-again")
    new = await letter_of(client, mint, event_id, "open")
    assert old["name"] == first["name"]
    assert old["failed_again_as"] == new["name"]
    assert new["replay_of"] == first["name"]
    assert new["value_bytes"] == first["value_bytes"]  # the original bytes went round
    assert event_id not in probe.handled

    _, open_only = await cli(stack_dir, "dead-letters", "list", "--open")
    assert new["name"] in open_only
    assert f"{first['name']} " not in open_only
    _, everything = await cli(stack_dir, "dead-letters", "list")
    assert f"failed again -> {new['name']}" in everything


async def test_resolve_closes_a_letter_for_good_with_an_audited_reason(
    probe: Probe,
    producer: AIOKafkaProducer,
    client: httpx.AsyncClient,
    mint: Mint,
    stack_dir: Path,
) -> None:
    event_id, family_id = await failing_event(probe, producer)
    letter = await letter_of(client, mint, event_id)
    name = letter["name"]
    path = f"/ops/dead-letters/{name}/resolve"

    nurse = str(uuid.uuid4())
    refused = await client.post(
        path, json={"reason": "superseded"}, headers=operator(mint, Role.TRUSTED_PERSON, nurse)
    )
    assert refused.status_code == 403
    unknown = await client.post(path, json={"reason": "tired"}, headers=operator(mint))
    assert unknown.status_code == 422

    code, out = await cli(
        stack_dir, "dead-letters", "resolve", name, "--reason", "superseded", "--user", OPERATOR
    )
    assert code == 0, out
    resolved = await letter_of(client, mint, event_id, "resolved")
    assert resolved["resolution"] == "superseded"
    assert resolved["resolved_by"] == OPERATOR
    _, listing = await cli(stack_dir, "dead-letters", "list", "--service", SERVICE)
    assert "resolved (superseded)" in listing

    code, out = await cli(stack_dir, "dead-letters", "replay", name)
    assert code == 1
    assert out.strip().splitlines() == [out.strip()]
    assert "resolved" in out
    again = await client.post(path, json={"reason": "duplicate"}, headers=operator(mint))
    assert again.status_code == 409

    records = await audit_of_family(probe.runtime.store, family_id, limit=10)
    assert sorted((r.action, r.outcome.value, r.reason) for r in records) == [
        ("replay-dead-letter", "denied-or-missing", "operations"),
        ("resolve-dead-letter", "allowed", "superseded"),
        ("resolve-dead-letter", "denied-or-missing", "duplicate"),
    ]
    refusals = await probe.runtime.store.find("access_audit", {"user_id": nurse})
    assert [(r.data["action"], r.data["outcome"]) for r in refusals] == [
        ("resolve-dead-letter", "denied-or-missing")
    ]


async def test_an_unknown_name_is_one_line(stack_dir: Path) -> None:
    for name in (f"{SERVICE}:x.y.v1:0:999999", "nonsense"):
        code, out = await cli(stack_dir, "dead-letters", "inspect", name)
        assert code == 1
        assert len(out.strip().splitlines()) == 1, out
        assert out.startswith("error: ")


def test_original_headers_restore_binary_and_null_values() -> None:
    headers = (
        ("ce_id", b"abc"),
        ("dlq-b64-raw", b"AP8="),
        ("dlq-null-empty", b""),
        ("dlq-reason", b"r"),
    )
    assert original_headers(headers) == [("ce_id", b"abc"), ("raw", b"\x00\xff"), ("empty", None)]


async def test_lag_command_shows_the_probe_group_caught_up(
    probe: Probe, producer: AIOKafkaProducer, kafka_bootstrap: str, stack_dir: Path
) -> None:
    value, key, headers = family_record()
    await producer.send_and_wait(probe.topic, value=value, key=key, headers=headers)

    async def caught_up() -> str | None:
        code, out = await cli(stack_dir, "lag", "--group", probe.group, "--topic", probe.topic)
        assert code == 0
        rows = [line for line in out.splitlines() if probe.topic in line]
        lags = [[c.strip() for c in line.split("│") if c.strip()][-1] for line in rows]
        return out if lags and all(lag == "0" for lag in lags) else None

    out = await eventually(caught_up)
    assert probe.group in out
    assert "total lag: 0" in out
