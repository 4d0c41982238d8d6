"""Blocking SQLite statements; `SqliteStore` runs every one of them on its single worker thread."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from alamal_runtime.store._common import ID_FIELD
from alamal_runtime.store.base import (
    Doc,
    DuplicateError,
    OutboxMessage,
    OutboxRecord,
    Record,
    Scalar,
    StaleWriteError,
)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    topic TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    trace_carrier TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS inbox (
    consumer TEXT NOT NULL,
    event_id TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (consumer, event_id)
);
"""
# json_type of the stored value must match the filter's type, so that True never equals 1 and a
# string never equals a nested object's JSON text (the same answers MongoDB gives).
_JSON_TYPES: dict[type, str] = {
    bool: "'true', 'false'",
    int: "'integer', 'real'",
    float: "'integer', 'real'",
    str: "'text'",
}
# Bound parameters per IN (...) list, well under SQLite's limit of 32766.
_IN_CHUNK = 500
# Errors that mean "try again later" rather than a bug in the statement.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_READONLY,
    }
)


def is_unavailable(exc: sqlite3.Error) -> bool:
    """Whether an SQLite error means the database cannot be used right now."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _UNAVAILABLE_CODES


def connect(
    path: str, *, busy_timeout_ms: int, read_only: bool = False, check_same_thread: bool = True
) -> sqlite3.Connection:
    """Open a connection in explicit-transaction mode with durable settings."""
    conn = sqlite3.connect(
        path,
        autocommit=True,
        timeout=busy_timeout_ms / 1000,
        check_same_thread=check_same_thread,
    )
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if read_only:
        conn.execute("PRAGMA query_only = ON")
        return conn
    if path != ":memory:":
        (mode,) = conn.execute("PRAGMA journal_mode = WAL").fetchone()
        if str(mode).lower() != "wal":
            conn.close()
            raise sqlite3.OperationalError(f"could not switch {path} to WAL (got {mode})")
    # FULL fsyncs the WAL at every commit: a commit that returned survives a power cut.
    conn.execute("PRAGMA synchronous = FULL")
    # Deleted or overwritten content is zeroed in the file, not left in free space (erasure:
    # DESIGN decision 10); some builds default to it, others do not, so it is set here.
    conn.execute("PRAGMA secure_delete = ON")
    # Sorts and temporary indexes stay in memory: no temporary file ever holds a copy.
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};COMMIT;")
    return conn


def begin(conn: sqlite3.Connection) -> None:
    """Start a write transaction, taking the database write lock now (not at the first write)."""
    rollback(conn)  # left open only if an earlier rollback failed
    conn.execute("BEGIN IMMEDIATE")


def rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already done so."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


_SAVEPOINT = "unit_of_work"


def savepoint(conn: sqlite3.Connection) -> None:
    """Start a unit of work inside the open transaction."""
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")


def release(conn: sqlite3.Connection) -> None:
    """Keep the unit of work's changes in the transaction."""
    conn.execute(f"RELEASE {_SAVEPOINT}")


def rollback_to_savepoint(conn: sqlite3.Connection) -> None:
    """Undo the unit of work's changes, leaving the rest of the transaction as it was."""
    conn.execute(f"ROLLBACK TO {_SAVEPOINT}")
    conn.execute(f"RELEASE {_SAVEPOINT}")


def commit(conn: sqlite3.Connection) -> None:
    """Commit the open transaction (with synchronous=FULL: fsync of the WAL)."""
    conn.execute("COMMIT")


