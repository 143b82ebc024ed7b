"""embedspace.query: what a query refuses, and search by item id and label (the rest of its round
trips against brute force are in tests/index/test_index.py)."""

import copy

import numpy as np
import pandas as pd
import pytest

from embedspace import InputError, query
from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index

ROWS = [("dog", "en", "animal"), ("perro", "es", "animal"), ("cat", "en", "animal"), ("gato", "es", "animal"),
        ("car", "en", "thing"), ("coche", "es", "thing"), ("house", "en", "thing"), ("casa", "es", "thing")]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    folder = tmp_path_factory.mktemp("query")
    pd.DataFrame(ROWS, columns=["text", "lang", "label"]).to_csv(folder / "words.csv", index=False)
    build_index("small", [folder / "words.csv"], space="use-m3", index_dir=folder,
                read_options=ReadOptions(lang_column="lang", label_column="label"))
    index = Index.open("small", folder)
    return index, index.load_space()


@pytest.mark.parametrize("vector, fragment", [
    (np.ones(3), "3 numbers; the index's space has 512"),
    (np.ones((2, 512)), "one row of 512 numbers"),
    (np.zeros(512), "all zeros"),
    (np.full(512, np.nan), "finite"),
])
def test_a_vector_query_that_cannot_match_the_index_is_refused(small, vector, fragment):
    index, space = small
    with pytest.raises(InputError, match=fragment):
        query.search(index, space, vector=vector)


def test_search_by_item_id_leaves_the_item_out(small):
    index, space = small
    perro = int(index.items.loc[index.items["text"] == "perro", "id"].iloc[0])
    found = query.search(index, space, item_id=perro, k=3)
    assert found["query"] == {"id": perro}
    ids = [r["id"] for r in found["results"]]
    assert perro not in ids and len(ids) == 3
    assert found["results"][0]["text"] == "dog"  # its translation is its nearest other item
    by_vector = query.search(index, space, vector=index.vectors_f32([index.row_of_id[perro]])[0], k=4)
    assert [r["id"] for r in by_vector["results"] if r["id"] != perro][:3] == ids
    with pytest.raises(InputError, match="no item with id 999"):
        query.search(index, space, item_id=999)


def test_search_by_label(small):
    index, space = small
    found = query.search(index, space, "perro", k=8, label="thing")
    assert {r["text"] for r in found["results"]} == {"car", "coche", "house", "casa"}
    assert query.search_many(index, space, texts=["dog", "auto"], k=2, label="animal", lang="es")[1]["results"][0][
        "label"] == "animal"


def test_search_needs_exactly_one_kind_of_query(small):
    index, space = small
    with pytest.raises(InputError, match="exactly one of"):
        query.search_many(index, space, texts=["dog"], ids=[0])
    with pytest.raises(InputError, match="exactly one of"):
        query.search_many(index, space)


@pytest.mark.parametrize("row_tuples_max", [0, 200_000])
def test_result_rows_taken_in_bulk_are_the_rows_one_by_one(small, monkeypatch, row_tuples_max):
    """The batch's gather (from the tuples a small index keeps, or from its columns) gives what
    Index.result_row gives, types and missing values included."""
    index, space = small
    monkeypatch.setattr(query, "ROW_TUPLES_MAX", row_tuples_max)
    monkeypatch.setitem(index.__dict__, "_row_tuples", {})  # made anew under this limit
    assert (query._row_tuples(index) is None) == (row_tuples_max < len(index))
    rows = np.arange(len(index))[::-1]
    scores = np.linspace(1, 0, len(rows))
    batch = query._batch_results(index, [(rows[:3], scores[:3], scores[:3]), (rows[3:], scores[3:], scores[3:])])
    flat = [*batch[0], *batch[1]]
    for got, row in zip(flat, rows):
        want = index.result_row(row)
        assert {name: got[name] for name in want} == want
        assert [type(got[name]) for name in want] == [type(v) for v in want.values()]
    assert [r["rank"] for r in batch[1]] == list(range(1, len(rows) - 2))
    found = query.search_many(index, space, texts=["dog", "coche"], k=3)
    assert [[r["text"] for r in f["results"]] for f in found] == [
        [index.result_row(index.row_of_id[r["id"]])["text"] for r in f["results"]] for f in found]


