"""The planted-values erasure test's parts, shared by the SQLite and the MongoDB run.

A family gets a unique value in every field that can hold personal data; its whole casework
runs (visit, plan, referral with a signed webhook, the partner's answer, reports). The privacy
officer downloads its export from the gateway and requests the erasure there; a coordinator
approves it there. Then everything the platform keeps is scanned for the planted values:
every store, every log, every topic, the partner API and the webhook receiver's log.
"""

from __future__ import annotations

import asyncio
import io
import json
import random
import re
import string
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from alamal_cases.sealing import SEALED as CASES_SEALED
from alamal_intake.store import SEALED as INTAKE_SEALED
from alamal_notifications.receiver import Receiver
from alamal_runtime.auth import Role
from alamal_runtime.crypto import read_keyring
from alamal_runtime.sealing import KeyDestroyedError, SealedStore, SealSchema
from alamal_runtime.sealing.keys import DEV_KEYRING_FILE
from alamal_runtime.store import Store
from alamal_stack.runner import EmbeddedStack
from tests.e2e.conftest import token

HOOK = "/hooks/erasure-partner"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _letters(n: int = 10) -> str:
    return "".join(random.choices(string.ascii_lowercase, k=n))


def _planted_values() -> dict[str, str]:
    t, digits = _letters(), str(random.randint(1_000_000, 9_999_999))
    return {
        "mother_first_name": f"Zahra{t}",
        "child_first_name": f"Amin{t}",
        "surname": f"Benali{t}",
        "phone": f"+31 6 {digits}",
        "street": f"Planetenbaan{t}",
        "notes": f"Notitie-gezin-{t}",
        "visit_note": f"Bezoeknotitie-{t}",
        "strength_seen": f"Gezien-eigen-kracht-{t}",
        "plan_strength": f"Eigen-kracht-{t}",
        "goal": f"Doel-{t}",
        "progress": f"Voortgang-{t}",
        "referral_note": f"Verwijsnotitie-{t}",
    }


@dataclass(frozen=True)
class Planted:
    """A unique value for every field that can hold personal data (letters only in names)."""

    values: dict[str, str] = field(default_factory=_planted_values)
    """Field -> planted value; each occurs nowhere else."""


def bearer(stack: EmbeddedStack, role: Role, wijken: set[str]) -> tuple[str, dict[str, str]]:
    """A new staff user's id and service headers."""
    user = str(uuid.uuid4())
    return user, {"Authorization": f"Bearer {token(stack, user_id=user, role=role, wijken=wijken)}"}


async def eventually[T](
    probe: Callable[[], Awaitable[T | None]], within: float = 60.0, what: str = "it"
) -> T:
    """Poll until `probe` returns something; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if (found := await probe()) is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: nothing within {within}s")


def ok(response: httpx.Response, *codes: int) -> Any:
    """The JSON of a response with one of `codes` (default 200, 201, 202)."""
    assert response.status_code in (codes or (200, 201, 202)), response.text
    return response.json() if response.content else None


@dataclass
class Partner:
    """A partner organisation with a webhook endpoint on the test receiver and an API key."""

    id: str
    secret: str
    auth: tuple[str, str]


async def register_partner(
    http: httpx.AsyncClient, stack: EmbeddedStack, receiver: Receiver
) -> Partner:
    """Jeugdzorg with an endpoint on `receiver` and a partner-API credential."""
    notifications = stack.urls["notifications"]
    _, admin = bearer(stack, Role.ADMIN, set())
    partner = ok(
        await http.post(
            f"{notifications}/partners",
            json={"name": "Jeugdzorg Utrecht", "kind": "youth-care"},
            headers=admin,
        )
    )
    endpoint = ok(
        await http.post(
            f"{notifications}/partners/{partner['id']}/endpoints",
            json={
                "url": receiver.url(HOOK),
                "event_types": ["referral.escalated", "referral.updated"],
            },
            headers=admin,
        )
    )
    # A new endpoint starts disabled; the admin's verification (a signed test delivery) enables it.
    verified = ok(
        await http.post(f"{notifications}/endpoints/{endpoint['id']}/verify", headers=admin)
    )
    assert verified["enabled"] is True
    credential = ok(
        await http.post(f"{notifications}/partners/{partner['id']}/credentials", headers=admin)
    )
    return Partner(
        partner["id"], endpoint["secret"], (credential["client_id"], credential["client_secret"])
    )


@dataclass
class Family:
    """One family's ids after its casework."""

    id: str
    case_id: str
    referral_id: str | None
    planted: Planted