def store_outbox(conn: sqlite3.Connection, emitted: Sequence[OutboxMessage], now: datetime) -> None:
    """Store the emitted messages in emit order."""
    if not emitted:
        return
    rows = [
        (
            m.id,
            m.topic,
            m.key,
            m.value,
            json.dumps([[k, base64.b64encode(v).decode("ascii")] for k, v in m.headers]),
            json.dumps(dict(m.trace_carrier)),
            now.isoformat(),
        )
        for m in emitted
    ]
    try:
        conn.executemany(
            "INSERT INTO outbox (id, topic, key, value, headers, trace_carrier, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    except sqlite3.IntegrityError as exc:
        raise DuplicateError("an emitted event id is already in the outbox") from exc


def _record(row: tuple[str, int, str]) -> Record:
    doc_id, version, body = row
    return Record(id=doc_id, version=version, data=json.loads(body))


def _dumps(data: Doc) -> str:
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def get(conn: sqlite3.Connection, collection: str, doc_id: str) -> Record | None:
    """One document, or None."""
    row = conn.execute(
        "SELECT id, version, body FROM documents WHERE collection = ? AND id = ?",
        (collection, doc_id),
    ).fetchone()
    return None if row is None else _record(row)


def insert(conn: sqlite3.Connection, collection: str, doc_id: str, data: Doc) -> Record:
    """Insert at version 1; DuplicateError if the id exists."""
    try:
        conn.execute(
            "INSERT INTO documents (collection, id, version, body) VALUES (?, ?, 1, ?)",
            (collection, doc_id, _dumps(data)),
        )
    except sqlite3.IntegrityError as exc:
        raise DuplicateError(f"{collection}/{doc_id} already exists") from exc
    return Record(id=doc_id, version=1, data=data)


def replace(
    conn: sqlite3.Connection, collection: str, doc_id: str, data: Doc, expected_version: int
) -> Record:
    """Replace the document if it is still at `expected_version`."""
    cur = conn.execute(
        "UPDATE documents SET body = ?, version = version + 1"
        " WHERE collection = ? AND id = ? AND version = ?",
        (_dumps(data), collection, doc_id, expected_version),
    )
    if cur.rowcount != 1:
        raise StaleWriteError(f"{collection}/{doc_id} is not at version {expected_version}")
    return Record(id=doc_id, version=expected_version + 1, data=data)


def delete_all(conn: sqlite3.Connection, collection: str) -> int:
    """Delete every document of the collection; return how many."""
    cur = conn.execute("DELETE FROM documents WHERE collection = ?", (collection,))
    return cur.rowcount


def _path(field: str) -> str:
    # Field names are validated by _common.check_field, so splicing them is safe; a literal
    # (not a bound parameter) is what lets SQLite match the expression index.
    return f"json_extract(body, '$.{field}')"


def _matching(collection: str, where: Mapping[str, Scalar]) -> tuple[list[str], list[Any]]:
    """The WHERE clauses and parameters selecting a collection's documents equal to `where`."""
    clauses = ["collection = ?"]
    params: list[Any] = [collection]
    for field, value in where.items():
        if value is None:
            clauses.append(f"{_path(field)} IS NULL")
            continue
        json_types = _JSON_TYPES.get(type(value))
        if json_types is None:
            raise TypeError(f"cannot filter on {type(value).__name__} values")
        clauses.append(f"{_path(field)} = ?")
        clauses.append(f"json_type(body, '$.{field}') IN ({json_types})")
        params.append(value)
    return clauses, params


def delete(conn: sqlite3.Connection, collection: str, doc_id: str) -> bool:
    """Delete one document; False if there was none."""
    cur = conn.execute(
        "DELETE FROM documents WHERE collection = ? AND id = ?", (collection, doc_id)
    )
    return cur.rowcount == 1


def delete_where(conn: sqlite3.Connection, collection: str, where: Mapping[str, Scalar]) -> int:
    """Delete the documents equal to `where`; return how many."""
    clauses, params = _matching(collection, where)
    sql = f"DELETE FROM documents WHERE {' AND '.join(clauses)}"  # noqa: S608 - checked fields
    return conn.execute(sql, params).rowcount


def delete_published(conn: sqlite3.Connection, key: str) -> int:
    """Delete the already published outbox messages with this key; return how many."""
    cur = conn.execute("DELETE FROM outbox WHERE key = ? AND sent_at IS NOT NULL", (key,))
    return cur.rowcount


def checkpoint(conn: sqlite3.Connection, *, attempts: int = 5) -> bool:
    """Copy the WAL into the database and truncate it to zero bytes, so that page images
    holding deleted content are gone from the WAL file; False if readers kept it busy."""
    for _ in range(attempts):
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return True
    return False


def find(
    conn: sqlite3.Connection,
    collection: str,
    where: Mapping[str, Scalar],
    order_by: str | None,
    descending: bool,
    limit: int,
    *,
    after: tuple[str, str] | None = None,
) -> list[Record]:
    """Documents whose top-level fields equal `where` (and whose string field is greater than
    `after`'s value), ordered, at most `limit`."""
    clauses, params = _matching(collection, where)
    if after is not None:
        bound_field, bound = after
        if bound_field == ID_FIELD:  # the document id: keyset paging by id
            clauses.append("id > ?")
        else:
            # BINARY collation: code-point order of UTF-8, as MongoDB compares strings.
            clauses.append(f"json_type(body, '$.{bound_field}') = 'text'")
            clauses.append(f"{_path(bound_field)} > ?")
        params.append(bound)
    direction = "DESC" if descending else "ASC"
    order = f"id {direction}"
    if order_by is not None and order_by != ID_FIELD:
        order = f"{_path(order_by)} {direction}, {order}"
    sql = f"SELECT id, version, body FROM documents WHERE {' AND '.join(clauses)}"  # noqa: S608
    rows = conn.execute(f"{sql} ORDER BY {order} LIMIT ?", (*params, limit)).fetchall()
    return [_record(row) for row in rows]


def ensure_index(conn: sqlite3.Connection, collection: str, fields: Sequence[str]) -> None:
    """An expression index on (collection, the fields' JSON values)."""
    name = f"doc__{collection}__{'__'.join(fields)}".replace("-", "_")
    columns = ", ".join(_path(field) for field in fields)
    conn.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON documents (collection, {columns})')


def claim_inbox(conn: sqlite3.Connection, consumer: str, event_id: str, now: datetime) -> bool:
    """Record the event as handled; False if it already was."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)",
        (consumer, event_id, now.isoformat()),
    )
    return cur.rowcount == 1


def claim_inbox_many(
    conn: sqlite3.Connection, consumer: str, event_ids: Sequence[str], now: datetime
) -> set[str]:
    """Record the ids not handled yet, in one statement per chunk; return them."""
    wanted = list(dict.fromkeys(event_ids))
    handled: set[str] = set()
    for first in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[first : first + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT event_id FROM inbox WHERE consumer = ? AND event_id IN ({marks})",  # noqa: S608
            (consumer, *chunk),
        ).fetchall()
        handled.update(row[0] for row in rows)
    claimed = [event_id for event_id in wanted if event_id not in handled]
    stamp = now.isoformat()
    conn.executemany(
        "INSERT INTO inbox (consumer, event_id, handled_at) VALUES (?, ?, ?)",
        [(consumer, event_id, stamp) for event_id in claimed],
    )
    return set(claimed)


def outbox_pending(conn: sqlite3.Connection, limit: int) -> list[OutboxRecord]:
    """Unsent messages, oldest first."""
    rows = conn.execute(
        "SELECT seq, id, topic, key, value, headers, trace_carrier, created_at FROM outbox"
        " WHERE sent_at IS NULL ORDER BY seq LIMIT ?",
        (limit,),
    ).fetchall()
    return [
        OutboxRecord(
            seq=seq,
            message=OutboxMessage(
                id=msg_id,
                topic=topic,
                key=key,
                value=bytes(value),
                headers=tuple((k, base64.b64decode(v)) for k, v in json.loads(headers)),
                trace_carrier=json.loads(carrier),
            ),
            created_at=datetime.fromisoformat(created_at),
        )
        for seq, msg_id, topic, key, value, headers, carrier, created_at in rows
    ]


def outbox_mark_sent(conn: sqlite3.Connection, seqs: Sequence[int], now: datetime) -> None:
    """Mark messages published (inside the caller's transaction)."""
    conn.executemany(
        "UPDATE outbox SET sent_at = ? WHERE seq = ? AND sent_at IS NULL",
        [(now.isoformat(), seq) for seq in seqs],
    )


def outbox_requeue(conn: sqlite3.Connection) -> int:
    """Mark every published message unsent again (each keeps its place in the order)."""
    return conn.execute("UPDATE outbox SET sent_at = NULL WHERE sent_at IS NOT NULL").rowcount


def outbox_trim(conn: sqlite3.Connection, before: datetime) -> dict[str, int]:
    """Delete the messages published before `before`; return how many per topic."""
    bound = (before.isoformat(),)
    old = "FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?"
    counts = conn.execute(f"SELECT topic, count(*) {old} GROUP BY topic", bound).fetchall()
    conn.execute(f"DELETE {old}", bound)
    return {str(topic): int(count) for topic, count in counts}


def outbox_backlog(conn: sqlite3.Connection) -> int:
    """How many messages wait to be published."""
    (count,) = conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()
    return int(count)
