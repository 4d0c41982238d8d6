"""The production store: one MongoDB database per service, through PyMongo's async API.

Documents live one collection per document collection (`_id` = id, `_v` = version, fields at top
level, so indexes and filters work natively). Every unit of work is a multi-document transaction
(snapshot reads, majority writes), so it needs a replica set or mongos; `open()` refuses a
standalone server. The outbox is numbered per key (see `_mongo_outbox`): units of work on
different keys share no document and never conflict.

A unit of work that loses a race (MongoDB's `TransientTransactionError`) raises
TransientStoreError, which `Store.with_transaction` answers by running it again; a commit whose
outcome is unknown (`UnknownTransactionCommitResult`) is committed again, as PyMongo's
`with_transaction` does, within the same time limit.

mongoeco (the test server) detects conflicts globally: any commit made while a transaction is
open fails that transaction. Against mongoeco this store therefore runs its writes one at a time
within the process by default (`serialize_writes=None`), so that tests see the conflicts a real
server would report, and no others; `serialize_writes=False` lets its transactions overlap (every
overlap then conflicts and is retried), which is how the retries are tested.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from datetime import datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.errors import PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference
from pymongo.write_concern import WriteConcern

from alamal_runtime.store import _mongo_outbox as outbox
from alamal_runtime.store._common import (
    ID_FIELD,
    check_after,
    check_collection,
    check_field,
    check_fields,
    check_limit,
    check_not_nested,
    normalize_filter,
)
from alamal_runtime.store._mongo_codec import (
    Db,
    Session,
    commit_outcome_unknown,
    is_mongoeco,
    mapped_errors,
    record,
    transactions_supported,
    wire_limit,
)
from alamal_runtime.store._mongo_uow import MongoUnitOfWork
from alamal_runtime.store.base import (
    TRANSACTION_TIME_LIMIT_SECONDS,
    OutboxRecord,
    Record,
    Scalar,
    Store,
    StoreUnavailableError,
    UnitOfWork,
)


def database_from_url(url: str) -> str | None:
    """The database named in a MongoDB URL's path (`mongodb://host/dbname`), if any."""
    name = unquote(urlsplit(url).path.lstrip("/"))
    return name or None


