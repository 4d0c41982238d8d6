"""Two replicas of every service (`./alamal run --replicas 2`) under load, on one data folder.

First the replica of intake that holds the outbox relay lease is paused (SIGSTOP), at a moment
it is not inside a SQLite write transaction (a replica frozen inside one blocks every replica's
writes until it wakes, the takeover included: README, *Known limits*). The other replica
takes the lease over once it has expired, registrations keep reaching every consumer, and when
the paused one wakes (SIGCONT) it is fenced: the broker gets no record of its epoch after the new
holder's first. Then one replica of each service is killed with -9 while families register and
referrals are sent to a partner's webhook endpoint. In the end: 0 registrations lost, exactly one
case each, every sent referral delivered to the partner under one webhook-id.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_contracts.topics import FAMILY_REGISTERED
from alamal_notifications.delivery_slots import lease_name, slot_of
from alamal_notifications.receiver import Receiver
from alamal_notifications.settings import NotificationsSettings
from alamal_runtime.auth import Role
from alamal_runtime.service import RELAY_EPOCH_HEADER
from alamal_stack.kafka_testing import Records, read_topic_until
from alamal_stack.runner import EmbeddedStack, RestartPolicy
from alamal_stack.services import select_services
from tests.e2e.conftest import token
from tests.e2e.faults import Load, case_counts, eventually, store_file, wait_delivered

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 240
LEASE_SECONDS = 3.0
HOOK = "/hooks/jeugdzorg"
SERVICES = ("intake", "cases", "notifications", "reporting")
SHARING = ("share-youth-care",)
RELAY = "outbox-relay"


def _bearer(stack: EmbeddedStack, user_id: str, role: Role) -> dict[str, str]:
    wijken = set() if role is Role.ADMIN else {"overvecht"}
    return {"Authorization": "Bearer " + token(stack, user_id=user_id, role=role, wijken=wijken)}


def lease(data_dir: Path, service: str, name: str) -> tuple[int, int] | None:
    """(holder's pid, epoch) of a lease in a service's store; None while nobody holds it."""
    conn = sqlite3.connect(f"file:{store_file(data_dir, service)}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute(
            "SELECT body FROM documents WHERE collection = 'runtime-leases' AND id = ?", (name,)
        ).fetchone()
    finally:
        conn.close()
    if row is None:
        return None
    body = json.loads(row[0])
    if body.get("holder") is None:
        return None
    return int(str(body["holder"]).split(":")[1]), int(body["epoch"])


def _epoch(stack: EmbeddedStack, service: str) -> int:
    found = lease(stack.data_dir, service, RELAY)
    return 0 if found is None else found[1]


def holder(stack: EmbeddedStack, service: str, name: str) -> tuple[int, Any, int]:
    """The replica holding a lease: (its number, the replica, the epoch)."""
    found = lease(stack.data_dir, service, name)
    assert found is not None, f"nobody holds {service}'s {name}"
    pid, epoch = found
    for number, replica in enumerate(stack.replicas(service), start=1):
        if replica.pid == pid:
            return number, replica, epoch
    raise AssertionError(f"{service}'s {name} is held by pid {pid}, not one of its replicas")


def write_lock_free(db: Path, *, within: float) -> bool:
    """Whether a write transaction can begin on the SQLite file `db` within `within` seconds.

    A replica frozen inside a write transaction holds SQLite's write lock until it wakes, and
    nobody else can write meanwhile, the lease's takeover included (README, *Known limits*);
    the other replicas' transactions hold it for milliseconds only."""
    deadline = time.monotonic() + within
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)
                continue
            conn.execute("ROLLBACK")
            return True
    finally:
        conn.close()


async def pause_relay(stack: EmbeddedStack, service: str) -> tuple[Any, int, float, int]:
    """SIGSTOP the replica holding `service`'s relay lease at a moment it is not inside a write
    transaction: (the paused replica, its epoch, when it was paused, how many pauses it took).
    A pause that lands inside one is undone (SIGCONT) before the lease could expire, and tried
    again."""
    db = store_file(stack.data_dir, service)
    for attempt in range(1, 11):
        _, replica, epoch = holder(stack, service, RELAY)
        replica.signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        if await asyncio.to_thread(write_lock_free, db, within=LEASE_SECONDS / 4):
            return replica, epoch, stopped_at, attempt
        replica.signal(signal.SIGCONT)
        await asyncio.sleep(LEASE_SECONDS)  # renewed again; as if never paused
    raise AssertionError(f"{service}'s relay was inside a write transaction at 10 pauses")


