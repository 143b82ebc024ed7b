"""Partitioned indexes: N FAISS files by item id, memory-mapped, searched in parallel, with the
same results as one index."""

import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import assert_same_ranking, assert_same_results

from embedspace import load_space, query
from embedspace.errors import IndexStateError, InputError
from embedspace.index.build import build_index, remove_items
from embedspace.index.faiss_index import (
    PartitionedIndex,
    build_partitions,
    combine_partitions,
    faiss_search,
    partition_bounds,
    plan_index,
    recall_at_k,
    set_search_param,
)
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index, describe_index
from embedspace.vectors import exact_neighbours

# The same vectors searched as one index or as shards, by FAISS or numpy: each sums an item's score
# in its own order, so scores differ in float32 rounding (here up to 2.8e-7 from float64), and
# these words have near-ties ("luzon": ranks 8 and 9 are 1.8e-7 apart) that another CPU may swap.
SUM_ORDER_ATOL = 1e-6


@pytest.fixture(scope="module")
def words(tmp_path_factory):
    """12,000 GloVe words (above the exact-search threshold, so auto picks HNSW) and 60 query words."""
    space = load_space("glove-6b-50d")
    vocabulary = [w for w in space.words[:30_000] if re.fullmatch("[a-z]+", w)]
    path = tmp_path_factory.mktemp("data") / "words.txt"
    path.write_text("\n".join(vocabulary[:12_000]))
    return path, vocabulary[20_000:20_060]


def _build(root, name, path, **kwargs):
    return build_index(name, [path], space="glove-6b-50d", read_options=ReadOptions(lang="en"), index_dir=root,
                       chunk_size=4096, **kwargs)


