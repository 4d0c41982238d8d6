"""Choosing a backend from the store URL."""

from __future__ import annotations

import pytest

from alamal_runtime.store import create_store
from alamal_runtime.store.mongo import MongoStore
from alamal_runtime.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///data/intake.sqlite3", "data/intake.sqlite3"),
        ("sqlite:////var/lib/alamal/intake.sqlite3", "/var/lib/alamal/intake.sqlite3"),
        ("sqlite://:memory:", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_urls_give_a_sqlite_store(url: str, path: str) -> None:
    store = create_store(url, default_database="alamal_intake")
    assert isinstance(store, SqliteStore)
    assert store.path == path


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("mongodb://localhost:27017", "alamal_intake"),
        ("mongodb://localhost:27017/", "alamal_intake"),
        ("mongodb://localhost:27017/?replicaSet=rs0", "alamal_intake"),
        ("mongodb://user:secret@h1:27017,h2:27017/intake_db?replicaSet=rs0", "intake_db"),
        ("mongodb+srv://user:secret@cluster.example.org/intake_db", "intake_db"),
    ],
)
def test_mongodb_urls_give_a_mongo_store(url: str, database: str) -> None:
    store = create_store(url, default_database="alamal_intake")
    assert isinstance(store, MongoStore)
    assert store.database == database


@pytest.mark.parametrize(
    "url",
    [
        "postgres://user:secret@db/alamal",
        "/var/lib/alamal/intake.sqlite3",
        "sqlite:relative.db",
        "sqlite:///",
        "sqlite:///data.db?mode=ro",
    ],
)
def test_other_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as caught:
        create_store(url, default_database="alamal_intake")
    assert "secret" not in str(caught.value)


def test_a_mongo_store_needs_a_database_name() -> None:
    with pytest.raises(ValueError, match="database"):
        MongoStore("mongodb://localhost:27017/")
