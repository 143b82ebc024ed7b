"""embedspace.vectors: the one exact k-NN and the one normaliser every layer calls."""

import numpy as np
import pytest

from embedspace.errors import InputError
from embedspace.vectors import exact_neighbours, l2_normalize


def unit_rows(n, dim, seed):
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)))


def assert_exact_top_k(rows, cosines, queries, pool, k):
    """rows are a true top k: their cosines are theirs, best first, and equal the k best scores
    (within float32 rounding, so a near-tie may come in either order on another CPU)."""
    scores = np.asarray(queries, np.float32) @ np.asarray(pool, np.float32).T
    best = -np.sort(-scores, axis=1)[:, :k]
    np.testing.assert_allclose(np.take_along_axis(scores, rows, axis=1), cosines, atol=1e-5)
    np.testing.assert_allclose(cosines, best, atol=1e-5)
    assert all(len(set(r)) == len(r) for r in rows)  # no row twice


@pytest.mark.parametrize("pool_block", [7, 64, 1000])
def test_blocks_give_the_plain_answer(pool_block):
    """A pool read in blocks (a float16 memory map of a big index) merges to what one pass over
    every row finds; the rows are the pool's own row numbers."""
    pool, queries = unit_rows(300, 16, 0), unit_rows(9, 16, 1)
    rows, cosines = exact_neighbours(queries, pool, 10, pool_block=pool_block)
    assert_exact_top_k(rows, cosines, queries, pool, 10)


def test_float16_pool_and_chosen_rows():
    """pool_rows searches only those rows (a filtered search) and answers in the pool's row numbers."""
    pool = unit_rows(500, 8, 2).astype(np.float16)
    chosen = np.arange(3, 500, 7)
    query = unit_rows(1, 8, 3)
    rows, cosines = exact_neighbours(query, pool, 5, pool_rows=chosen, pool_block=16)
    assert set(rows[0]) <= set(chosen)
    positions = np.searchsorted(chosen, rows)  # rows are pool's own numbers; as positions in `chosen`
    assert_exact_top_k(positions, cosines, query, pool[chosen], 5)


def test_exclusions_and_fewer_rows_than_k():
    pool = unit_rows(6, 4, 4)
    rows, _ = exact_neighbours(pool, pool, 3, exclude_self=True)
    assert not (rows == np.arange(6)[:, None]).any()  # nobody is its own neighbour
    rows, cosines = exact_neighbours(pool[:1], pool, 10, exclude=[np.array([0, 1])])
    assert rows.shape == (1, 6) and 0 not in rows[0] and 1 not in rows[0]
    assert (rows[0, -2:] == -1).all() and np.isneginf(cosines[0, -2:]).all()  # only 4 allowed rows exist


def test_l2_normalize():
    out = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])  # a zero row stays zero, not NaN
    assert l2_normalize(np.ones((2, 2)), dtype=None).dtype == np.float64
    with pytest.raises(InputError, match="non-finite"):
        l2_normalize(np.array([[np.nan, 1.0]]))


def test_read_only_memo_keeps_values_of_read_only_arrays_only():
    from embedspace.vectors import ReadOnlyMemo

    memo, calls = ReadOnlyMemo(kept=2), []
    count = lambda mask: calls.append(1) or int(mask.sum())  # noqa: E731
    mask = np.array([True, False, True])
    assert memo.get(mask, count) == 2 and memo.get(mask, count) == 2 and len(calls) == 2  # writable: each time
    mask.setflags(write=False)
    assert memo.get(mask, count) == 2 and memo.get(mask, count) == 2 and len(calls) == 3  # read-only: once
    other = np.array([True, True, True])
    other.setflags(write=False)
    assert memo.get(other, count) == 3 and len(calls) == 4