async def casework(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    planted: Planted,
    *,
    partner: Partner | None = None,
    receiver: Receiver | None = None,
) -> Family:
    """Register the family with every planted value and run its casework; with a partner, a
    referral goes out as a signed webhook, the partner reads it and accepts it."""
    intake, cases = stack.urls["intake"], stack.urls["cases"]
    v = planted.values
    trusted, tp = bearer(stack, Role.TRUSTED_PERSON, {"overvecht"})
    body = {
        "members": [
            {
                "role": "mother",
                "birth_year": 1984,
                "first_name": v["mother_first_name"],
                "surname": v["surname"],
            },
            {
                "role": "child",
                "birth_year": 2016,
                "first_name": v["child_first_name"],
                "surname": v["surname"],
            },
        ],
        "wijk": "overvecht",
        "languages": ["ar", "nl"],
        "intake_source": "school",
        "trusted_person_id": trusted,
        "consents": [
            {"purpose": "care", "granted": True},
            {"purpose": "reporting", "granted": True},
            {"purpose": "share-youth-care", "granted": True},
        ],
    }
    family_id = ok(await http.post(f"{intake}/families", json=body, headers=tp))["id"]
    contact = {
        "phone": v["phone"],
        "notes": v["notes"],
        "address": {
            "street": v["street"],
            "house_number": "12",
            "postcode": "3563 AB",
            "city": "Utrecht",
        },
    }
    ok(
        await http.patch(
            f"{intake}/families/{family_id}", json=contact, headers={**tp, "If-Match": '"1"'}
        )
    )

    async def case_id() -> str | None:
        got = ok(await http.get(f"{cases}/cases", params={"family_id": family_id}, headers=tp))
        return got[0]["id"] if got else None

    case = await eventually(case_id, what="the family's case")
    visit = {
        "kind": "home-visit",
        "occurred_on": date.today().isoformat(),
        "duration_minutes": 45,
        "topic_codes": ["school", "parenting"],
        "strengths_observed": [v["strength_seen"]],
        "private_note": v["visit_note"],
    }
    ok(await http.post(f"{cases}/cases/{case}/visits", json=visit, headers=tp))
    ok(
        await http.put(
            f"{cases}/cases/{case}/plan/strengths", json={"items": [v["plan_strength"]]}, headers=tp
        )
    )
    goal = ok(
        await http.post(
            f"{cases}/cases/{case}/plan/goals",
            json={"area": "school", "description": v["goal"]},
            headers=tp,
        )
    )
    ok(
        await http.patch(
            f"{cases}/cases/{case}/plan/goals/{goal['id']}",
            json={"note": v["progress"]},
            headers=tp,
        )
    )
    referral_id = None
    if partner is not None and receiver is not None:
        referral_id = await _refer(http, stack, tp, case, partner, receiver, v["referral_note"])
    return Family(family_id, case, referral_id, planted)


async def _refer(
    http: httpx.AsyncClient,
    stack: EmbeddedStack,
    tp: dict[str, str],
    case: str,
    partner: Partner,
    receiver: Receiver,
    note: str,
) -> str:
    cases = stack.urls["cases"]
    proposal = {
        "partner_id": partner.id,
        "urgency": "urgent",
        "reason_codes": ["parenting-support"],
        "note": note,
    }

    async def proposed() -> str | None:
        # Cases knows the partner from notifications' partner event, which may still be coming.
        answer = await http.post(f"{cases}/cases/{case}/referrals", json=proposal, headers=tp)
        return None if answer.status_code == 422 else ok(answer)["id"]

    referral_id: str = await eventually(proposed, what="a referral to the registered partner")
    ok(await http.post(f"{cases}/referrals/{referral_id}/send", headers=tp))

    def escalated() -> bool:
        return any(
            referral_id.encode() in r.body and b"referral.escalated" in r.body
            for r in receiver.at(HOOK)
        )

    assert await receiver.wait_until(escalated, within=60), "no webhook for the referral"
    details = f"{stack.urls['notifications']}/partner/v1/referrals/{referral_id}"
    assert ok(await http.get(details, auth=partner.auth))["referral_id"] == referral_id
    ok(await http.post(f"{details}/status", json={"status": "accepted"}, auth=partner.auth))

    async def accepted() -> bool | None:
        got = ok(await http.get(f"{cases}/referrals/{referral_id}", headers=tp))
        return True if got["state"] == "accepted" else None

    await eventually(accepted, what="the partner's answer in cases")
    return referral_id


