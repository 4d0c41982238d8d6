"""The MongoDB outbox: ordered per key (the Kafka key), with no document every unit shares.

Each key has a counter document in `_outbox_keys`; a unit of work that emits for a key takes the
key's next numbers in its own transaction, just before it commits. Two units of work on
different keys touch no common document, so they never conflict. Two on the same key both write
the key's counter, so the server lets only one of them commit at a time (the other retries):
the numbers of one key therefore follow commit order, and once number n+1 is visible, n is too.
The relay reads each key's unsent messages from one snapshot, so it always gets a prefix of the
key's sequence and can neither skip nor reorder a message of one key, whatever order
transactions started or committed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import OperationFailure, PyMongoError
from pymongo.read_concern import ReadConcern
from pymongo.read_preferences import ReadPreference

from alamal_runtime.store._common import utc_now
from alamal_runtime.store._mongo_codec import (
    COUNTERS,
    OUTBOX,
    OUTBOX_COUNTER,
    OUTBOX_KEYS,
    Db,
    Session,
    mapped_errors,
    outbox_record,
)
from alamal_runtime.store.base import OutboxMessage, OutboxRecord, StoreUnavailableError

_NOT_FOUND = frozenset({26, 27})  # no such collection, no such index
_RETIRED_INDEXES = ("seq", "pending")  # the service-wide numbering this module replaced


async def prepare_outbox(db: Db) -> None:
    """Create the outbox indexes, and carry over an outbox numbered by the retired counter."""
    outbox = db[OUTBOX]
    for name in _RETIRED_INDEXES:
        try:
            await outbox.drop_index(name)
        except OperationFailure as exc:
            if exc.code not in _NOT_FOUND and "not found" not in str(exc).lower():
                raise
    await outbox.create_index([("key", ASCENDING), ("seq", ASCENDING)], unique=True, name="key_seq")
    await outbox.create_index(
        [("sent_at", ASCENDING), ("created_at", ASCENDING)], name="pending_by_age"
    )
    await outbox.create_index(
        [("sent_at", ASCENDING), ("key", ASCENDING), ("seq", ASCENDING)], name="pending_by_key"
    )
    if await db[COUNTERS].find_one({"_id": OUTBOX_COUNTER}) is not None:
        await _continue_numbering(db)


async def _continue_numbering(db: Db) -> None:
    # Messages numbered by the service-wide counter are in order within each key too: each key's
    # counter continues after its highest number, then the old counter goes (idempotent).
    highest = db[OUTBOX].aggregate([{"$group": {"_id": "$key", "seq": {"$max": "$seq"}}}])
    async for row in await highest:
        await db[OUTBOX_KEYS].update_one(
            {"_id": row["_id"]}, {"$max": {"seq": int(row["seq"])}}, upsert=True
        )
    await db[COUNTERS].delete_one({"_id": OUTBOX_COUNTER})


async def store_outbox(db: Db, session: Session, emitted: Sequence[OutboxMessage]) -> None:
    """Number the emitted messages per key and insert them, in the unit's transaction."""
    by_key: dict[str, list[OutboxMessage]] = {}
    for message in emitted:
        by_key.setdefault(message.key, []).append(message)
    now = utc_now()
    docs: list[dict[str, Any]] = []
    for key, messages in by_key.items():
        counter = await db[OUTBOX_KEYS].find_one_and_update(
            {"_id": key},
            {"$inc": {"seq": len(messages)}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if counter is None:  # cannot happen: an upsert returning the document after the update
            raise StoreUnavailableError("an outbox key counter could not be incremented")
        first = int(counter["seq"]) - len(messages) + 1
        docs += [_doc(m, first + offset, now) for offset, m in enumerate(messages)]
    await db[OUTBOX].insert_many(docs, ordered=True, session=session)


def _doc(message: OutboxMessage, seq: int, now: datetime) -> dict[str, Any]:
    return {
        "_id": message.id,
        "key": message.key,
        "seq": seq,
        "topic": message.topic,
        "value": message.value,
        "headers": [[name, value] for name, value in message.headers],
        "trace_carrier": dict(message.trace_carrier),
        "created_at": now,
        "sent_at": None,
    }


async def outbox_pending(db: Db, limit: int) -> list[OutboxRecord]:
    """For the keys with the oldest unsent messages, a prefix of each key's unsent messages."""
    unsent: dict[str, Any] = {"sent_at": None}
    session = db.client.start_session()
    try:
        with mapped_errors():
            # One snapshot for both reads: if a key's message n+1 is in it, so is n (committed
            # before n+1 could take its number), so each key's list is a prefix of its sequence.
            await session.start_transaction(
                read_concern=ReadConcern("snapshot"), read_preference=ReadPreference.PRIMARY
            )
            heads = db[OUTBOX].find(unsent, {"key": 1}, session=session)
            oldest = await heads.sort([("created_at", ASCENDING)]).limit(limit).to_list()
            keys = list(dict.fromkeys(str(doc["key"]) for doc in oldest))
            docs: list[dict[str, Any]] = []
            if keys:
                found = db[OUTBOX].find(unsent | {"key": {"$in": keys}}, session=session)
                order = [("key", ASCENDING), ("seq", ASCENDING)]
                docs = await found.sort(order).limit(limit).to_list()
    finally:
        with suppress(PyMongoError):
            if session.in_transaction:
                await session.abort_transaction()  # read only: nothing to commit
            await session.end_session()
    rank = {key: position for position, key in enumerate(keys)}
    # A stable sort keeps each key's messages in sequence; keys come oldest first.
    return [outbox_record(doc) for doc in sorted(docs, key=lambda doc: rank[doc["key"]])]


async def outbox_mark_sent(db: Db, records: Sequence[OutboxRecord]) -> None:
    """Mark the given records (as `outbox_pending` returned them) published."""
    with mapped_errors():
        await db[OUTBOX].update_many(
            {"_id": {"$in": [r.message.id for r in records]}, "sent_at": None},
            {"$set": {"sent_at": utc_now()}},
        )


async def outbox_backlog(db: Db) -> int:
    """How many outbox messages wait to be published."""
    with mapped_errors():
        return await db[OUTBOX].count_documents({"sent_at": None})


async def outbox_requeue(db: Db) -> int:
    """Mark every published message unsent again (each keeps its number in its key)."""
    with mapped_errors():
        result = await db[OUTBOX].update_many(
            {"sent_at": {"$ne": None}}, {"$set": {"sent_at": None}}
        )
    return int(result.modified_count)


async def outbox_trim(db: Db, before: datetime) -> dict[str, int]:
    """Delete the messages published before `before`; return how many per topic."""
    old = {"sent_at": {"$ne": None, "$lt": before}}
    counts: dict[str, int] = {}
    with mapped_errors():
        rows = await db[OUTBOX].aggregate(
            [{"$match": old}, {"$group": {"_id": "$topic", "n": {"$sum": 1}}}]
        )
        async for row in rows:
            counts[str(row["_id"])] = int(row["n"])
        if counts:
            await db[OUTBOX].delete_many(old)
    return counts
