"""Dev helper: mint a service token with the embedded stack's dev signing key.

    python -m alamal_runtime.devtoken --role coordinator --wijk overvecht

Prints the token; use it as `Authorization: Bearer <token>`. It signs with the dev key the
embedded stack keeps in its data folder; production tokens are minted by the gateway only.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path

from alamal_runtime.auth import DEFAULT_TTL_SECONDS, Role, mint_token


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, mint, print."""
    parser = argparse.ArgumentParser(prog="python -m alamal_runtime.devtoken", description=__doc__)
    parser.add_argument("--key", type=Path, default=Path("data/keys/token-signing.pem"))
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.COORDINATOR.value)
    parser.add_argument("--user", default=None, help="user id, a UUID (default: a new random one)")
    parser.add_argument("--wijk", action="append", default=[], help="a wijk in scope (repeat)")
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS * 12)
    args = parser.parse_args(argv)
    if not args.key.exists():
        parser.error(f"no signing key at {args.key}: start the embedded stack first (make run)")
    token = mint_token(
        args.key.read_text(encoding="ascii"),
        user_id=args.user or str(uuid.uuid4()),
        role=Role(args.role),
        wijken=set(args.wijk),
        ttl_seconds=args.ttl,
    )
    sys.stdout.write(token + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
