"""The privacy officer's retention page in front of the real services on a compressed retention
clock: an empty log, a dry run with nothing to delete, a dry run whose counts a run by hand then
deletes (one entry, then entries of two services newest first), a service that does not answer,
every other role refused (and the refusal in every service's access audit), three languages."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from alamal_gateway.accounts import User, update_user
from alamal_gateway.retention_view import Answer, merge
from alamal_runtime.audit import ACCESS_AUDIT
from alamal_runtime.auth import Role

from .conftest import csrf_of
from .live import Platform, add_user, platform, second_gateway
from .pagecheck import latin_in_arabic, raw_codes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DAY = 0.01
"""One retention day in seconds in these services."""
NOTES_DAYS = 100
"""cases' private notes go 1 s after the closure."""
CLOSED_DAYS = 1000
"""intake erases a family 10 s after its case closed: well after the notes' run."""
FAR = 36600
RULES = {
    "intake": ("intake.audit-records", "intake.dead-letters", "intake.closed-case"),
    "cases": ("cases.audit-records", "cases.dead-letters", "cases.private-notes"),
    "notifications": (
        "notifications.audit-records",
        "notifications.dead-letters",
        "notifications.delivery-attempts",
        "notifications.delivered-messages",
    ),
    "reporting": ("reporting.audit-records", "reporting.dead-letters"),
}


def retention(**days: int) -> dict[str, Any]:
    keep = {
        "closed-case": FAR,
        "private-notes": FAR,
        "audit-records": FAR,
        "delivery-logs": FAR,
        "dead-letters": FAR,
    }
    keep.update({k.replace("_", "-"): v for k, v in days.items()})
    return {"retention_day_seconds": DAY, "retention_keep_days": keep}


SETTINGS = {
    "intake": retention(closed_case=CLOSED_DAYS),
    "cases": retention(private_notes=NOTES_DAYS),
    "notifications": retention(),
    "reporting": retention(),
}


@dataclass
class World:
    p: Platform
    tmp: Path
    kafka: str
    keys: tuple[str, str]
    users: dict[str, User] = field(default_factory=dict)


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[World]:
    tmp = tmp_path_factory.mktemp("retention-page")
    async with platform(tmp, kafka_bootstrap, token_keys, settings=SETTINGS) as p:
        w = World(p, tmp, kafka_bootstrap, token_keys)
        w.users["officer"] = await add_user(p, "officer", Role.PRIVACY_OFFICER)
        w.users["samira"] = await add_user(p, "samira", Role.TRUSTED_PERSON, wijken=("overvecht",))
        w.users["hanan"] = await add_user(p, "hanan", Role.COORDINATOR, wijken=("overvecht",))
        w.users["admin"] = await add_user(p, "admin", Role.ADMIN)
        w.users["operator"] = await add_user(p, "operator", Role.OPERATOR)
        yield w


ROW = re.compile(r'<tr data-rule="([a-z0-9.-]+)" data-count="(\d+)">')


def section(html: str, table_id: str) -> list[tuple[str, int]]:
    """The (rule, count) rows of one table of the page, in page order."""
    start = html.find(f'id="{table_id}"')
    if start < 0:
        return []
    body = html[start : html.index("</table>", start)]
    return [(rule, int(count)) for rule, count in ROW.findall(body)]


async def eventually[T](check: Callable[[], Awaitable[T | None]], *, what: str) -> T:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within 60 s: {what}")


async def due_now(w: World, service: str, rule: str) -> int:
    """What `rule` would delete now, asked of the service itself."""
    answer = await w.p.call(
        w.users["officer"],
        service,
        "GET",
        "/privacy/retention/preview",
        params={"within_days": 0},
    )
    [row] = [r for r in answer["results"] if r["rule"] == rule]
    return int(row["count"])


async def run_by_hand(client: httpx.AsyncClient) -> httpx.Response:
    """Open the confirmation, then confirm; answer the page the browser lands on."""
    confirm = await client.get("/retention/run")
    assert confirm.status_code == 200, confirm.text
    done = await client.post("/retention/run", data={"csrf_token": csrf_of(confirm.text)})
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/retention?notice=ran"
    return await client.get(done.headers["location"])


