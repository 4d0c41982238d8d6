"""Store contract, documents: every backend must pass these unchanged."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from alamal_runtime.store import DuplicateError, Record, StaleWriteError, Store

FAMILIES = "families"


async def _seed(store: Store, docs: dict[str, dict[str, object]]) -> None:
    async with store.transaction() as uow:
        for doc_id, data in docs.items():
            await uow.insert(FAMILIES, doc_id, data)


async def test_insert_then_get_round_trips_the_document(store: Store) -> None:
    data: dict[str, object] = {
        "wijk": "Overvecht",
        "members": [{"role": "mother", "age_band": "30-39"}, {"role": "child"}],
        "counts": {"children": 3},
        "score": 1.5,
        "active": True,
        "note": None,
        "name": "Fatima Zahra El Idrissi",
    }
    async with store.transaction() as uow:
        inserted = await uow.insert(FAMILIES, "f-1", data)
    assert inserted == Record(id="f-1", version=1, data=data)
    assert await store.get(FAMILIES, "f-1") == inserted
    assert await store.get(FAMILIES, "missing") is None


async def test_insert_of_an_existing_id_raises_duplicate_and_the_unit_stays_usable(
    store: Store,
) -> None:
    await _seed(store, {"f-1": {"wijk": "Zuilen"}})
    async with store.transaction() as uow:
        with pytest.raises(DuplicateError):
            await uow.insert(FAMILIES, "f-1", {"wijk": "Lombok"})
        await uow.insert(FAMILIES, "f-2", {"wijk": "Lombok"})
    first = await store.get(FAMILIES, "f-1")
    assert first is not None
    assert first.data == {"wijk": "Zuilen"}
    assert await store.get(FAMILIES, "f-2") is not None


async def test_the_same_id_may_exist_in_two_collections(store: Store) -> None:
    async with store.transaction() as uow:
        await uow.insert(FAMILIES, "x-1", {"kind": "family"})
        await uow.insert("cases", "x-1", {"kind": "case"})
    case = await store.get("cases", "x-1")
    assert case is not None
    assert case.data == {"kind": "case"}


async def test_find_filters_on_equality_of_top_level_fields(store: Store) -> None:
    await _seed(
        store,
        {
            "a": {"wijk": "Overvecht", "size": 4},
            "b": {"wijk": "Overvecht", "size": 2},
            "c": {"wijk": "Zuilen", "size": 4},
        },
    )
    found = await store.find(FAMILIES, {"wijk": "Overvecht"}, order_by="id")
    assert [r.id for r in found] == ["a", "b"]
    found = await store.find(FAMILIES, {"wijk": "Overvecht", "size": 4})
    assert [r.id for r in found] == ["a"]
    assert await store.find(FAMILIES, {"wijk": "Lombok"}) == []
    assert [r.id for r in await store.find(FAMILIES, order_by="id")] == ["a", "b", "c"]
    assert await store.find("empty-collection") == []


async def test_find_none_matches_null_and_missing_fields(store: Store) -> None:
    await _seed(
        store, {"a": {"open_case_id": None}, "b": {"open_case_id": "c-1"}, "c": {"other": 1}}
    )
    found = await store.find(FAMILIES, {"open_case_id": None}, order_by="id")
    assert [r.id for r in found] == ["a", "c"]


async def test_find_booleans_match_booleans_only(store: Store) -> None:
    await _seed(
        store,
        {
            "t": {"flag": True},
            "f": {"flag": False},
            "one": {"flag": 1},
            "zero": {"flag": 0},
            "text": {"flag": "true"},
        },
    )
    assert [r.id for r in await store.find(FAMILIES, {"flag": True})] == ["t"]
    assert [r.id for r in await store.find(FAMILIES, {"flag": False})] == ["f"]
    assert [r.id for r in await store.find(FAMILIES, {"flag": 1})] == ["one"]
    assert [r.id for r in await store.find(FAMILIES, {"flag": 0})] == ["zero"]
    assert [r.id for r in await store.find(FAMILIES, {"flag": "true"})] == ["text"]


async def test_find_orders_by_a_field_or_the_id_and_limits(store: Store) -> None:
    await _seed(
        store,
        {
            "c": {"opened_at": "2025-01-03", "n": 10},
            "a": {"opened_at": "2025-01-01", "n": 2},
            "b": {"opened_at": "2025-01-02", "n": 2},
            "d": {"opened_at": "2025-01-02", "n": 1.5},
        },
    )
    by_date = await store.find(FAMILIES, order_by="opened_at")
    assert [r.id for r in by_date] == ["a", "b", "d", "c"]  # ties broken by id
    latest = await store.find(FAMILIES, order_by="opened_at", descending=True, limit=2)
    assert [r.id for r in latest] == ["c", "d"]
    by_number = await store.find(FAMILIES, order_by="n")
    assert [r.id for r in by_number] == ["d", "a", "b", "c"]
    by_id = await store.find(FAMILIES, order_by="id", descending=True, limit=3)
    assert [r.id for r in by_id] == ["d", "c", "b"]


async def test_find_after_pages_on_a_string_key_in_code_point_order(store: Store) -> None:
    """`after=(field, value)`: keyset paging; only strings past the value, in both backends'
    common order (code points: "Z" < "a" < "é"), combined with equality filters."""
    await _seed(
        store,
        {
            "p1": {"partner": "x", "key": "2026-01-01T10:00:00|b"},
            "p2": {"partner": "x", "key": "2026-01-01T10:00:00|a"},
            "p3": {"partner": "x", "key": "2026-01-02T09:00:00|c"},
            "p4": {"partner": "y", "key": "2026-01-03T09:00:00|d"},
            "p5": {"partner": "x", "key": 20260104},
            "p6": {"partner": "x"},
            "u1": {"partner": "u", "key": "Zeist"},
            "u2": {"partner": "u", "key": "amsterdam"},
            "u3": {"partner": "u", "key": "été"},
        },
    )
    x = {"partner": "x"}
    first = await store.find(FAMILIES, x, order_by="key", limit=2, after=("key", ""))
    assert [r.id for r in first] == ["p2", "p1"]
    rest = await store.find(FAMILIES, x, order_by="key", after=("key", first[-1].data["key"]))
    assert [r.id for r in rest] == ["p3"]  # numbers and missing fields are never "after"
    since = await store.find(FAMILIES, x, order_by="key", after=("key", "2026-01-02"))
    assert [r.id for r in since] == ["p3"]
    assert (
        await store.find(FAMILIES, x, order_by="key", after=("key", "2026-01-02T09:00:00|c")) == []
    )
    words = await store.find(FAMILIES, {"partner": "u"}, order_by="key", after=("key", "Z"))
    assert [r.id for r in words] == ["u1", "u2", "u3"]
    assert [r.id for r in await store.find(FAMILIES, after=("key", "amsterdam"))] == ["u3"]
    with pytest.raises(TypeError):
        await store.find(FAMILIES, after=("key", 3))  # type: ignore[arg-type]


async def test_find_after_the_id_pages_by_document_id(store: Store) -> None:
    await _seed(store, {k: {"wijk": "Zuilen" if k != "c" else "Lombok"} for k in "abcde"})
    assert [r.id for r in await store.find(FAMILIES, after=("id", "b"))] == ["c", "d", "e"]
    assert [r.id for r in await store.find(FAMILIES, after=("id", "b"), limit=1)] == ["c"]
    zuilen = await store.find(FAMILIES, {"wijk": "Zuilen"}, order_by="id", after=("id", "a"))
    assert [r.id for r in zuilen] == ["b", "d", "e"]


async def test_scan_reads_every_matching_document_page_by_page(store: Store) -> None:
    ids = [f"f-{i:02}" for i in range(7)]
    await _seed(store, {i: {"wijk": "Zuilen" if n % 3 else "Lombok"} for n, i in enumerate(ids)})
    assert [r.id async for r in store.scan(FAMILIES, page_size=3)] == ids  # 3 + 3 + 1
    assert [r.id async for r in store.scan(FAMILIES, page_size=7)] == ids  # a last empty page
    lombok = [r.id async for r in store.scan(FAMILIES, {"wijk": "Lombok"}, page_size=2)]
    assert lombok == ["f-00", "f-03", "f-06"]
    assert [r async for r in store.scan("empty")] == []


async def test_a_limit_beyond_64_bits_of_documents_means_all_of_them(store: Store) -> None:
    await _seed(store, {"a": {"n": 1}, "b": {"n": 2}})
    assert [r.id for r in await store.find(FAMILIES, limit=2**62)] == ["a", "b"]
    assert [r.id for r in await store.find(FAMILIES, limit=2**31)] == ["a", "b"]


async def test_ensure_index_is_idempotent_and_find_still_works(store: Store) -> None:
    await store.ensure_index(FAMILIES, ["wijk"])
    await store.ensure_index(FAMILIES, ["wijk"])
    await store.ensure_index(FAMILIES, ["wijk", "trusted_person_id"])
    await _seed(store, {"a": {"wijk": "Lombok", "trusted_person_id": "tp-1"}})
    found = await store.find(FAMILIES, {"wijk": "Lombok", "trusted_person_id": "tp-1"})
    assert [r.id for r in found] == ["a"]


async def test_replace_with_the_expected_version_bumps_the_version(store: Store) -> None:
    await _seed(store, {"f-1": {"wijk": "Zuilen", "size": 3}})
    async with store.transaction() as uow:
        replaced = await uow.replace(FAMILIES, "f-1", {"wijk": "Lombok"}, expected_version=1)
    assert replaced == Record(id="f-1", version=2, data={"wijk": "Lombok"})
    assert await store.get(FAMILIES, "f-1") == replaced
    async with store.transaction() as uow:
        again = await uow.replace(FAMILIES, "f-1", {"wijk": "Hoograven"}, expected_version=2)
    assert again.version == 3


async def test_replace_with_a_stale_version_raises_and_changes_nothing(store: Store) -> None:
    await _seed(store, {"f-1": {"wijk": "Zuilen"}})
    async with store.transaction() as uow:
        await uow.replace(FAMILIES, "f-1", {"wijk": "Lombok"}, expected_version=1)
    with pytest.raises(StaleWriteError):
        async with store.transaction() as uow:
            await uow.replace(FAMILIES, "f-1", {"wijk": "Overvecht"}, expected_version=1)
    current = await store.get(FAMILIES, "f-1")
    assert current == Record(id="f-1", version=2, data={"wijk": "Lombok"})


async def test_replace_of_a_missing_document_raises_stale(store: Store) -> None:
    with pytest.raises(StaleWriteError):
        async with store.transaction() as uow:
            await uow.replace(FAMILIES, "missing", {"wijk": "Lombok"}, expected_version=1)
    assert await store.get(FAMILIES, "missing") is None


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda s: s.find("_outbox"), id="reserved-collection"),
        pytest.param(lambda s: s.find("fam ilies"), id="space-in-collection"),
        pytest.param(lambda s: s.find(FAMILIES, {"a.b": 1}), id="dotted-field"),
        pytest.param(lambda s: s.find(FAMILIES, {"x') OR 1=1 --": 1}), id="injection"),
        pytest.param(lambda s: s.find(FAMILIES, order_by="$where"), id="bad-order-field"),
        pytest.param(lambda s: s.find(FAMILIES, limit=0), id="zero-limit"),
        pytest.param(lambda s: s.ensure_index(FAMILIES, []), id="index-without-fields"),
    ],
)
async def test_invalid_names_and_arguments_are_refused(
    store: Store, call: Callable[[Store], Awaitable[object]]
) -> None:
    with pytest.raises(ValueError, match=r"invalid|limit|at least"):
        await call(store)


async def test_reserved_document_keys_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="reserved"):
        async with store.transaction() as uow:
            await uow.insert(FAMILIES, "f-1", {"_id": "other", "wijk": "Zuilen"})
    assert await store.get(FAMILIES, "f-1") is None


async def test_data_survives_closing_and_reopening_the_store(
    store_factory: Callable[[], Store],
) -> None:
    first = store_factory()
    await first.open()
    async with first.transaction() as uow:
        await uow.insert(FAMILIES, "f-1", {"wijk": "Kanaleneiland"})
    await first.close()
    second = store_factory()
    await second.open()
    try:
        assert await second.get(FAMILIES, "f-1") == Record(
            id="f-1", version=1, data={"wijk": "Kanaleneiland"}
        )
    finally:
        await second.close()


async def test_ping_answers_while_open(store: Store) -> None:
    await store.ping()


async def test_delete_all_empties_one_collection_only_and_rolls_back_with_its_unit(
    store: Store,
) -> None:
    await _seed(store, {"f-1": {"wijk": "Zuilen"}, "f-2": {"wijk": "Lombok"}})
    async with store.transaction() as uow:
        await uow.insert("cases", "c-1", {"kind": "case"})
    seen_inside: list[object] = []

    async def delete_then_fail() -> None:
        async with store.transaction() as uow:
            seen_inside.append(await uow.delete_all(FAMILIES))
            seen_inside.append(await uow.get(FAMILIES, "f-1"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await delete_then_fail()
    assert seen_inside == [2, None]
    assert len(await store.find(FAMILIES)) == 2
    async with store.transaction() as uow:
        assert await uow.delete_all(FAMILIES) == 2
        await uow.insert(FAMILIES, "f-1", {"wijk": "West"})
    assert [r.data for r in await store.find(FAMILIES)] == [{"wijk": "West"}]
    assert await store.get("cases", "c-1") is not None
    async with store.transaction() as uow:
        assert await uow.delete_all("never-written") == 0
