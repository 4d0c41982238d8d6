"""The first admin is created from the command line, with the password from stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alamal_gateway.accounts import find_by_username
from alamal_gateway.passwords import verify_password
from alamal_runtime.auth import Role
from alamal_runtime.store import create_store


def _cli(store_url: str, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "alamal_gateway.users", "create", "--store-url", store_url, *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_cli_creates_the_first_admin(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/gateway.sqlite3"
    done = _cli(url, "--username", "Fatima", "--role", "admin", password="a very long password!")
    assert done.returncode == 0, done.stderr
    assert "a very long password!" not in done.stdout + done.stderr
    short = _cli(url, "--username", "naima", "--role", "coordinator", password="short")
    assert short.returncode == 2
    again = _cli(url, "--username", "fatima", "--role", "admin", password="another long password")
    assert again.returncode == 1
    store = create_store(url, default_database="alamal_gateway")
    await store.open()
    try:
        user = await find_by_username(store, "FATIMA")
        assert await find_by_username(store, "naima") is None
    finally:
        await store.close()
    assert user is not None
    assert user.role is Role.ADMIN
    assert user.id == done.stdout.strip()
    assert verify_password(user.password_hash, "a very long password!")
