"""What two builds of the same sources promise each other, whatever the runner, thread count or CPU
(docs/scale-out.md, "Reproducibility"), as checks: the Ray tests, the partition tests and
benchmarks/ray_multinode.py (which puts this folder on sys.path) use these, and only these.

Exactly: the items (ids, texts, every stored column, order) and the skips. Vectors: only up to
float rounding, because a model's sums round differently with another BLAS thread count or CPU
kernel (the sequential runner embeds with one thread per core, each Ray actor with one). Measured
for use-m3 on test_ray's 600 words, 1 vs 2 OpenBLAS threads and the Haswell / SkylakeX /
Sandybridge kernels: float32 up to 2.6e-7 apart; 1,254-1,688 of the 307,200 stored float16 values
differ, none by more than that plus one float16 step; scores up to 7.7e-6 apart; near-ties swap.
"""

import numpy as np

from embedspace.index.store import Index

VECTOR_ATOL = 1e-6  # float32 values, before they are stored as float16
SCORE_ATOL = 1e-4  # a search result's score and cosine
EXACT_FILES = ("items.parquet", "skipped.jsonl")  # both written by the driver, from the same chunks


def assert_same_index(root_a, name_a, root_b, name_b):
    """The same items and skips in the same order (byte for byte), and the same vectors up to rounding."""
    a, b = Index.open(name_a, root_a).folder, Index.open(name_b, root_b).folder  # the current generations
    for file in EXACT_FILES:
        assert (a / file).read_bytes() == (b / file).read_bytes(), file
    assert_same_vectors(np.load(a / "vectors.npy"), np.load(b / "vectors.npy"))


def assert_same_vectors(a, b, atol=VECTOR_ATOL):
    """Stored float16 vectors of float32 ones at most `atol` apart: each value within atol plus one
    float16 step at its magnitude (each side rounded by up to half a step)."""
    assert a.dtype == b.dtype == np.float16 and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    step = np.spacing(np.maximum(np.abs(a), np.abs(b))).astype(np.float32)
    excess = np.abs(a.astype(np.float32) - b.astype(np.float32)) - (atol + step)
    bad = [tuple(int(i) for i in where) for where in np.argwhere(excess > 0)]
    assert bad == [], f"{len(bad)} values differ by more than {atol} + one float16 step, first at (row, column) {bad[0]}"


def assert_same_ranking(ids_a, scores_a, ids_b, scores_b, atol, label=""):
    """One search's results (ids and scores, best first) computed two ways whose scores may round
    differently by up to `atol` (another runner, thread count, CPU kernel or partitioning): as many
    results; scores within atol rank by rank; and the same id at every rank, except that an item may
    trade places with one whose score is within 2 x atol of its own (a near-tie; at the last rank,
    with one just past it). With every score within atol of itself, nothing else can differ."""
    ids_a, ids_b = list(ids_a), list(ids_b)
    scores_a, scores_b = np.asarray(scores_a, np.float64), np.asarray(scores_b, np.float64)
    assert len(ids_a) == len(ids_b) == len(scores_a) == len(scores_b), label
    for ids_x, scores_x, ids_y, scores_y in ((ids_a, scores_a, ids_b, scores_b), (ids_b, scores_b, ids_a, scores_a)):
        score_of = dict(zip(ids_x, scores_x))
        for rank, (x, y) in enumerate(zip(ids_x, ids_y)):
            assert abs(scores_x[rank] - scores_y[rank]) <= atol, (label, rank, scores_x[rank], scores_y[rank])
            if x != y:  # y's score on x's side (past x's last rank: at most its last score) must be near x's
                near = score_of.get(y, scores_x[-1])
                assert abs(near - scores_x[rank]) <= 2 * atol, (label, rank, x, scores_x[rank], y, near)


def assert_same_results(found_a, found_b, atol):
    """query.search_many results computed two ways: the same queries, each with the same ranking up
    to near-ties (assert_same_ranking, for scores and cosines), and an item found by both shown alike."""
    assert [q["query"] for q in found_a] == [q["query"] for q in found_b]
    for qa, qb in zip(found_a, found_b):
        ra, rb = qa["results"], qb["results"]
        for key in ("score", "cosine"):
            assert_same_ranking([r["id"] for r in ra], [r[key] for r in ra], [r["id"] for r in rb],
                                [r[key] for r in rb], atol, label=f"{qa['query']} ({key})")
        shown_b = {r["id"]: r for r in rb}
        for r in ra:
            if r["id"] in shown_b:
                assert ({k: v for k, v in r.items() if k not in ("rank", "score", "cosine")}
                        == {k: v for k, v in shown_b[r["id"]].items() if k not in ("rank", "score", "cosine")})
