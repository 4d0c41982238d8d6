"""Demo users for the dev profile: random passwords written to a 0600 file, never logged."""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path
from typing import Final

import structlog

from alamal_gateway.accounts import UsernameTakenError, create_user, find_by_username
from alamal_runtime.auth import Role
from alamal_runtime.store import Store

log = structlog.get_logger(__name__)

DEMO_FILE: Final = "demo-users.txt"
DEMO_USERS: Final = (
    ("demo-vertrouwenspersoon", Role.TRUSTED_PERSON, ("overvecht",), "nl", "Samira (demo)"),
    ("demo-coordinator", Role.COORDINATOR, ("overvecht", "zuidwest"), "nl", "Naima (demo)"),
    ("demo-admin", Role.ADMIN, (), "en", "Admin (demo)"),
    ("demo-operator", Role.OPERATOR, (), "en", "Operator (demo)"),
    ("demo-privacy", Role.PRIVACY_OFFICER, (), "nl", "Privacy officer (demo)"),
)


async def ensure_demo_users(store: Store, data_dir: Path) -> None:
    """Create the demo users that do not exist yet; append their passwords to the demo file."""
    lines: list[str] = []
    for username, role, wijken, language, name in DEMO_USERS:
        if await find_by_username(store, username) is not None:
            continue
        password = secrets.token_urlsafe(12)
        try:
            await create_user(
                store,
                username=username,
                password=password,
                role=role,
                wijken=wijken,
                language=language,
                display_name=name,
            )
        except UsernameTakenError:
            continue
        lines.append(f"{username}\t{role.value}\t{password}\n")
    if not lines:
        return
    await asyncio.to_thread(_append, data_dir / DEMO_FILE, lines)
    log.info("demo_users_created", count=len(lines))


def _append(path: Path, lines: list[str]) -> None:
    """Append to the demo file, created with mode 0600 (never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as out:
        out.writelines(lines)
    path.chmod(0o600)