def test_the_result_table_is_one_chunk_a_column_so_a_take_stays_cheap():
    """Pandas reads a big items.parquet as chunked Arrow columns (8 chunks at 1M items); take() over
    them cost 2.3 ms a query there, 0.02 ms over one chunk. The result table must be combined."""
    import types

    import pandas as pd
    import pyarrow as pa

    def chunked(values):
        return pd.array(pa.chunked_array([values[:2], values[2:4], values[4:]]), dtype=pd.ArrowDtype(pa.large_string()))

    items = pd.DataFrame({"id": np.arange(6), "kind": chunked(["text"] * 6), "text": chunked(list("abcdef")),
                          "lang": chunked(["en"] * 6), "label": chunked([None] * 6), "concept": chunked([None] * 6),
                          "path": chunked([None] * 6)})
    assert items["text"].array._pa_array.num_chunks == 3  # chunked, as read from a large file
    table = query._result_table(types.SimpleNamespace(items=items))
    assert all(column.num_chunks == 1 for column in table.columns)
    assert table.take([5, 0]).column("text").to_pylist() == ["f", "a"]


def test_a_remembered_filter_mask_is_not_changed_by_a_query_that_excludes_items(small):
    index, space = small
    spanish = query._allowed(index, lang="es")
    assert not spanish.flags.writeable  # remembered per index: nobody may change it in place
    without_first = query._allowed(index, lang="es", exclude_rows=[int(np.flatnonzero(spanish)[0])])
    assert without_first.sum() == spanish.sum() - 1
    assert query._allowed(index, lang="es").sum() == spanish.sum() == (index.items["lang"] == "es").sum()


def test_result_rows_of_a_column_arrow_cannot_hold_come_from_pandas(small):
    index, _ = small
    odd = copy.copy(index)
    odd.__dict__.pop("_result_table", None)
    odd.__dict__.pop("_result_columns", None)
    odd.__dict__.pop("_row_tuples", None)
    odd.items = index.items.astype({"concept": object})
    odd.items["concept"] = [1, "two", 3.5, None, float("nan"), b"six", 7, "eight"]  # mixed Python objects
    rows = np.arange(len(odd))
    found = query._batch_results(odd, [(rows, np.zeros(len(rows)), np.zeros(len(rows)))])[0]
    assert [r["concept"] for r in found] == [odd.result_row(r)["concept"] for r in rows]
    assert [r["concept"] for r in found][3:5] == [None, None]
    assert query._result_table(odd) is None  # the fallback was taken


@pytest.mark.parametrize("dictionary_max", [0, 100_000])
def test_result_columns_cut_from_arrow_buffers_equal_arrow_values(monkeypatch, dictionary_max):
    """Strings read from the buffers (offsets, bytes, validity bits) or through a list of a column's
    distinct values (dictionary_max) give what Arrow gives: missing values, non-ASCII text, a
    sliced array (a non-zero offset), both string widths, integers, and a column of nulls only
    (Arrow's null type: pandas gives it for a column no item fills)."""
    import pyarrow as pa

    monkeypatch.setattr(query, "DICTIONARY_MAX", dictionary_max)
    values = ["perro", None, "犬", "", "café", None, "dog"] * 5  # repeats: a dictionary unless dictionary_max is 0
    rows = np.array([34, 0, 1, 2, 9, 17, 31, 3])
    for array in (pa.array(values, pa.large_string()), pa.array(values, pa.string()),
                  pa.array(["x", *values], pa.large_string()).slice(1), pa.array(range(35), pa.int64()),
                  pa.array([None] * 35), pa.array([f"word {i}" for i in range(35)])):  # the last: no repeats
        assert query._column_reader(array)(rows) == array.take(pa.array(rows)).to_pylist()


def test_fusing_by_rank_keeps_reciprocal_rank_fusions_order_ties_included():
    """fuse_by_rank must order as reciprocal rank fusion with the cosine as tie-break (the form it
    replaced: a lexsort of fused scores, then cosines, stable in list order)."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        lists = []
        for _ in range(int(rng.integers(1, 4))):
            n = int(rng.integers(0, 7))
            cosines = np.sort(rng.choice([0.1, 0.2, 0.3, 0.5], n).astype(np.float32))[::-1]  # ties on purpose
            lists.append((rng.integers(0, 1000, n).astype(np.int64), cosines))
        k = int(rng.integers(1, 12))
        rows = np.concatenate([r for r, _ in lists])
        cosines = np.concatenate([c for _, c in lists])
        fused = np.concatenate([1.0 / (query.RRF_K + 1 + np.arange(len(r))) for r, _ in lists])
        order = np.lexsort((-cosines, -fused))[:k]
        got_rows, got_cosines = query.fuse_by_rank(lists, k)
        assert got_rows.tolist() == rows[order].tolist() and got_cosines.tolist() == cosines[order].tolist()
        assert got_rows.dtype == np.int64 and got_cosines.dtype == np.float32