async def test_the_log_and_the_dry_run_through_a_closed_case(world: World) -> None:
    w, p = world, world.p
    async with p.session(w.users["officer"]) as officer:
        # Nothing yet: an empty log, nothing due this month, every rule of every service listed.
        first = await officer.get("/retention")
        assert first.status_code == 200, first.text
        assert 'id="empty-log"' in first.text
        assert 'id="nothing-due"' in first.text
        assert "Wat de regels binnen 30 dagen zouden verwijderen" in first.text
        assert section(first.text, "dry-run-table") == []
        listed = section(first.text, "rules-table")  # every rule, folded away under the rest
        assert [rule for rule, _ in listed] == [r for s in RULES.values() for r in s]
        assert all(count == 0 for _, count in listed)
        assert 'href="/retention" aria-current="page"' in first.text  # its menu entry
        assert not raw_codes(first.text, "nl")

        # A case with two private notes (and a visit without one) closes.
        tp, coord = w.users["samira"], w.users["hanan"]
        family = await p.call(
            tp,
            "intake",
            "POST",
            "/families",
            json={
                "members": [{"role": "mother", "first_name": "Khadija", "birth_year": 1990}],
                "wijk": "overvecht",
                "languages": ["nl"],
                "intake_source": "school",
                "consents": [{"purpose": "care", "granted": True}],
            },
        )

        async def case_of() -> str | None:
            cases = await p.call(tp, "cases", "GET", "/cases", params={"family_id": family["id"]})
            return str(cases[0]["id"]) if cases else None

        case_id = await eventually(case_of, what="the case opens")
        for note in ("Vader werkt 's nachts", "Moeder zoekt werk", None):
            await p.call(
                tp,
                "cases",
                "POST",
                f"/cases/{case_id}/visits",
                json={
                    "kind": "home-visit",
                    "occurred_on": time.strftime("%Y-%m-%d"),
                    "duration_minutes": 45,
                    "topic_codes": ["work"],
                    "private_note": note,
                },
            )
        await p.call(
            coord, "cases", "POST", f"/cases/{case_id}/close", json={"outcome_codes": ["moved"]}
        )

        # The dry run a little past the notes' length: the two notes, no family yet.
        ahead = await officer.get(f"/retention?within_days={NOTES_DAYS + 10}")
        predicted = section(ahead.text, "dry-run-table")
        assert predicted == [("cases.private-notes", 2)]  # only what would go
        assert 'id="nothing-due"' not in ahead.text
        assert "2 privénotities" in ahead.text

        # Once they are due, a run by hand deletes what the dry run counted: one log entry.
        await eventually(
            lambda: none_unless(due_now(w, "cases", "cases.private-notes"), 2),
            what="the notes are due",
        )
        ran = await run_by_hand(officer)
        assert section(ran.text, "deletion-log") == [("cases.private-notes", 2)]
        assert "De regels liepen nu in elke dienst." in ran.text
        assert "Met de hand gestart" in ran.text
        assert 'id="empty-log"' not in ran.text

        # Later the family itself is due: the dry run counts it once intake knows the closure...
        async def family_counted() -> int | None:
            page = await officer.get(f"/retention?within_days={CLOSED_DAYS + 10}")
            count = dict(section(page.text, "dry-run-table")).get("intake.closed-case")
            return count or None

        assert await eventually(family_counted, what="the dry run counts the family") == 1
        await eventually(
            lambda: none_unless(due_now(w, "intake", "intake.closed-case"), 1),
            what="the family is due",
        )
        # ...and a run erases exactly that one; the log holds both services, newest first.
        ran = await run_by_hand(officer)
        assert section(ran.text, "deletion-log") == [
            ("intake.closed-case", 1),
            ("cases.private-notes", 2),
        ]
        assert "1 gezin" in ran.text

        # The same page in English and Arabic: the Arabic dual for the two notes, no raw codes.
        for language, words in (
            ("en", ("2 private notes", "1 family", "Run by hand")),
            ("ar", ("ملاحظتان خاصتان", "أسرة واحدة", "تشغيل يدوي")),
        ):
            await update_user(p.gateway.state.store, w.users["officer"].id, language=language)
            page = await officer.get("/retention")
            assert f'lang="{language}"' in page.text
            for word in words:
                assert word in page.text, (language, word)
            assert not raw_codes(page.text, language)
            if language == "ar":
                assert 'dir="rtl"' in page.text
                assert not latin_in_arabic(page.text)
        await update_user(p.gateway.state.store, w.users["officer"].id, language="nl")


async def none_unless(count: Awaitable[int], wanted: int) -> int | None:
    found = await count
    return found if found == wanted else None


