"""Pick a store backend by the URL's scheme."""

from __future__ import annotations

from alamal_runtime.store.base import Store
from alamal_runtime.store.sqlite import MEMORY, SqliteStore

_SQLITE_PREFIX = "sqlite:///"
_SQLITE_MEMORY_URLS = frozenset({"sqlite://:memory:", "sqlite:///:memory:", "sqlite://"})


def sqlite_path_from_url(url: str) -> str:
    """The file of a `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` URL."""
    if url in _SQLITE_MEMORY_URLS:
        return MEMORY
    if not url.startswith(_SQLITE_PREFIX) or len(url) == len(_SQLITE_PREFIX):
        raise ValueError(
            "SQLite store URLs look like sqlite:///relative/path.db, sqlite:////abs/path.db"
            " or sqlite://:memory:"
        )
    path = url.removeprefix(_SQLITE_PREFIX)
    if "?" in path or "#" in path:
        raise ValueError("SQLite store URLs take no query string: use sqlite:///path/to/file.db")
    return path


def create_store(url: str, *, default_database: str) -> Store:
    """A store for `url`: `sqlite:` -> SqliteStore, `mongodb:` / `mongodb+srv:` -> MongoStore."""
    scheme, sep, _ = url.partition(":")
    scheme = scheme.lower() if sep else ""
    if scheme == "sqlite":
        return SqliteStore(sqlite_path_from_url(url))
    if scheme in ("mongodb", "mongodb+srv"):
        # PyMongo (~6 MiB resident) only for a service that uses it.
        from alamal_runtime.store.mongo import MongoStore, database_from_url

        return MongoStore(url, database_from_url(url) or default_database)
    shown = f"{scheme}:" if scheme else "no scheme"
    raise ValueError(
        f"unsupported store URL ({shown}): use sqlite:///path/to/file.db or"
        " mongodb://host:port/database"
    )