def delivery_slot(endpoint_id: str) -> str:
    """The name of the lease under which the endpoint's webhooks are delivered."""
    slots = NotificationsSettings.model_fields["delivery_slots"].default
    return lease_name(slot_of(endpoint_id, slots))


async def partner(
    http: httpx.AsyncClient, stack: EmbeddedStack, receiver: Receiver
) -> tuple[str, str]:
    """A youth-care partner with a verified endpoint on the receiver: (partner, endpoint) ids."""
    admin = _bearer(stack, str(uuid.uuid4()), Role.ADMIN)
    notifications = stack.urls["notifications"]
    created = await http.post(
        f"{notifications}/partners", json={"name": "Jeugdzorg", "kind": "youth-care"}, headers=admin
    )
    assert created.status_code == 201, created.text
    partner_id: str = created.json()["id"]
    endpoint = await http.post(
        f"{notifications}/partners/{partner_id}/endpoints",
        json={"url": receiver.url(HOOK), "event_types": ["referral.escalated"]},
        headers=admin,
    )
    assert endpoint.status_code == 201, endpoint.text
    endpoint_id: str = endpoint.json()["id"]
    verified = await http.post(f"{notifications}/endpoints/{endpoint_id}/verify", headers=admin)
    assert verified.status_code == 200, verified.text
    return partner_id, endpoint_id


def escalations(receiver: Receiver) -> dict[str, set[str]]:
    """Referral id -> the webhook-ids under which its escalation reached the partner."""
    found: dict[str, set[str]] = {}
    for request in receiver.at(HOOK):
        payload = json.loads(request.body)
        if payload["type"] == "referral.escalated":
            found.setdefault(payload["data"]["referral_id"], set()).add(request.webhook_id)
    return found


class Referrals:
    """Refers families to the partner (propose, approve, send) one at a time, retrying through
    replicas that die; `sent` holds the referrals cases confirmed as sent."""

    def __init__(self, stack: EmbeddedStack, tp: str, partner_id: str) -> None:
        self.cases = stack.urls["cases"]
        self.partner_id = partner_id
        self.tp = _bearer(stack, tp, Role.TRUSTED_PERSON)
        self.coordinator = _bearer(stack, str(uuid.uuid4()), Role.COORDINATOR)
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.asked = 0
        self.sent: list[str] = []

    def refer(self, families: list[str]) -> None:
        """Refer these families too."""
        self.asked += len(families)
        for family_id in families:
            self.queue.put_nowait(family_id)

    async def run(self) -> None:
        """Refer every family asked for, until cancelled."""
        async with httpx.AsyncClient(timeout=10) as http:
            while True:
                family_id = await self.queue.get()
                self.sent.append(await self._refer(http, family_id))

    async def _call(
        self, http: httpx.AsyncClient, method: str, path: str, headers: dict[str, str], **kw: Any
    ) -> httpx.Response:
        """Retry until an answer that is neither a 5xx nor a dead connection (a killed replica)."""
        while True:
            with contextlib.suppress(httpx.HTTPError):
                answer = await http.request(method, f"{self.cases}{path}", headers=headers, **kw)
                if answer.status_code < 500:
                    return answer
            await asyncio.sleep(0.2)

    async def _refer(self, http: httpx.AsyncClient, family_id: str) -> str:
        query = {"family_id": family_id}
        found: list[Any] = []
        while True:  # until cases has handled the registration
            found = (await self._call(http, "GET", "/cases", self.tp, params=query)).json()
            if found:
                break
            await asyncio.sleep(0.2)
        body = {
            "partner_id": self.partner_id,
            "partner_kind": "youth-care",
            "urgency": "routine",
            "reason_codes": ["parenting-support"],
        }
        path = f"/cases/{found[0]['id']}/referrals"
        while True:  # 422 until cases has projected the partner
            proposed = await self._call(http, "POST", path, self.tp, json=body)
            if proposed.status_code != 422:
                break
            await asyncio.sleep(0.2)
        assert proposed.status_code == 201, proposed.text
        referral_id: str = proposed.json()["id"]
        for step, headers in (("approve", self.coordinator), ("send", self.tp)):
            answer = await self._call(http, "POST", f"/referrals/{referral_id}/{step}", headers)
            # 409: done already, the answer to the first try was lost with its replica
            assert answer.status_code in (200, 409), answer.text
        got = await self._call(http, "GET", f"/referrals/{referral_id}", self.tp)
        assert got.json()["state"] == "sent", got.text
        return referral_id


