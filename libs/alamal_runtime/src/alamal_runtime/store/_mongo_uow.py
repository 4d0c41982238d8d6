"""A MongoDB unit of work: one multi-document transaction on one client session."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pymongo.errors import BulkWriteError, DuplicateKeyError

from alamal_runtime.store._common import (
    EmittingUnitOfWork,
    check_collection,
    check_doc,
    check_where,
    utc_now,
)
from alamal_runtime.store._mongo_codec import (
    INBOX,
    OUTBOX,
    Db,
    Session,
    inbox_doc,
    mapped_errors,
    record,
)
from alamal_runtime.store.base import (
    Doc,
    DuplicateError,
    Record,
    Scalar,
    StaleWriteError,
    TransientStoreError,
)

_DUPLICATE_KEY = 11000


def _has_duplicate_key(exc: BulkWriteError) -> bool:
    return any(e.get("code") == _DUPLICATE_KEY for e in exc.details.get("writeErrors", []))


class MongoUnitOfWork(EmittingUnitOfWork):
    """The unit of work of `MongoStore.transaction()`."""

    def __init__(self, db: Db, session: Session) -> None:
        self._db = db
        self._session = session
        super().__init__()

    async def _exists(self, collection: str, key: str) -> bool:
        found = await self._db[collection].find_one({"_id": key}, {"_id": 1}, session=self._session)
        return found is not None

    async def get(self, collection: str, doc_id: str) -> Record | None:
        """Read one document, including this unit of work's own writes."""
        self._check()
        with mapped_errors():
            doc = await self._db[check_collection(collection)].find_one(
                {"_id": doc_id}, session=self._session
            )
        return None if doc is None else record(doc)

    async def insert(self, collection: str, doc_id: str, data: Doc) -> Record:
        """Insert a new document at version 1; DuplicateError if the id exists."""
        self._check()
        check_collection(collection)
        check_doc(data)
        with mapped_errors():
            # A failed write aborts a MongoDB transaction: look first, so that a duplicate is
            # reported without spoiling the unit of work (as in SQLite).
            if await self._exists(collection, doc_id):
                raise DuplicateError(f"{collection}/{doc_id} already exists")
            doc = {"_id": doc_id, "_v": 1, **data}
            await self._db[collection].insert_one(doc, session=self._session)
        return Record(id=doc_id, version=1, data=dict(data))

    async def replace(
        self, collection: str, doc_id: str, data: Doc, *, expected_version: int
    ) -> Record:
        """Replace a document at `expected_version`; StaleWriteError otherwise."""
        self._check()
        check_collection(collection)
        check_doc(data)
        with mapped_errors():
            result = await self._db[collection].replace_one(
                {"_id": doc_id, "_v": expected_version},
                {"_v": expected_version + 1, **data},
                session=self._session,
            )
        if result.matched_count != 1:
            raise StaleWriteError(f"{collection}/{doc_id} is not at version {expected_version}")
        return Record(id=doc_id, version=expected_version + 1, data=dict(data))

    async def delete_all(self, collection: str) -> int:
        """Delete every document of the collection in this transaction; return how many."""
        self._check()
        with mapped_errors():
            result = await self._db[check_collection(collection)].delete_many(
                {}, session=self._session
            )
        return result.deleted_count

    async def delete(self, collection: str, doc_id: str) -> bool:
        """Delete one document in this transaction; False if there was none."""
        self._check()
        with mapped_errors():
            result = await self._db[check_collection(collection)].delete_one(
                {"_id": doc_id}, session=self._session
            )
        return result.deleted_count == 1

    async def delete_where(self, collection: str, where: Mapping[str, Scalar]) -> int:
        """Delete the documents equal to `where` in this transaction; return how many."""
        self._check()
        filters = check_where(where)
        with mapped_errors():
            result = await self._db[check_collection(collection)].delete_many(
                filters, session=self._session
            )
        return result.deleted_count

    async def delete_published(self, key: str) -> int:
        """Delete the published outbox messages with this key; return how many."""
        self._check()
        with mapped_errors():
            result = await self._db[OUTBOX].delete_many(
                {"key": key, "sent_at": {"$ne": None}}, session=self._session
            )
        return result.deleted_count

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Record the event as handled by `consumer`; False if it already was."""
        self._check()
        doc = inbox_doc(consumer, event_id, utc_now())
        with mapped_errors():
            if await self._exists(INBOX, doc["_id"]):
                return False
            try:
                await self._db[INBOX].insert_one(doc, session=self._session)
            except DuplicateKeyError as exc:
                # Claimed by a unit of work that committed meanwhile: run again, and it sees it.
                raise TransientStoreError("event claimed concurrently; run again") from exc
        return True

    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Record the ids `consumer` has not handled yet (one find, one insert); return them."""
        self._check()
        now = utc_now()
        docs = {d["_id"]: d for d in (inbox_doc(consumer, e, now) for e in event_ids)}
        if not docs:
            return set()
        with mapped_errors():
            cursor = self._db[INBOX].find(
                {"_id": {"$in": list(docs)}}, {"_id": 1}, session=self._session
            )
            handled = {doc["_id"] for doc in await cursor.to_list()}
            new = [doc for key, doc in docs.items() if key not in handled]
            if new:
                try:
                    await self._db[INBOX].insert_many(new, ordered=True, session=self._session)
                except BulkWriteError as exc:
                    if not _has_duplicate_key(exc):
                        raise
                    # Claimed by a unit of work that committed meanwhile: run again, and it sees it.
                    raise TransientStoreError("event claimed concurrently; run again") from exc
        return {doc["event_id"] for doc in new}