class GatewaySession:
    """A staff member logged in at the gateway over plain HTTP on 127.0.0.1.

    The gateway's cookies are `Secure` (`__Host-`), which an HTTP client keeps to HTTPS, so
    this session carries them itself, as a browser on localhost does.
    """

    def __init__(self, http: httpx.AsyncClient, base: str) -> None:
        self._http = http
        self._base = base
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One request with the session's cookies; keeps the cookies it sets."""
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self._http.request(
            method, self._base + path, headers={"Cookie": cookie} if cookie else {}, **kw
        )
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return response

    async def log_in(self, username: str, password: str) -> None:
        """Log in through the login form."""
        page = await self.request("GET", "/login")
        answer = await self.request(
            "POST",
            "/login",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf(page.text),
                "next": "/",
            },
        )
        assert answer.status_code == 303, answer.text

    async def post_form(
        self, page: str, action: str, data: dict[str, str] | None = None
    ) -> httpx.Response:
        """Open `page`, then post its form to `action` with the page's CSRF token."""
        shown = await self.request("GET", page)
        assert shown.status_code == 200, shown.text
        return await self.request(
            "POST", action, data={**(data or {}), "csrf_token": csrf(shown.text)}
        )


def csrf(html: str) -> str:
    """The synchroniser token of the first form on a page."""
    match = _CSRF.search(html)
    assert match is not None, "no form on the page"
    return match.group(1)


def demo_passwords(stack: EmbeddedStack) -> dict[str, str]:
    """The demo users' passwords the gateway wrote at its first start."""
    text = (stack.data_dir / "gateway" / "demo-users.txt").read_text(encoding="utf-8")
    rows = [line.split("\t") for line in text.splitlines()]
    return {name: password for name, _, password in rows}


def unzip(archive: bytes) -> dict[str, str]:
    """The files of a ZIP archive by name."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        return {name: opened.read(name).decode("utf-8") for name in opened.namelist()}


@dataclass
class Scan:
    """What a scan read and where it found planted values."""

    bytes_scanned: int = 0
    places: int = 0
    hits: dict[str, list[str]] = field(default_factory=dict)

    def look(self, where: str, data: bytes, planted: Iterable[str]) -> None:
        """Look for every planted value in one place's bytes."""
        self.bytes_scanned += len(data)
        self.places += 1
        for value in planted:
            if value.encode() in data:
                self.hits.setdefault(value, []).append(where)


def scan_files(scan: Scan, root: Path, planted: Iterable[str]) -> None:
    """Every byte of every file under `root`: store files (WAL included) and logs."""
    values = list(planted)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        scan.look(str(path.relative_to(root)), path.read_bytes(), values)


async def scan_topics(scan: Scan, bootstrap: str, planted: Iterable[str]) -> None:
    """Every record (key, value, headers) of every topic, from its first offset to its end."""
    values = list(planted)
    by_topic: dict[str, bytearray] = {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        topics = sorted(await consumer.topics())
        partitions = [
            TopicPartition(t, p)
            for t in topics
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        by_topic.update({t: bytearray() for t in topics})
        quiet = 0
        while quiet < 3:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            quiet = 0 if batches else quiet + 1
            for tp, records in batches.items():
                for record in records:
                    by_topic[tp.topic] += (record.key or b"") + (record.value or b"")
                    by_topic[tp.topic] += b"".join(
                        k.encode() + (v or b"") for k, v in record.headers
                    )
    finally:
        await consumer.stop()
    for topic, data in by_topic.items():
        scan.look(f"topic {topic}", bytes(data), values)


SEALING: dict[str, SealSchema] = {"intake": INTAKE_SEALED, "cases": CASES_SEALED}
"""The services that seal personal data at rest: their stores are also read with their keys."""


async def scan_unsealed(
    scan: Scan,
    stack: EmbeddedStack,
    service: str,
    inner: Store,
    collections: list[str],
    planted: Iterable[str],
) -> int:
    """Every document of a sealing service's store as the service reads it (its sealed fields
    opened with its own keyring), so that sealed leftovers are found too; the service must be
    stopped. Returns how many documents could not be opened (their family key destroyed)."""
    values = list(planted)
    keyring_path = stack.data_dir / service / DEV_KEYRING_FILE
    store = SealedStore(
        inner,
        keyring=read_keyring(keyring_path, source=str(keyring_path)),
        schema=SEALING[service],
        service=service,
    )
    await store.open()
    unreadable = 0
    try:
        for collection in collections:
            opened: list[Any] = []
            for record in await store.find_sealed(collection, limit=2**31 - 1):
                try:
                    opened.append((await store.unseal(collection, record)).data)
                except KeyDestroyedError:
                    unreadable += 1
            data = json.dumps(opened, ensure_ascii=False).encode()
            scan.look(f"{service} store, unsealed: {collection}", data, values)
    finally:
        await store.close()
    return unreadable


def receiver_log(receiver: Receiver, path: Path) -> None:
    """Write everything the webhook receiver got (headers and bodies) to its log file."""
    with path.open("w", encoding="utf-8") as log:
        for received in receiver.received:
            log.write(
                json.dumps(
                    {
                        "path": received.path,
                        "headers": dict(received.headers),
                        "body": received.body.decode(),
                    }
                )
                + "\n"
            )


def seconds_between(start: str, end: str) -> float:
    """Seconds from one ISO instant to another."""
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
