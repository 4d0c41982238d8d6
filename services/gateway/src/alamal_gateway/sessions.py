"""Server-side sessions: a random id in the cookie, only its hash in the store."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

from alamal_runtime.store import Record, StaleWriteError, Store

SESSIONS: Final = "sessions"
TOUCH_EVERY: Final = timedelta(seconds=30)
"""Record activity at most this often, so reading pages does not write on every request."""


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser: its user, CSRF token, start and last activity."""

    key: str
    """The hash of the cookie value (the store never holds the value itself)."""
    user_id: str
    csrf_token: str
    created_at: datetime
    last_seen: datetime
    revoked: bool
    version: int


def session_key(cookie_value: str) -> str:
    """The store key of a session cookie value."""
    return hashlib.sha256(cookie_value.encode("utf-8")).hexdigest()


def _session(record: Record) -> Session:
    d = record.data
    return Session(
        key=record.id,
        user_id=str(d["user_id"]),
        csrf_token=str(d["csrf_token"]),
        created_at=datetime.fromisoformat(str(d["created_at"])),
        last_seen=datetime.fromisoformat(str(d["last_seen"])),
        revoked=bool(d["revoked"]),
        version=record.version,
    )


def _doc(session: Session) -> dict[str, object]:
    return {
        "user_id": session.user_id,
        "csrf_token": session.csrf_token,
        "created_at": session.created_at.isoformat(),
        "last_seen": session.last_seen.isoformat(),
        "revoked": session.revoked,
    }


class SessionStore:
    """Creates, checks, touches and ends sessions with idle and absolute timeouts."""

    def __init__(self, store: Store, *, idle: timedelta, absolute: timedelta) -> None:
        self._store = store
        self._idle = idle
        self._absolute = absolute

    async def start(self, user_id: str, *, now: datetime | None = None) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown once) and the session."""
        at = now or datetime.now(UTC)
        cookie = secrets.token_urlsafe(32)
        session = Session(
            key=session_key(cookie),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=at,
            last_seen=at,
            revoked=False,
            version=1,
        )
        async with self._store.transaction() as uow:
            await uow.insert(SESSIONS, session.key, _doc(session))
        return cookie, session

    async def current(self, cookie: str | None, *, now: datetime | None = None) -> Session | None:
        """The live session of a cookie value, touched; None if unknown, ended or timed out."""
        if not cookie or len(cookie) > 100:
            return None
        record = await self._store.get(SESSIONS, session_key(cookie))
        if record is None:
            return None
        session = _session(record)
        at = now or datetime.now(UTC)
        if (
            session.revoked
            or at - session.last_seen > self._idle
            or at - session.created_at > self._absolute
        ):
            return None
        if at - session.last_seen > TOUCH_EVERY:
            session = await self._write(replace(session, last_seen=at)) or session
        return session

    async def end(self, cookie: str | None) -> None:
        """Revoke the session server-side (logout): the cookie is worthless afterwards."""
        if not cookie or len(cookie) > 100:
            return
        record = await self._store.get(SESSIONS, session_key(cookie))
        if record is not None:
            await self._write(replace(_session(record), revoked=True))

    async def _write(self, session: Session) -> Session | None:
        try:
            async with self._store.transaction() as uow:
                stored = await uow.replace(
                    SESSIONS, session.key, _doc(session), expected_version=session.version
                )
        except StaleWriteError:
            return None  # another request of the same browser wrote first: fine
        return replace(session, version=stored.version)
