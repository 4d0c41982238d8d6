"""The machine's raw limits, measured in the same run as the platform's figures.

Each limit does the least work that the matching platform figure cannot avoid:
- SQLite: an inbox row, a document and an outbox row per unit, with the store's own pragmas and
  schema (WAL, synchronous=FULL), committed 1 and 100 units per transaction;
- Kafka: aiokafka producing 1 KiB records batched to Tansu while a consumer reads them back;
- HTTP: a bare FastAPI endpoint (uvicorn, the services' settings) validating a JSON body and
  committing one SQLite row per request, called at the same concurrency as the platform;
- webhooks: signed (Standard Webhooks) POSTs from one httpx client to the same local receiver.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from standardwebhooks.webhooks import Webhook

from alamal_notifications.receiver import Receiver
from alamal_runtime.messaging.topics import ensure_topics
from alamal_runtime.store import _sqlite_ops as ops
from alamal_stack.processes import free_port


def _sqlite_units(path: Path, units: int, per_transaction: int) -> float:
    """Commit `units` inbox+document+outbox triples; return units per second."""
    conn = ops.connect(str(path), busy_timeout_ms=5000)
    body = json.dumps({"wijk": "overvecht", "counts": {"mother": 1, "child": 2}, "n": 0})
    value = os.urandom(700)
    now = datetime.now(UTC).isoformat()
    try:
        started = time.perf_counter()
        for first in range(0, units, per_transaction):
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(min(per_transaction, units - first)):
                event_id = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)",
                    ("bench", event_id, now),
                )
                conn.execute(
                    "INSERT INTO documents (collection, id, version, body) VALUES (?, ?, 1, ?)",
                    ("things", event_id, body),
                )
                conn.execute(
                    "INSERT INTO outbox (id, topic, key, value, headers, trace_carrier,"
                    " created_at) VALUES (?, ?, ?, ?, '[]', '{}', ?)",
                    (event_id, "bench.thing.v1", event_id, value, now),
                )
            conn.execute("COMMIT")
        return units / (time.perf_counter() - started)
    finally:
        conn.close()


async def sqlite_limits(folder: Path) -> dict[str, float]:
    """Units (inbox + document + outbox row) per second, 1 and 100 per transaction."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    one = await asyncio.to_thread(_sqlite_units, folder / "one.sqlite3", 1_000, 1)
    hundred = await asyncio.to_thread(_sqlite_units, folder / "hundred.sqlite3", 30_000, 100)
    return {"sqlite_units_per_s_1_per_tx": one, "sqlite_units_per_s_100_per_tx": hundred}


async def kafka_limit(bootstrap: str, count: int = 20_000, size: int = 1024) -> float:
    """1 KiB records per second, produced batched and consumed back by a concurrent consumer."""
    topic = f"bench.raw-{uuid.uuid4().hex[:8]}.v1"
    await ensure_topics(bootstrap, [topic], partitions=3)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        acks="all",
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await consumer.start()
    await producer.start()
    try:
        # Join the group before the clock starts (a first poll waits for the assignment).
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=200)
        value = os.urandom(size)
        started = time.perf_counter()

        async def produce() -> None:
            for n in range(count):
                await producer.send(topic, value=value, key=str(n % 997).encode())
            await producer.flush()

        producing = asyncio.create_task(produce())
        got = 0
        deadline = started + 120
        while got < count and time.perf_counter() < deadline:
            batches = await consumer.getmany(timeout_ms=500, max_records=5_000)
            got += sum(len(records) for records in batches.values())
        await producing
        await consumer.commit()
        return got / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


_BARE_APP = """
import asyncio, sqlite3, sys, uuid
from concurrent.futures import ThreadPoolExecutor
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel
from alamal_runtime.store import _sqlite_ops as ops

class Member(BaseModel):
    role: str
    birth_year: int
    first_name: str

class Body(BaseModel):
    members: list[Member]
    wijk: str
    languages: list[str]
    intake_source: str
    trusted_person_id: str | None = None
    consents: list[dict[str, object]] = []

port, path = int(sys.argv[1]), sys.argv[2]
worker = ThreadPoolExecutor(max_workers=1)
conn = worker.submit(ops.connect, path, busy_timeout_ms=5000).result()
app = FastAPI()

def commit(doc_id: str, body: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO documents (collection, id, version, body) VALUES ('things', ?, 1, ?)",
        (doc_id, body),
    )
    conn.execute("COMMIT")

@app.post("/things", status_code=201)
async def create(body: Body) -> dict[str, str]:
    doc_id = str(uuid.uuid4())
    await asyncio.get_running_loop().run_in_executor(
        worker, commit, doc_id, body.model_dump_json()
    )
    return {"id": doc_id}

uvicorn.run(app, host="127.0.0.1", port=port, log_config=None, access_log=False,
            server_header=False)
"""


async def wait_http(url: str, within: float = 30.0) -> None:
    """Wait until `url` answers at all."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                await client.get(url)
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
                continue
            return
    raise RuntimeError(f"{url} did not answer within {within}s")


async def post(
    client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str]
) -> httpx.Response:
    """POST, once more if the server closed a kept-alive connection just as it was reused
    (uvicorn drops idle connections after 5 s; on a loaded machine that race happens)."""
    try:
        return await client.post(url, json=body, headers=headers)
    except (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError):
        return await client.post(url, json=body, headers=headers)


async def hammer(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    headers: dict[str, str],
    *,
    requests: int,
    concurrency: int,
) -> tuple[float, list[float]]:
    """POST `requests` times at `concurrency`; return requests/s and the latencies (s)."""
    latencies: list[float] = []
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            started = time.perf_counter()
            response = await post(client, url, body, headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 201:
                raise RuntimeError(f"POST {url}: {response.status_code} {response.text[:200]}")

    for _ in range(min(concurrency, 20)):  # warm-up: connections and first requests
        await post(client, url, body, headers)
    wall = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - wall), latencies


async def bare_endpoint_limit(
    folder: Path, body: dict[str, Any], *, requests: int, concurrency: int
) -> float:
    """Requests/s of a bare FastAPI endpoint doing one SQLite commit, at `concurrency`."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", _BARE_APP, str(port), str(folder / "bare.sqlite3")),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/things"
        await wait_http(f"http://127.0.0.1:{port}/docs")
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            rate, _ = await hammer(
                client, url, body, {}, requests=requests, concurrency=concurrency
            )
        return rate
    finally:
        proc.terminate()
        await proc.wait()


async def signed_post_limit(
    receiver: Receiver, *, requests: int, endpoints: int, concurrency: int
) -> float:
    """Signed POSTs/s from one httpx client to the local receiver (no store, no queue)."""
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    hook = Webhook(secret)
    body = json.dumps({"type": "referral.escalated", "data": {"referral_id": "x" * 36}}).encode()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    remaining = iter(range(requests))
    async with httpx.AsyncClient(timeout=15, limits=limits, trust_env=False) as client:

        async def worker(n: int) -> None:
            for _ in remaining:
                msg_id = f"msg_{uuid.uuid4().hex}"
                at = datetime.now(UTC)
                headers = {
                    "content-type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": str(int(at.timestamp())),
                    "webhook-signature": hook.sign(msg_id, at, body.decode()),
                }
                url = receiver.url(f"/raw/{n % endpoints}")
                response = await client.post(url, content=body, headers=headers)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        return requests / (time.perf_counter() - started)
