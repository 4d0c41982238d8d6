"""What the services asked their MongoDB databases, read back from the server's profiler
(`profile: 2`, on mongoeco and on MongoDB alike), and whether an index serves each query.

mongoeco's in-memory engine scans whatever indexes exist, so there an index is only shown to
exist for every query shape (filter fields, then sort fields); on a real MongoDB the profiler's
`planSummary` also shows whether the server used one (no COLLSCAN).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pymongo import AsyncMongoClient


@dataclass(frozen=True, slots=True)
class Query:
    """One query shape: which fields it filters on by value, which it ranges over, its sort."""

    collection: str
    equal: frozenset[str]
    ranged: frozenset[str]
    sort: tuple[str, ...]
    plan: str | None = None
    """The server's plan summary when it reports one (real MongoDB), e.g. `IXSCAN { a: 1 }`."""

    def __str__(self) -> str:
        return (
            f"{self.collection}: filter={sorted(self.equal)} ranged={sorted(self.ranged)}"
            f" sort={list(self.sort)}"
        )


def _shape(collection: str, filter_: Mapping[str, Any], sort: Iterable[str]) -> Query:
    equal, ranged = set(), set()
    for name, value in filter_.items():
        if name.startswith("$"):
            continue
        operators = isinstance(value, Mapping) and any(str(k).startswith("$") for k in value)
        is_equal = not operators or set(value) <= {"$eq", "$in"}
        (equal if is_equal else ranged).add(name)
    return Query(collection, frozenset(equal), frozenset(ranged), tuple(sort))


def shapes_of(entry: Mapping[str, Any]) -> list[Query]:
    """The query shapes of one profiler entry (reads, counts, updates and deletes)."""
    command = entry.get("command")
    if not isinstance(command, Mapping):
        return []
    plan = entry.get("planSummary")
    found: list[Query] = []
    if "find" in command:
        sort = list((command.get("sort") or {}).keys())
        found.append(_shape(command["find"], command.get("filter") or {}, sort))
    elif "aggregate" in command:
        for stage in command.get("pipeline", [])[:1]:
            if "$match" in stage:
                found.append(_shape(command["aggregate"], stage["$match"], []))
    elif "count" in command:
        found.append(_shape(command["count"], command.get("query") or {}, []))
    elif "findAndModify" in command:
        found.append(_shape(command["findAndModify"], command.get("query") or {}, []))
    elif "update" in command and isinstance(command.get("updates"), list):
        found += [_shape(command["update"], u.get("q") or {}, []) for u in command["updates"]]
    elif "delete" in command and isinstance(command.get("deletes"), list):
        found += [_shape(command["delete"], d.get("q") or {}, []) for d in command["deletes"]]
    elif entry.get("op") in ("update", "remove") and "q" in command:  # MongoDB's own format
        found.append(_shape(str(entry.get("ns", ".")).split(".", 1)[1], command["q"], []))
    return [
        Query(q.collection, q.equal, q.ranged, q.sort, str(plan) if plan else None) for q in found
    ]


def served(query: Query, indexes: Iterable[tuple[str, ...]]) -> bool:
    """Whether an index starts with the query's equality fields (any order), then its sort."""
    if "_id" in query.equal:
        return True  # a point read or write: the _id index
    sort = list(query.sort)
    while sort and sort[0] in query.equal:  # sorting on a field fixed by the filter: free
        sort.pop(0)
    if sort and sort[-1] == "_id":
        sort.pop()  # the store's tie-break
    if not query.equal and not sort:
        return True  # by _id (the store's order) or every document of the collection
    for fields in indexes:
        width = len(query.equal)
        if set(fields[:width]) == query.equal and list(fields[width : width + len(sort)]) == sort:
            return True
    return False


async def profiled(store_url: str) -> tuple[list[Query], dict[str, list[tuple[str, ...]]]]:
    """The queries the profiler recorded in a store's database, and its collections' indexes."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store_url)
    try:
        db = client.get_default_database()
        entries = await db["system.profile"].find({}).to_list()
        queries = [
            q for e in entries for q in shapes_of(e) if not q.collection.startswith("system.")
        ]
        indexes: dict[str, list[tuple[str, ...]]] = {}
        for name in {q.collection for q in queries}:
            found = await db[name].index_information()
            indexes[name] = [tuple(field for field, _ in spec["key"]) for spec in found.values()]
        return queries, indexes
    finally:
        await client.close()


async def start_profiling(store_url: str) -> None:
    """Record every operation on a store's database in its `system.profile` collection."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store_url)
    try:
        await client.get_default_database().command({"profile": 2})
    finally:
        await client.close()
