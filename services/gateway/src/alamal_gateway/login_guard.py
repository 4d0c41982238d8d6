"""Login throttling and the login audit: rate limit per address and per user, lockout, records.

Counters live in the gateway's store, so a restart does not reset a lockout. The audit holds
ids, an outcome code and a keyed hash of the client address: never a password, never the
username typed (it may be someone's password typed in the wrong field).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final

from alamal_runtime.store import DuplicateError, Record, StaleWriteError, Store

LIMITS: Final = "login_limits"
AUDIT: Final = "login_audit"


class LoginOutcome(StrEnum):
    """What happened to one login attempt."""

    SUCCESS = "success"
    BAD_CREDENTIALS = "bad-credentials"
    LOCKED = "locked"
    RATE_LIMITED = "rate-limited"
    DISABLED = "disabled"
    LOGOUT = "logout"


@dataclass(frozen=True, slots=True)
class Limits:
    """Throttling parameters (from the settings)."""

    max_failures: int
    lockout: timedelta
    window: timedelta
    ip_max_attempts: int


class LoginGuard:
    """Decides whether an attempt may be checked, and records its outcome."""

    def __init__(self, store: Store, limits: Limits, *, address_key: bytes) -> None:
        self._store = store
        self._limits = limits
        self._address_key = address_key

    def address_id(self, address: str) -> str:
        """A keyed hash of the client address: countable, not reversible without the key."""
        return hmac.new(self._address_key, address.encode(), hashlib.sha256).hexdigest()[:32]

    async def refusal(
        self, *, address: str, user_id: str | None, now: datetime
    ) -> LoginOutcome | None:
        """RATE_LIMITED or LOCKED when the attempt must not even be checked; else None."""
        ip = await self._load(f"ip:{self.address_id(address)}")
        if ip is not None and len(self._recent(ip, now)) >= self._limits.ip_max_attempts:
            return LoginOutcome.RATE_LIMITED
        if user_id is not None:
            user = await self._load(f"user:{user_id}")
            locked_until = None if user is None else user.data.get("locked_until")
            if locked_until and datetime.fromisoformat(str(locked_until)) > now:
                return LoginOutcome.LOCKED
        return None

    async def record(
        self, *, address: str, user_id: str | None, outcome: LoginOutcome, now: datetime
    ) -> None:
        """Count the attempt, lock the user after too many failures, and audit it."""
        await self._count(f"ip:{self.address_id(address)}", now, failed=False)
        if user_id is not None and outcome is LoginOutcome.BAD_CREDENTIALS:
            await self._count(f"user:{user_id}", now, failed=True)
        elif user_id is not None and outcome is LoginOutcome.SUCCESS:
            await self._reset(f"user:{user_id}")
        async with self._store.transaction() as uow:
            await uow.insert(
                AUDIT,
                str(uuid.uuid4()),
                {
                    "at": now.isoformat(),
                    "outcome": outcome.value,
                    "user_id": user_id,
                    "address": self.address_id(address),
                },
            )

    async def audit_records(self, *, limit: int = 100) -> list[dict[str, object]]:
        """The latest audit records, newest first."""
        records = await self._store.find(AUDIT, order_by="at", descending=True, limit=limit)
        return [r.data for r in records]

    async def _load(self, key: str) -> Record | None:
        return await self._store.get(LIMITS, key)

    def _recent(self, record: Record, now: datetime) -> list[str]:
        since = now - self._limits.window
        return [t for t in record.data.get("attempts", []) if datetime.fromisoformat(t) > since]

    async def _count(self, key: str, now: datetime, *, failed: bool) -> None:
        for _ in range(5):  # concurrent attempts on one key: retry the optimistic write
            try:
                async with self._store.transaction() as uow:
                    record = await uow.get(LIMITS, key)
                    attempts = [] if record is None else self._recent(record, now)
                    attempts = [*attempts, now.isoformat()][-200:]
                    doc: dict[str, object] = {"attempts": attempts, "locked_until": None}
                    if record is not None:
                        doc["locked_until"] = record.data.get("locked_until")
                    if failed and len(attempts) >= self._limits.max_failures:
                        doc["locked_until"] = (now + self._limits.lockout).isoformat()
                        doc["attempts"] = []
                    if record is None:
                        await uow.insert(LIMITS, key, doc)
                    else:
                        await uow.replace(LIMITS, key, doc, expected_version=record.version)
                return
            except (StaleWriteError, DuplicateError):
                continue

    async def _reset(self, key: str) -> None:
        try:
            async with self._store.transaction() as uow:
                record = await uow.get(LIMITS, key)
                if record is not None:
                    await uow.replace(
                        LIMITS,
                        key,
                        {"attempts": [], "locked_until": None},
                        expected_version=record.version,
                    )
        except StaleWriteError:
            return