@pytest.fixture(scope="module")
def flat_pair(words, tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    _build(root, "one", words[0], index_type="flat")
    _build(root, "four", words[0], index_type="flat", partitions=4)
    return Index.open("one", root), Index.open("four", root)


def test_partitioned_flat_returns_the_same_top_10(flat_pair, words):
    one, four = flat_pair
    assert isinstance(four.faiss, PartitionedIndex) and len(four.faiss.parts) == 4
    assert four.faiss.ntotal == one.faiss.ntotal == 12_000
    space = one.load_space()
    a = query.search_many(one, space, texts=words[1], k=10)
    b = query.search_many(four, space, texts=words[1], k=10)
    assert_same_results(a, b, SUM_ORDER_ATOL + 1e-6)  # (search_many rounds scores to 6 decimals)
    # and FAISS itself: merged shard results are the exact top-10 with the same scores
    queries = space.embed_texts(words[1])
    scores_one, rows_one = one.faiss.search(queries, 10)
    scores_four, rows_four = four.faiss.search(queries, 10)
    vectors = np.asarray(four.vectors, np.float32)
    exact = exact_neighbours(queries, vectors, 10)[0]
    exact_scores = np.einsum("qd,qkd->qk", queries, vectors[exact])
    for i, word in enumerate(words[1]):
        assert_same_ranking(rows_one[i], scores_one[i], rows_four[i], scores_four[i], SUM_ORDER_ATOL, word)
        assert_same_ranking(rows_four[i], scores_four[i], exact[i], exact_scores[i], SUM_ORDER_ATOL, word)


def test_partitions_split_by_item_id_and_are_checksummed(flat_pair):
    _, four = flat_pair
    parts = four.manifest["index"]["partitions"]
    assert [p["file"] for p in parts] == [f"index-{i:03d}.faiss" for i in range(4)]
    assert [p["rows"] for p in parts] == [[0, 3000], [3000, 6000], [6000, 9000], [9000, 12000]]
    assert parts[1]["ids"] == [3000, 5999] and parts[3]["ids"] == [9000, 11999]
    assert set(four.manifest["files"]) == {p["file"] for p in parts} | {"items.parquet", "vectors.npy", "skipped.jsonl"}
    assert not (four.folder / "index.faiss").exists()
    text = describe_index(four)
    assert "partitions: 4 FAISS files by item id, memory-mapped" in text and "index-003.faiss: ids 9,000-11,999" in text


def test_a_changed_partition_is_refused(words, tmp_path):
    _build(tmp_path, "w", words[0], index_type="flat", partitions=2)
    part = Index.open("w", tmp_path).folder / "index-001.faiss"
    data = bytearray(part.read_bytes())
    data[-1] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(IndexStateError, match="index-001.faiss does not match its checksum"):
        Index.open("w", tmp_path)


def test_partitioned_hnsw_is_tuned_on_every_shard(words, tmp_path):
    import faiss

    report = _build(tmp_path, "w", words[0], partitions=3, index_type="hnsw")
    index = Index.open("w", tmp_path)
    assert index.kind == "hnsw" and report.index["tuning"]["recall_at_10"] >= 0.95
    ef = index.manifest["index"]["search_params"]["efSearch"]
    assert [faiss.downcast_index(part).hnsw.efSearch for part in index.faiss.parts] == [ef] * 3
    space = index.load_space()
    queries = space.embed_texts(words[1], role="query")
    found = np.array([query.nearest(index, q, 10)[0] for q in queries])
    assert recall_at_k(found, exact_neighbours(queries, np.asarray(index.vectors, np.float32), 10)[0]) >= 0.9


def test_partitioned_ivf_fastscan_is_built_tuned_and_described(words, tmp_path):
    """The automatic choice above 10,000 items (asked for here: auto may pick exact search when a
    busy machine times it faster), in two partitions sharing one training."""
    report = _build(tmp_path, "w", words[0], partitions=2, index_type="ivf-fastscan")
    index = Index.open("w", tmp_path)
    assert index.kind == "ivf-fastscan" and report.index["tuning"]["recall_at_10"] >= 0.95
    assert "recall_at_10_shaped" in report.index["tuning"]["tried"][0]
    space = index.load_space()
    queries = space.embed_texts(words[1], role="query")
    found = np.array([query.nearest(index, q, 10)[0] for q in queries])
    assert recall_at_k(found, exact_neighbours(queries, np.asarray(index.vectors, np.float32), 10)[0]) >= 0.9
    text = describe_index(index)
    assert "re-ranking vectors (float16, in FAISS)" in text and "fast-scan codes and ids" in text


def test_partitioned_ivf_pq_shares_one_codebook_and_reranks(words, glove_space):
    """At the FAISS level: build_index may replace IVF-PQ by exact search when that is faster
    (it depends on timings), so the partitions are built here directly."""
    import faiss

    vectors = glove_space.embed_texts(words[0].read_text().splitlines()[:6000])
    plan = plan_index(len(vectors), vectors.shape[1], "ivf-pq")
    parts = build_partitions(plan, vectors, 2)
    first, second = (faiss.downcast_index(p) for p in parts)
    centroids = [faiss.rev_swig_ptr(faiss.downcast_index(p.quantizer).get_xb(), p.nlist * p.d) for p in (first, second)]
    np.testing.assert_array_equal(centroids[0], centroids[1])
    assert (first.ntotal, second.ntotal) == (3000, 3000)
    shards = combine_partitions(parts)
    set_search_param(shards, "nprobe", first.nlist)  # every list: no tuning luck
    assert [faiss.downcast_index(p).nprobe for p in shards.parts] == [first.nlist] * 2
    queries = glove_space.embed_texts(words[1])
    _, rows = faiss_search(shards, queries, 10, "ivf-pq", vectors)  # merged, then re-ranked exactly
    assert recall_at_k(rows, exact_neighbours(queries, vectors, 10)[0]) >= 0.95
    _, unranked = shards.search(queries, 10)
    truth = exact_neighbours(queries, vectors, 10)[0]
    assert recall_at_k(rows, truth) > recall_at_k(unranked, truth)


def test_add_and_remove_keep_the_partitions(words, tmp_path):
    path, extra = words
    small = tmp_path / "small.txt"
    small.write_text("\n".join(path.read_text().splitlines()[:900]))
    more = tmp_path / "more.txt"
    more.write_text("\n".join(extra))
    _build(tmp_path, "w", small, partitions=3)
    _build(tmp_path, "w", more, add=True)
    index = Index.open("w", tmp_path)
    assert len(index.manifest["index"]["partitions"]) == 3 and index.faiss.ntotal == 960
    assert index.manifest["index"]["partitions"][2]["ids"] == [640, 959]
    remove_items("w", ids=list(range(0, 300)), index_dir=tmp_path)
    index = Index.open("w", tmp_path)
    assert [p["ids"] for p in index.manifest["index"]["partitions"]] == [[300, 519], [520, 739], [740, 959]]
    result = query.search(index, index.load_space(), text=extra[0], k=1)
    assert result["results"][0]["text"] == extra[0]


def test_partition_count_is_checked_before_embedding(words, tmp_path):
    with pytest.raises(InputError, match="--partitions 0"):
        _build(tmp_path, "w", words[0], partitions=0)
    assert not (tmp_path / ".w.build").exists()
    assert partition_bounds(10, 3) == [(0, 3), (3, 7), (7, 10)]


MMAP_PROBE = """
import sys, faiss, numpy as np
from embedspace.index.faiss_index import read_mmapped
def anon():
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('RssAnon')) * 1024
path, how = sys.argv[1], sys.argv[2]
before = anon()
index = read_mmapped(path) if how == 'mmap' else faiss.read_index(path)
index.search(np.ones((1, index.d), np.float32), 5)  # touches every vector
print(anon() - before)
"""


@pytest.mark.parametrize("factory, count", [("Flat", 100_000), ("HNSW16,Flat", 60_000), ("IVF64,Flat", 100_000)])
def test_partitions_are_memory_mapped(tmp_path, factory, count):
    """Reading a partition adds (almost) nothing to the process's own memory: its pages are the file's.
    (IVF-PQ lists are read the same way as these IVF,Flat ones, which are faster to train.)"""
    import faiss

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((count, 64)).astype(np.float32)
    index = faiss.index_factory(64, factory, faiss.METRIC_INNER_PRODUCT)
    index.train(vectors[:10_000])
    index.add(vectors)
    path = tmp_path / "part.faiss"
    faiss.write_index(index, str(path))
    size = path.stat().st_size

    def grown(how):
        return int(subprocess.run([sys.executable, "-c", MMAP_PROBE, str(path), how], capture_output=True, text=True,
                                  check=True).stdout)

    assert grown("read") > 0.8 * size  # a plain read copies the file into memory
    assert grown("mmap") < 0.2 * size
