"""Every page, for every role that may see it, in nl, en and ar, in each data state it meets
(nothing yet, one, many, a closed case, optional fields missing), rendered by the gateway in
front of the real services. A template error, a 500 or a raw code is a failing test here."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from alamal_gateway.accounts import User, update_user
from alamal_gateway.i18n import LANGUAGES
from alamal_gateway.web.casework import today
from alamal_runtime.auth import Role

from .live import Platform, add_user, platform
from .pagecheck import latin_in_arabic, raw_codes

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


@dataclass
class World:
    """The platform with its users and the ids of the data states built on it."""

    p: Platform
    families: dict[str, str] = field(default_factory=dict)
    cases: dict[str, str] = field(default_factory=dict)
    partner_id: str = ""


def member(role: str, name: str, year: int, surname: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"role": role, "first_name": name, "birth_year": year}
    if surname:
        body["surname"] = surname
    return body


async def register(p: Platform, tp: User, members: list[dict[str, Any]], **extra: Any) -> str:
    body = {
        "members": members,
        "wijk": "overvecht",
        "languages": ["ar", "nl"],
        "intake_source": "school",
        "consents": [{"purpose": "care", "granted": True}],
        **extra,
    }
    created = await p.call(tp, "intake", "POST", "/families", json=body)
    return str(created["id"])


async def case_of(p: Platform, tp: User, family_id: str, within: float = 30) -> str:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        cases = await p.call(tp, "cases", "GET", "/cases", params={"family_id": family_id})
        if cases:
            return str(cases[0]["id"])
        await asyncio.sleep(0.1)
    raise AssertionError("the case did not open")


@pytest.fixture(scope="module")
async def world(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[World]:
    async with platform(tmp_path_factory.mktemp("live"), kafka_bootstrap, token_keys) as p:
        w = World(p)
        tp = await add_user(p, "samira", Role.TRUSTED_PERSON, wijken=("overvecht",))
        await add_user(p, "youssef", Role.TRUSTED_PERSON, wijken=("overvecht",))
        await add_user(p, "newcomer", Role.TRUSTED_PERSON, wijken=("overvecht",))
        coord = await add_user(p, "hanan", Role.COORDINATOR, wijken=("overvecht", "zuidwest"))
        await add_user(p, "quiet", Role.COORDINATOR, wijken=("west",))
        admin = await add_user(p, "admin", Role.ADMIN)
        await add_user(p, "operator", Role.OPERATOR)
        await add_user(p, "privacy", Role.PRIVACY_OFFICER)
        partner = await p.call(
            admin,
            "notifications",
            "POST",
            "/partners",
            json={"name": "Jeugdzorg Utrecht", "kind": "youth-care"},
        )
        w.partner_id = partner["id"]
        w.families["one"] = await register(
            p,
            tp,
            [member("mother", "Fatima", 1984, "El Amrani"), member("child", "Yasmine", 2016)],
            projects=["tussen-in"],
            consents=[
                {"purpose": "care", "granted": True},
                {"purpose": "share-youth-care", "granted": True},
            ],
        )
        w.families["minimal"] = await register(p, tp, [member("father", "Driss", 1979)])
        w.families["closed"] = await register(p, tp, [member("mother", "Khadija", 1990)])
        for i in range(3):
            await register(
                p, tp, [member("mother", f"Naima{i}", 1988), member("youth", "Adam", 2010)]
            )
        for key in ("one", "minimal", "closed"):
            w.cases[key] = await case_of(p, tp, w.families[key])
        cid, day = w.cases["one"], today()
        await p.call(
            tp,
            "cases",
            "POST",
            f"/cases/{cid}/visits",
            json={
                "kind": "home-visit",
                "occurred_on": (day - timedelta(days=10)).isoformat(),
                "duration_minutes": 60,
                "topic_codes": ["school", "money"],
                "strengths_observed": ["Moeder is sterk in contact met school"],
                "private_note": "Vader werkt 's nachts",
                "follow_up_on": (day - timedelta(days=3)).isoformat(),
            },
        )
        await p.call(
            tp, "cases", "PUT", f"/cases/{cid}/plan/strengths", json={"items": ["Warm gezin"]}
        )
        goal = await p.call(
            tp,
            "cases",
            "POST",
            f"/cases/{cid}/plan/goals",
            json={"area": "school", "description": "Elke dag op tijd"},
        )
        await p.call(
            tp,
            "cases",
            "PATCH",
            f"/cases/{cid}/plan/goals/{goal['id']}",
            json={"status": "in-progress", "note": "Twee weken gelukt"},
        )
        for urgency in ("routine", "urgent"):
            await p.call(
                tp,
                "cases",
                "POST",
                f"/cases/{cid}/referrals",
                json={
                    "partner_id": w.partner_id,
                    "partner_kind": "youth-care",
                    "urgency": urgency,
                    "reason_codes": ["parenting-support"],
                    "note": "Graag snel contact",
                },
            )
        await p.call(
            tp,
            "intake",
            "POST",
            f"/families/{w.families['one']}/consents",
            json={"purpose": "reporting", "granted": False, "text_version": "2026-1"},
        )
        await p.call(
            coord,
            "cases",
            "POST",
            f"/cases/{w.cases['closed']}/close",
            json={"outcome_codes": ["goals-reached"]},
        )
        # A visit saved offline that reached cases after the case was closed: held.
        await p.call(
            tp,
            "cases",
            "POST",
            f"/cases/{w.cases['closed']}/visits",
            json={
                "kind": "phone",
                "occurred_on": day.isoformat(),
                "duration_minutes": 15,
                "topic_codes": ["health"],
                "private_note": "Belde vanuit de wachtkamer",
                "captured_offline_at": f"{day.isoformat()}T09:00:00+01:00",
            },
            headers={"Idempotency-Key": "held-in-the-page-world-1"},
        )
        yield w


def pages(w: World, role: str) -> list[str]:
    """The pages of one persona, in every data state the world holds."""
    f, c, tp = w.families, w.cases, w.p.users["samira"].id
    casework = [
        "/caseload",
        "/caseload?q=fat",
        "/caseload?q=zz",
        "/caseload?q=f",
        "/agenda",
        "/families/new",
        *(f"/families/{f[k]}" for k in ("one", "minimal", "closed")),
        f"/families/{f['one']}/edit",
        f"/families/{f['minimal']}/edit",
        f"/families/{f['one']}/summary",
        f"/families/{f['one']}/summary?notes=true",
        f"/cases/{c['one']}/visits/new",
        f"/cases/{c['one']}/referrals/new",
        "/visits/held",
        "/offline",
    ]
    return {
        "samira": casework,
        "newcomer": ["/caseload", "/agenda", "/families/new", "/visits/held"],
        "hanan": [*casework, "/team", f"/team/{tp}", "/reports", "/caseload?tp=" + tp],
        "quiet": ["/caseload", "/team", "/agenda", "/reports", "/visits/held"],
        "admin": ["/admin/users", "/admin/partners", "/operator"],
        "operator": ["/operator"],
        "privacy": [
            "/privacy",
            "/privacy?name=fat",
            "/privacy?name=zz",
            *(f"/privacy/families/{f[k]}" for k in ("one", "minimal", "closed")),
            "/retention",
            "/retention?within_days=0",
            "/retention?within_days=3000",
            "/retention?within_days=x",
            "/retention/run",
        ],
    }[role]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    "persona", ["samira", "newcomer", "hanan", "quiet", "admin", "operator", "privacy"]
)
async def test_every_page_renders_in_every_state(world: World, persona: str, language: str) -> None:
    user = world.p.users[persona]
    await update_user(world.p.gateway.state.store, user.id, language=language)
    problems: list[str] = []
    async with world.p.session(user) as client:
        for path in pages(world, persona):
            answer = await client.get(path)
            if answer.status_code != 200:
                problems.append(f"{path}: {answer.status_code}")
                continue
            html = answer.text
            if f'lang="{language}"' not in html:
                problems.append(f"{path}: not in {language}")
            codes = raw_codes(html, language)
            if codes:
                problems.append(f"{path}: raw codes {sorted(set(codes))}")
            if language == "ar":
                latin = latin_in_arabic(html)
                if latin:
                    problems.append(f"{path}: Latin text in Arabic {latin[:5]}")
    assert not problems, "\n".join(problems)


FORBIDDEN = {
    "samira": ["/team", "/reports", "/admin/users", "/admin/partners", "/operator", "/retention"],
    "admin": ["/caseload", "/team", "/agenda", "/families/new", "/retention"],
    "operator": ["/caseload", "/admin/users", "/reports", "/team", "/retention"],
    "privacy": ["/caseload", "/team", "/operator", "/admin/users"],
}


@pytest.mark.parametrize("persona", sorted(FORBIDDEN))
async def test_pages_of_other_roles_are_a_clear_refusal(world: World, persona: str) -> None:
    async with world.p.session(world.p.users[persona]) as client:
        for path in FORBIDDEN[persona]:
            answer = await client.get(path)
            assert answer.status_code == 403, path
            assert "Traceback" not in answer.text


async def test_a_family_of_another_trusted_person_is_not_found(world: World) -> None:
    async with world.p.session(world.p.users["youssef"]) as client:
        answer = await client.get(f"/families/{world.families['one']}")
        assert answer.status_code == 404
        edit = await client.get(f"/families/{world.families['one']}/edit")
        assert edit.status_code == 404
        summary = await client.get(f"/families/{world.families['one']}/summary")
        assert summary.status_code == 404


async def test_the_privacy_officers_family_page_unknown_known_and_erased(world: World) -> None:
    """An unknown id says so (404) and offers nothing to export or erase; a known family shows
    who it is and both forms; an erased one says so and keeps only its requests."""
    officer = world.p.users["privacy"]
    await update_user(world.p.gateway.state.store, officer.id, language="nl")
    samira = world.p.users["samira"]
    erased = await register(world.p, samira, [member("mother", "Salma", 1981, "Bakkali")])
    second = await add_user(world.p, "privacy-second", Role.PRIVACY_OFFICER)
    request = await world.p.call(
        officer,
        "intake",
        "POST",
        "/privacy/erasures",
        json={"family_id": erased, "reason": "family-request", "basis": "objection"},
    )
    await world.p.call(second, "intake", "POST", f"/privacy/erasures/{request['id']}/approve")
    async with world.p.session(officer) as client:
        unknown = await client.get(f"/privacy/families/{uuid.uuid4()}")
        known = await client.get(f"/privacy/families/{world.families['one']}")
        gone = await client.get(f"/privacy/families/{erased}")
    assert unknown.status_code == 404
    assert "Geen gezin met dit nummer." in unknown.text
    assert "/export" not in unknown.text
    assert "/erasure" not in unknown.text
    assert known.status_code == 200
    assert "<bdi>Fatima El Amrani (1984), Yasmine (2016)</bdi>" in known.text
    assert f'action="/privacy/families/{world.families["one"]}/export"' in known.text
    assert f'action="/privacy/families/{world.families["one"]}/erasure"' in known.text
    assert gone.status_code == 200
    assert "Dit gezin is al gewist." in gone.text
    assert "Salma" not in gone.text
    assert "/export" not in gone.text
    assert f'href="/privacy/erasures/{request["id"]}"' in gone.text


async def test_the_family_page_shows_what_was_written(world: World) -> None:
    user = world.p.users["samira"]
    await update_user(world.p.gateway.state.store, user.id, language="nl")
    async with world.p.session(user) as client:
        html = (await client.get(f"/families/{world.families['one']}")).text
        for written in (
            "Vader werkt &#39;s nachts",
            "Moeder is sterk in contact met school",
            "Twee weken gelukt",
            "Graag snel contact",
            "Jeugdzorg Utrecht",
        ):
            assert written in html, written
        # Consent: the answers given at registration are one entry, the later change its own.
        assert html.count('class="tl-consent-registration"') == 1
        assert html.count('class="tl-consent"') == 1
        printed = (await client.get(f"/families/{world.families['one']}/summary")).text
        assert "Vader werkt" not in printed
        assert "Graag snel contact" not in printed
        assert "Moeder is sterk in contact met school" in printed
        with_notes = (
            await client.get(f"/families/{world.families['one']}/summary?notes=true")
        ).text
        assert "Vader werkt" in with_notes


@pytest.fixture(scope="module")
async def intake_only(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, token_keys: tuple[str, str]
) -> AsyncIterator[World]:
    """Only intake answers: cases, notifications and reporting are down."""
    down = ("cases", "notifications", "reporting")
    async with platform(
        tmp_path_factory.mktemp("down"), kafka_bootstrap, token_keys, down=down
    ) as p:
        w = World(p)
        tp = await add_user(p, "samira", Role.TRUSTED_PERSON, wijken=("overvecht",))
        await add_user(p, "hanan", Role.COORDINATOR, wijken=("overvecht",))
        await add_user(p, "admin", Role.ADMIN)
        await add_user(p, "operator", Role.OPERATOR)
        await add_user(p, "privacy", Role.PRIVACY_OFFICER)
        w.families["one"] = await register(p, tp, [member("mother", "Fatima", 1984)])
        w.cases["one"] = str(uuid.uuid4())
        yield w


INTAKE_ONLY = {"/families/new", "/families/{one}/edit"}
"""Pages that need nothing but intake: they work as usual."""
DOWN_PAGES = {
    "samira": [
        "/caseload",
        "/agenda",
        "/families/new",
        "/families/{one}",
        "/families/{one}/edit",
        "/families/{one}/summary",
        "/cases/{case}/visits/new",
    ],
    "hanan": ["/team", "/team/{tp}", "/reports", "/caseload", "/families/{one}"],
    "admin": ["/admin/partners", "/operator"],
    "operator": ["/operator"],
    "privacy": ["/retention", "/retention/run"],
}


@pytest.mark.parametrize("language", LANGUAGES)
async def test_pages_say_clearly_when_a_service_is_down(intake_only: World, language: str) -> None:
    w = intake_only
    problems: list[str] = []
    for persona, paths in DOWN_PAGES.items():
        user = w.p.users[persona]
        await update_user(w.p.gateway.state.store, user.id, language=language)
        async with w.p.session(user) as client:
            for raw in paths:
                path = raw.format(
                    one=w.families["one"], case=w.cases["one"], tp=w.p.users["samira"].id
                )
                answer = await client.get(path)
                if answer.status_code not in (200, 503):
                    problems.append(f"{persona} {path}: {answer.status_code}")
                    continue
                says_so = 'role="alert"' in answer.text or 'class="alert"' in answer.text
                if raw not in INTAKE_ONLY and answer.status_code != 503 and not says_so:
                    problems.append(f"{persona} {path}: no message that a service is down")
                trace_id = answer.headers.get("x-trace-id", "")
                if answer.status_code == 503 and f">{trace_id}</code>" not in answer.text:
                    problems.append(f"{persona} {path}: no reference for the operator")
                codes = raw_codes(answer.text, language)
                if codes:
                    problems.append(f"{persona} {path}: raw codes {sorted(set(codes))}")
                if language == "ar" and latin_in_arabic(answer.text):
                    problems.append(f"{persona} {path}: Latin {latin_in_arabic(answer.text)[:3]}")
    assert not problems, "\n".join(problems)
