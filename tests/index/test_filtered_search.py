"""Filtered search (a language, a kind, a label) against numpy brute force, on every index type,
one index or partitions: the filter goes inside FAISS, the answers stay exact."""

from types import SimpleNamespace

import numpy as np
import pytest

from embedspace import query
from embedspace.index.faiss_index import build_partitions, combine_partitions, filtered_search, plan_index

N, DIM, K = 3000, 32, 10


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(16)
    centres = rng.standard_normal((20, DIM))
    raw = centres[rng.integers(0, 20, N)] + 0.6 * rng.standard_normal((N, DIM))  # clustered, as words are
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float16)  # stored as float16, as vectors.npy


BUILT = {}


def opened(vectors, kind, partitions):
    """What query.nearest reads of an Index: kind, faiss, vectors, vectors_f32 (built once per module)."""
    if (kind, partitions) in BUILT:
        return BUILT[kind, partitions]
    parts = build_partitions(plan_index(N, DIM, kind), np.asarray(vectors, np.float32), partitions)
    BUILT[kind, partitions] = SimpleNamespace(kind=kind, faiss=combine_partitions(parts), vectors=vectors,
                                              vectors_f32=lambda rows: np.asarray(vectors[rows], dtype=np.float32))
    return BUILT[kind, partitions]


def masks(seed=3):
    rng = np.random.default_rng(seed)
    one, few = np.zeros(N, bool), np.zeros(N, bool)
    one[1234] = True
    few[rng.choice(N, 5, replace=False)] = True  # fewer allowed rows than k
    return {"one row": one, "five rows": few, "7%": rng.random(N) < 0.07, "60%": rng.random(N) < 0.6,
            "all": np.ones(N, bool), "first partition only": np.arange(N) < N // 3}


def brute_force(vectors, query_vector, allowed, k):
    rows = np.flatnonzero(allowed)
    cosines = np.asarray(vectors[rows], np.float64) @ query_vector
    best = np.argsort(-cosines, kind="stable")[:k]
    return rows[best], cosines[best]


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq"])
def test_filtered_search_equals_numpy_brute_force(vectors, kind, partitions, monkeypatch):
    """Within the exact limit (raised here to every row: ivf-fastscan's own limit, 2,000 rows, is below
    this fixture's larger masks, which the next test sends through the approximate walk)."""
    monkeypatch.setattr(query, "FASTSCAN_BRUTE_FORCE_BELOW", query.BRUTE_FORCE_BELOW)
    index = opened(vectors, kind, partitions)
    rng = np.random.default_rng(5)
    for name, allowed in masks().items():
        for q in rng.choice(N, 8, replace=False):
            query_vector = np.asarray(vectors[q], np.float32) + 0.3 * rng.standard_normal(DIM).astype(np.float32)
            query_vector /= np.linalg.norm(query_vector)
            rows, cosines = query.nearest(index, query_vector, K, allowed)
            want_rows, want_cosines = brute_force(vectors, query_vector.astype(np.float64), allowed, K)
            assert len(rows) == min(K, allowed.sum()), name
            np.testing.assert_allclose(cosines, want_cosines, atol=1e-5, err_msg=name)
            assert set(rows.tolist()) == set(want_rows.tolist()), name


@pytest.mark.parametrize("partitions", [1, 3])
@pytest.mark.parametrize("kind", ["hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq"])
def test_a_large_filtered_subset_still_gives_k_allowed_items(vectors, kind, partitions, monkeypatch):
    """Subsets above BRUTE_FORCE_BELOW go through the approximate index: k allowed rows all the same."""
    monkeypatch.setattr(query, "BRUTE_FORCE_BELOW", 0)
    monkeypatch.setattr(query, "FASTSCAN_BRUTE_FORCE_BELOW", 0)
    index = opened(vectors, kind, partitions)
    for name, allowed in masks().items():
        rows, _ = query.nearest(index, np.asarray(vectors[7], np.float32), K, allowed)
        assert len(rows) == min(K, allowed.sum()), name
        assert allowed[rows].all(), name


@pytest.mark.parametrize("how, kind", [("exact", "flat"), ("exact", "hnsw"), ("hnsw", "hnsw"), ("exact", "ivf-fastscan"),
                                      ("ivf", "ivf-fastscan"), ("ivf", "ivf-pq"), ("ivf", "ivf-rabitq")])
def test_faiss_selector_returns_only_allowed_rows(vectors, how, kind):
    index = opened(vectors, kind, 3)
    allowed = masks()["7%"]
    scores, rows = filtered_search(index.faiss, np.asarray(vectors[:4], np.float32), K, allowed, how,
                                   vectors if kind == "ivf-pq" else None)
    found = rows[rows >= 0]
    assert len(found) and allowed[found].all()
    for query_scores, query_rows in zip(scores, rows):
        assert np.all(np.diff(query_scores[query_rows >= 0]) <= 1e-6)  # best first


def test_the_compact_index_costs_at_most_300_bytes_a_vector_at_512_d():
    """IVF-RaBitQ: codes, their factors, ids and centroids, at the sizes it is meant for."""
    import faiss

    for n in (100_000, 1_000_000):
        plan = plan_index(n, 512, "ivf-rabitq")
        assert plan.bytes_per_vector <= 300, plan.reason
    small = plan_index(N, DIM, "ivf-rabitq")
    built = build_partitions(small, np.random.default_rng(0).standard_normal((N, DIM)).astype(np.float32), 1)[0]
    ivf = faiss.downcast_index(built)
    assert ivf.code_size == DIM * 4 // 8 + 20  # the codes and factors counted by rabitq_bytes
    assert ivf.qb == 8


def test_a_filtered_hnsw_walk_for_many_results_keeps_at_least_as_many_candidates(vectors):
    """efSearch is tuned for ten results; asked for 100 (a translation's CSLS candidates), a filtered
    walk with the tuned effort fell short of 100 and ended in the exact fallback every time."""
    from embedspace.index.faiss_index import set_search_param

    index = opened(vectors, "hnsw", 1)
    set_search_param(index.faiss, "efSearch", 16)
    allowed = masks()["60%"]
    try:
        _, rows = filtered_search(index.faiss, np.asarray(vectors[:20], np.float32), 100, allowed, "hnsw")
    finally:
        BUILT.pop(("hnsw", 1))  # the other tests keep the planned efSearch
    assert (rows >= 0).all() and allowed[rows].all()