class MongoStore(Store):
    """A service's store in one MongoDB database (replica set, mongos or mongoeco)."""

    def __init__(
        self,
        url: str,
        database: str | None = None,
        *,
        server_selection_timeout_ms: int = 5000,
        serialize_writes: bool | None = None,
    ) -> None:
        super().__init__()
        self.serialize_writes = serialize_writes
        """Run units of work one at a time in this process: None = only against mongoeco (read
        at `open()`)."""
        name = database or database_from_url(url)
        if not name:
            raise ValueError("name the MongoDB database in the URL path or the `database` argument")
        self._url = url
        self._database = name
        self._timeout_ms = server_selection_timeout_ms
        self._client: AsyncMongoClient[dict[str, Any]] | None = None
        self._db: Db | None = None
        self._serial: asyncio.Lock | None = None  # only against mongoeco, see the module doc
        self._mongoeco = False
        self._serial_owner: asyncio.Task[Any] | None = None

    @property
    def database(self) -> str:
        """The database this store uses."""
        return self._database

    def _require_db(self) -> Db:
        if self._db is None:
            raise StoreUnavailableError("the MongoDB store is not open")
        return self._db

    async def open(self) -> None:
        """Connect, refuse a standalone server, and create the outbox indexes; idempotent."""
        if self._client is not None:
            return
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            self._url, serverSelectionTimeoutMS=self._timeout_ms, tz_aware=True
        )
        try:
            with mapped_errors():
                info = await client.admin.command("hello")
                if not transactions_supported(info):
                    info |= await client.admin.command("buildInfo")
                    if not transactions_supported(info):
                        raise StoreUnavailableError(
                            "MongoDB at the store URL is a standalone server: the store needs a"
                            " replica set (or mongos) for atomic outbox writes; start mongod with"
                            " --replSet and run rs.initiate()"
                        )
                db = client.get_database(self._database, write_concern=WriteConcern("majority"))
                await outbox.prepare_outbox(db)
        except BaseException:
            await client.close()
            raise
        self._client, self._db = client, db
        self._mongoeco = is_mongoeco(info)
        serialize = self._mongoeco if self.serialize_writes is None else self.serialize_writes
        self._serial = asyncio.Lock() if serialize else None

    @asynccontextmanager
    async def _serialized(self) -> AsyncIterator[None]:
        """Hold the in-process write lock when the server is mongoeco; else do nothing."""
        lock = self._serial
        if lock is None:
            yield
            return
        current = asyncio.current_task()
        check_not_nested(current, self._serial_owner)
        async with lock:
            self._serial_owner = current
            try:
                yield
            finally:
                self._serial_owner = None

    async def close(self) -> None:
        """Close the client's connections."""
        client, self._client, self._db = self._client, None, None
        if client is not None:
            await client.close()

    async def ping(self) -> None:
        """Raise StoreUnavailableError unless the server answers a ping."""
        db = self._require_db()
        with mapped_errors():
            await db.command("ping")

    async def ensure_index(self, collection: str, fields: Sequence[str]) -> None:
        """Create an ascending compound index on the fields; idempotent."""
        db = self._require_db()
        keys = [(field, ASCENDING) for field in check_fields(fields)]
        async with self._serialized():
            with mapped_errors():
                await db[check_collection(collection)].create_index(keys)

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one committed document."""
        db = self._require_db()
        with mapped_errors():
            doc = await db[check_collection(collection)].find_one({"_id": doc_id})
        return None if doc is None else record(doc)

    async def find(
        self,
        collection: str,
        where: Mapping[str, Scalar] | None = None,
        *,
        order_by: str | None = None,
        descending: bool = False,
        limit: int = 100,
        after: tuple[str, str] | None = None,
    ) -> list[Record]:
        """Committed documents whose top-level fields equal `where` (and past `after`)."""
        db = self._require_db()
        direction = DESCENDING if descending else ASCENDING
        sort = [("_id", direction)]
        if order_by is not None and check_field(order_by) != ID_FIELD:
            sort.insert(0, (order_by, direction))
        query: dict[str, Any] = dict(normalize_filter(where))
        past = check_after(after)
        if past is not None:
            field, value = past
            field = "_id" if field == ID_FIELD else field  # ("id", x): by document id
            query[field] = {**({"$eq": query[field]} if field in query else {}), "$gt": value}
        cursor = db[check_collection(collection)].find(query)
        with mapped_errors():
            docs = await cursor.sort(sort).limit(wire_limit(check_limit(limit))).to_list()
        return [record(doc) for doc in docs]

    def transaction(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Open a unit of work as a MongoDB transaction; commit on clean exit, else abort."""
        return self._transaction()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[UnitOfWork]:
        db = self._require_db()
        started = time.monotonic()
        async with self._serialized():
            session = db.client.start_session()
            try:
                with mapped_errors():
                    await session.start_transaction(
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                        read_preference=ReadPreference.PRIMARY,
                    )
                uow = MongoUnitOfWork(db, session)
                try:
                    yield uow
                    emitted = uow.finish()
                    with mapped_errors():
                        if emitted:
                            await outbox.store_outbox(db, session, emitted)
                        await _commit(session, started)
                except BaseException:
                    uow.finish()
                    with suppress(PyMongoError):
                        if session.in_transaction:
                            await session.abort_transaction()
                        elif self._mongoeco:
                            # mongoeco keeps a transaction whose commit failed open on the
                            # session, and PyMongo hands the session to the next operation:
                            # abort it on the server (MongoDB has already aborted it).
                            await db.client.admin.command("abortTransaction", session=session)
                    raise
            finally:
                with suppress(PyMongoError):
                    await session.end_session()
        if emitted:
            self._notify_outbox_committed()

    async def outbox_pending(self, limit: int = 100) -> list[OutboxRecord]:
        """For the keys with the oldest unsent messages, a prefix of each key's, in order."""
        return await outbox.outbox_pending(self._require_db(), check_limit(limit))

    async def outbox_mark_sent(self, records: Sequence[OutboxRecord]) -> None:
        """Mark outbox records (as `outbox_pending` returned them) as published."""
        if not records:
            return
        db = self._require_db()
        async with self._serialized():
            await outbox.outbox_mark_sent(db, records)

    async def outbox_backlog(self) -> int:
        """How many outbox messages wait to be published."""
        return await outbox.outbox_backlog(self._require_db())

    async def outbox_requeue(self) -> int:
        """Mark the retained published messages unsent again."""
        db = self._require_db()
        async with self._serialized():
            count = await outbox.outbox_requeue(db)
        if count:
            self._notify_outbox_committed()
        return count

    async def outbox_trim(self, before: datetime) -> dict[str, int]:
        """Delete the messages published before `before`."""
        db = self._require_db()
        async with self._serialized():
            return await outbox.outbox_trim(db, before)


async def _commit(session: Session, started: float) -> None:
    """Commit; commit again while the outcome is unknown, until the time limit has passed.

    Committing again is safe: the server applies a transaction's commit once (the driver sends
    the retry with majority write concern), so a commit that did succeed is only confirmed.
    """
    while True:
        try:
            await session.commit_transaction()
            return
        except PyMongoError as exc:
            within = time.monotonic() - started < TRANSACTION_TIME_LIMIT_SECONDS
            if not (commit_outcome_unknown(exc) and within):
                raise
