"""Create the first admin (or any user) from the command line.

    python -m alamal_gateway.users create --username fatima --role admin
    python -m alamal_gateway.users create --username naima --role coordinator --wijk overvecht

The password is read from a prompt (or from stdin when piped); configuration (the store) comes
from the same `GATEWAY_*` variables the service reads.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from alamal_gateway.accounts import (
    LANGUAGES,
    STAFF_ROLES,
    UsernameTakenError,
    create_user,
    prepare,
)
from alamal_gateway.passwords import password_problem
from alamal_runtime.auth import Role
from alamal_runtime.store import create_store


def _password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


async def _create(store_url: str, args: argparse.Namespace, password: str) -> str:
    store = create_store(store_url, default_database="alamal_gateway")
    await store.open()
    try:
        await prepare(store)
        user = await create_user(
            store,
            username=args.username,
            password=password,
            role=Role(args.role),
            wijken=args.wijk,
            language=args.language,
            display_name=args.name,
        )
    finally:
        await store.close()
    return user.id


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m alamal_gateway.users")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="create a user (password from prompt or stdin)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    create.add_argument("--wijk", action="append", default=[], help="repeat for each wijk")
    create.add_argument("--language", default="nl", choices=LANGUAGES)
    create.add_argument("--name", default="", help="display name")
    create.add_argument("--store-url", help="default: GATEWAY_STORE_URL")
    args = parser.parse_args(argv)
    store_url = args.store_url or _store_url()
    password = _password()
    problem = password_problem(password)
    if problem is not None:
        print(problem, file=sys.stderr)  # noqa: T201 - a command-line tool
        return 2
    try:
        user_id = asyncio.run(_create(store_url, args, password))
    except UsernameTakenError:
        print("that username is taken", file=sys.stderr)  # noqa: T201
        return 1
    except ValueError as exc:
        print(f"invalid {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(user_id)  # noqa: T201
    return 0


def _store_url() -> str:
    import os

    url = os.environ.get("GATEWAY_STORE_URL")
    if not url:
        raise SystemExit("set GATEWAY_STORE_URL or pass --store-url")
    return url


if __name__ == "__main__":
    raise SystemExit(main())
