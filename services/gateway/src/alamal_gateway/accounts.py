"""Staff user accounts in the gateway's own store: who may log in, with which role and wijken."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Final

from alamal_contracts.codes import Wijk
from alamal_gateway.passwords import hash_password
from alamal_runtime.auth import Role
from alamal_runtime.store import DuplicateError, Record, Store

USERS: Final = "users"
USERNAMES: Final = "usernames"
LANGUAGES: Final = ("nl", "en", "ar")
STAFF_ROLES: Final = (
    Role.TRUSTED_PERSON,
    Role.COORDINATOR,
    Role.ADMIN,
    Role.OPERATOR,
    Role.PRIVACY_OFFICER,
)
USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{2,39}$")


class UsernameTakenError(Exception):
    """Another user already has that username."""


@dataclass(frozen=True, slots=True)
class User:
    """A staff member who logs in at the gateway; `id` is the token's `sub`."""

    id: str
    username: str
    role: Role
    wijken: tuple[str, ...]
    language: str
    password_hash: str
    disabled: bool
    created_at: datetime
    display_name: str = ""


def normalise_username(username: str) -> str:
    """Usernames are compared case-insensitively and without surrounding spaces."""
    return username.strip().lower()


def valid_wijken(wijken: list[str]) -> tuple[str, ...]:
    """Known wijk codes, sorted and unique; ValueError on an unknown one."""
    known = {w.value for w in Wijk}
    if any(w not in known for w in wijken):
        raise ValueError("unknown wijk")
    return tuple(sorted(set(wijken)))


def _doc(user: User) -> dict[str, object]:
    return {
        "username": user.username,
        "role": user.role.value,
        "wijken": list(user.wijken),
        "language": user.language,
        "password_hash": user.password_hash,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
        "display_name": user.display_name,
    }


def _user(record: Record) -> User:
    d = record.data
    return User(
        id=record.id,
        username=str(d["username"]),
        role=Role(d["role"]),
        wijken=tuple(d["wijken"]),
        language=str(d["language"]),
        password_hash=str(d["password_hash"]),
        disabled=bool(d["disabled"]),
        created_at=datetime.fromisoformat(str(d["created_at"])),
        display_name=str(d.get("display_name", "")),
    )


async def prepare(store: Store) -> None:
    """Indexes the account queries use."""
    await store.ensure_index(USERS, ["role"])


async def create_user(
    store: Store,
    *,
    username: str,
    password: str,
    role: Role,
    wijken: list[str] | tuple[str, ...] = (),
    language: str = "nl",
    display_name: str = "",
) -> User:
    """Add a user; the username is claimed in the same unit of work (UsernameTakenError)."""
    name = normalise_username(username)
    if not USERNAME_PATTERN.fullmatch(name):
        raise ValueError("username")
    user = User(
        id=str(uuid.uuid4()),
        username=name,
        role=role,
        wijken=valid_wijken(list(wijken)),
        language=language if language in LANGUAGES else "nl",
        password_hash=hash_password(password),
        disabled=False,
        created_at=datetime.now(UTC),
        display_name=display_name.strip()[:80],
    )
    try:
        async with store.transaction() as uow:
            await uow.insert(USERNAMES, name, {"user_id": user.id})
            await uow.insert(USERS, user.id, _doc(user))
    except DuplicateError:
        raise UsernameTakenError from None
    return user


async def get_user(store: Store, user_id: str) -> User | None:
    """A user by id."""
    record = await store.get(USERS, user_id)
    return None if record is None else _user(record)


async def find_by_username(store: Store, username: str) -> User | None:
    """A user by username (case-insensitive)."""
    claim = await store.get(USERNAMES, normalise_username(username))
    return None if claim is None else await get_user(store, str(claim.data["user_id"]))


async def list_users(store: Store) -> list[User]:
    """Every user, by username."""
    return sorted((_user(r) for r in await store.find(USERS, limit=1000)), key=lambda u: u.username)


async def update_user(
    store: Store,
    user_id: str,
    *,
    role: Role | None = None,
    wijken: tuple[str, ...] | None = None,
    language: str | None = None,
    disabled: bool | None = None,
    password: str | None = None,
) -> User | None:
    """Change the fields given; None when the user does not exist."""
    async with store.transaction() as uow:
        record = await uow.get(USERS, user_id)
        if record is None:
            return None
        user = _user(record)
        changed = replace(
            user,
            role=role or user.role,
            wijken=user.wijken if wijken is None else wijken,
            language=language if language in LANGUAGES else user.language,
            disabled=user.disabled if disabled is None else disabled,
            password_hash=user.password_hash if password is None else hash_password(password),
        )
        await uow.replace(USERS, user_id, _doc(changed), expected_version=record.version)
    return changed