async def test_a_bad_look_ahead_is_said_and_the_default_is_shown(world: World) -> None:
    async with world.p.session(world.users["officer"]) as officer:
        page = await officer.get("/retention?within_days=veertig")
        huge = await officer.get("/retention?within_days=99999")
        zero = await officer.get("/retention?within_days=0")
    assert page.status_code == huge.status_code == zero.status_code == 200
    for answer in (page, huge):
        assert 'aria-invalid="true"' in answer.text
        assert "Vul een aantal dagen in van 0 tot 3660." in answer.text
        assert 'value="30"' in answer.text
    assert "Wat de regels nu zouden verwijderen" in zero.text
    assert 'aria-invalid="true"' not in zero.text


async def test_a_run_needs_the_forms_token(world: World) -> None:
    async with world.p.session(world.users["officer"]) as officer:
        before = await officer.get("/retention")
        forged = await officer.post("/retention/run", data={})
        after = await officer.get("/retention")
    assert forged.status_code == 403
    # Nothing ran: the last runs shown are the same.
    last = re.compile(r"<h3>.*?</ul>", re.S)
    assert last.findall(before.text) == last.findall(after.text)


@pytest.mark.parametrize("persona", ["samira", "hanan", "admin", "operator"])
async def test_other_roles_are_refused_and_every_service_audits_it(
    world: World, persona: str
) -> None:
    user = world.users[persona]
    async with world.p.session(user) as client:
        home = await client.get("/", follow_redirects=True)
        answers = [
            await client.get("/retention"),
            await client.get("/retention/run"),
            await client.post("/retention/run", data={}),
        ]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert home.status_code == 200
    assert 'href="/retention"' not in home.text
    for service, app in world.p.services.items():
        records = await app.state.store.find(ACCESS_AUDIT, {"user_id": user.id})
        refused = [
            r.data
            for r in records
            if r.data["action"] == "read-retention" and r.data["outcome"] == "denied-or-missing"
        ]
        assert len(refused) == 3, (service, [r.data for r in records])
        assert {r["role"] for r in refused} == {user.role.value}


async def test_a_service_that_does_not_answer_is_named_and_the_rest_is_shown(
    world: World,
) -> None:
    async with second_gateway(
        world.p, world.tmp / "gw-down", world.kafka, world.keys, down=("notifications",)
    ) as down:
        officer = await add_user(down, "officer", Role.PRIVACY_OFFICER)
        async with down.session(officer) as client:
            page = await client.get("/retention")
            confirm = await client.get("/retention/run")
            done = await client.post("/retention/run", data={"csrf_token": csrf_of(confirm.text)})
            after = await client.get(done.headers["location"])
    assert page.status_code == 200
    assert 'role="alert"' in page.text
    assert "Gaf geen antwoord: <strong>Berichten aan partners</strong>" in page.text
    shown = [rule for rule, _ in section(page.text, "rules-table")]
    assert shown == [*RULES["intake"], *RULES["cases"], *RULES["reporting"]]
    assert page.headers["x-trace-id"] in page.text  # a reference for the operator
    assert confirm.status_code == 200
    assert done.headers["location"] == "/retention?notice=ran-partly&missed=notifications"
    assert "maar niet in elke dienst" in after.text


def test_logs_merge_newest_first_across_services_and_are_bounded() -> None:
    def entry(rule: str, at: str) -> dict[str, Any]:
        return {"rule": rule, "category": "audit-records", "count": 1, "at": at}

    view = merge(
        [
            Answer(
                "reporting",
                [entry("reporting.audit-records", "2026-12-01T11:30:00+00:00")],
                None,
                [],
            ),
            Answer(
                "intake",
                [
                    entry("intake.audit-records", "2026-12-01T12:00:00+01:00"),
                    entry("intake.audit-records", "2026-11-30T09:00:00+00:00"),
                ],
                {"at": "2026-12-01T11:00:00+00:00", "trigger": "schedule"},
                [],
            ),
        ],
        (s for s in ["cases"]),  # the page hands over a generator
    )
    assert [(e["service"], e["at"][:13]) for e in view.log] == [
        ("reporting", "2026-12-01T11"),  # 11:30 UTC is after 12:00 at +01:00 (11:00 UTC)
        ("intake", "2026-12-01T12"),
        ("intake", "2026-11-30T09"),
    ]
    assert view.answered == ("intake", "reporting")
    assert view.unreachable == ("cases",)
    assert not view.truncated
    many = merge(
        [
            Answer(
                s,
                [entry(f"{s}.audit-records", f"2026-12-01T{h:02}:00:00+00:00") for h in range(24)]
                * 2,
                None,
                [],
            )
            for s in ("intake", "cases", "notifications")
        ],
        [],
    )
    assert len(many.log) == 100
    assert many.truncated
    assert many.log[0]["at"] >= many.log[-1]["at"]