def stale_records(records: Records, epoch: int) -> int:
    """Records of relay `epoch` that reached the broker after a newer epoch's first record in
    their partition (a fenced relay publishing after all)."""
    newer: set[int] = set()
    stale = 0
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        value = dict(record.headers).get(RELAY_EPOCH_HEADER)
        if value is None:
            continue
        if int(value) > epoch:
            newer.add(record.partition)
        elif int(value) == epoch and record.partition in newer:
            stale += 1
    return stale


@pytest.mark.timeout(READY_TIMEOUT + 900)
async def test_two_replicas_survive_a_paused_lease_holder_and_a_kill_of_one_of_each(
    tmp_path: Path, receiver: Receiver
) -> None:
    stack = EmbeddedStack(
        tmp_path / "data",
        services=select_services(list(SERVICES)),
        base_port=0,
        ready_timeout=READY_TIMEOUT,
        supervise=True,
        restart_policy=RestartPolicy(first_delay=0.2),
        replicas=2,
        extra_env={
            **{f"{s.upper()}_RELAY_LEASE_SECONDS": str(LEASE_SECONDS) for s in SERVICES},
            "NOTIFICATIONS_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        },
    )
    async with stack, httpx.AsyncClient(timeout=15) as http:
        partner_id, endpoint_id = await partner(http, stack, receiver)
        tp = str(uuid.uuid4())
        headers = _bearer(stack, tp, Role.TRUSTED_PERSON)
        referrals = Referrals(stack, tp, partner_id)
        referrer = asyncio.create_task(referrals.run())
        families: list[str] = []

        async def register(count: int) -> None:
            """Register `count` more families; every other one is referred to the partner."""
            load = Load(stack.urls["intake"], headers, tp, consents=SHARING, timeout=5)
            load.start()
            try:
                await load.until(count, within=180)
            finally:
                await load.stop()
            families.extend(load.acknowledged)
            referrals.refer(load.acknowledged[::2])

        try:
            await register(10)

            # Pause the replica of intake that relays: the other takes over once it expired.
            paused, epoch, stopped_at, pauses = await pause_relay(stack, "intake")
            try:
                await eventually(lambda: _epoch(stack, "intake") > epoch, within=60)
                takeover = time.monotonic() - stopped_at
                before = len(families)
                await register(10)
                meanwhile = await wait_delivered(stack.data_dir, families[before:], within=120)
                assert meanwhile.complete, meanwhile
            finally:
                paused.signal(signal.SIGCONT)

            # kill -9 of one replica of each service (the one holding its relay lease; for
            # notifications the one delivering to the partner's endpoint) under load.
            victims = {s: holder(stack, s, RELAY)[0] for s in SERVICES}
            victims["notifications"] = holder(stack, "notifications", delivery_slot(endpoint_id))[0]
            loading = asyncio.create_task(register(20))
            await eventually(lambda: len(families) + len(referrals.sent) > 25, within=180)
            for service, replica in victims.items():
                stack.kill(service, replica=replica)
            await loading
            await eventually(lambda: len(referrals.sent) == referrals.asked, within=240)
        finally:
            referrer.cancel()
            await asyncio.gather(referrer, return_exceptions=True)

        found = await wait_delivered(stack.data_dir, families, within=180)
        counts = await case_counts(stack.urls["cases"], headers, families)
        sent = set(referrals.sent)
        await receiver.wait_until(lambda: sent <= set(escalations(receiver)), within=120)
        hooks = escalations(receiver)
        repeats = sum(n - 1 for n in Counter(r.webhook_id for r in receiver.at(HOOK)).values())
        records = await read_topic_until(
            stack.bootstrap,
            FAMILY_REGISTERED,
            lambda got: set(families) <= {r.key.decode() for r in got if r.key is not None},
            within=60,
        )
        print(  # noqa: T201 - the figures the issue asks for
            f"\n--replicas 2: relay lease taken over {takeover:.1f} s after its holder was"
            f" paused (lease {LEASE_SECONDS:.0f} s; {pauses - 1} earlier pause(s) undone, inside a"
            f" SQLite write transaction); {len(families)} registrations acknowledged,"
            f" {len(sent)} referrals sent, one replica of each of {len(SERVICES)} services"
            f" killed -9; {repeats} webhook request(s) repeated under an already seen webhook-id"
        )
    assert found.complete, found
    assert sorted(set(counts.values())) == [1], "exactly one case per acknowledged family"
    assert not sent - set(hooks), "every sent referral reached the partner"
    assert all(len(hooks[r]) == 1 for r in sent), "one webhook-id per referral"
    assert stale_records(records, epoch) == 0, "the paused relay published after it was fenced"
    assert takeover < 4 * LEASE_SECONDS
    assert not stack.failed.is_set(), stack.failure
