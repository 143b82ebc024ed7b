"""Vector arithmetic every layer shares: unit rows (`l2_normalize`), exact k-NN
(`exact_neighbours`, the one implementation), CSLS and analogy scores."""

from __future__ import annotations

import numpy as np

from .errors import InputError

CSLS_K = 10  # neighbourhood size of CSLS (Conneau et al. 2018)
MUL_EPSILON = 0.001  # 3CosMul's epsilon (Levy & Goldberg 2014)


def analogy_scores(cos_a, cos_b, cos_c, method: str) -> np.ndarray:
    """3CosAdd: cos(x,b) - cos(x,a) + cos(x,c). 3CosMul: cos'(x,b) cos'(x,c) / (cos'(x,a) + eps)
    with cos' = (1 + cos) / 2 shifted into [0, 1] (Levy & Goldberg 2014). Elementwise, so the
    arguments may be vectors (one question's candidates) or matrices (questions x candidates)."""
    if method == "add":
        return cos_b - cos_a + cos_c
    if method == "mul":
        shift = lambda c: (1.0 + c) / 2.0  # noqa: E731
        return shift(cos_b) * shift(cos_c) / (shift(cos_a) + MUL_EPSILON)
    raise InputError(f"Analogy method {method!r}: use add (3CosAdd) or mul (3CosMul).")


def analogy_target(va: np.ndarray, vb: np.ndarray, vc: np.ndarray) -> np.ndarray:
    """The unit vector b - a + c whose nearest items are the analogy's candidates (rows: questions)."""
    return l2_normalize(vb - va + vc)


def candidate_cosines(pool: np.ndarray, *operands) -> list:
    """[cos(candidates, operand)] for each operand: (..., n) from pool (..., n, dim) and operands (..., dim)."""
    return [np.einsum("...nd,...d->...n", pool, np.asarray(v, dtype=np.float32)) for v in operands]


def csls_scores(cosines: np.ndarray, query_hubness, candidate_hubness) -> np.ndarray:
    """CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y) (Conneau et al. 2018).

    cosines: (n,) for one query or (q, n) for a batch; query_hubness: r_T, a number or (q,);
    candidate_hubness: r_S of the candidates, (n,) or (q, n).
    """
    return 2 * cosines - np.asarray(query_hubness, dtype=np.float32)[..., None] - candidate_hubness


def mean_top_k(similarities: np.ndarray, k: int = CSLS_K) -> np.ndarray:
    """Mean of the k largest values along the last axis (CSLS's r); all of them if fewer than k."""
    similarities = np.asarray(similarities, dtype=np.float32)
    n = similarities.shape[-1]
    if n == 0:
        return np.zeros(similarities.shape[:-1], np.float32)
    k = min(k, n)
    return np.partition(similarities, n - k, axis=-1)[..., n - k:].mean(axis=-1)


def neighbourhood_similarity(queries: np.ndarray, pool: np.ndarray, k: int = CSLS_K,
                             exclude_self: bool = False) -> np.ndarray:
    """r(x) for each query row: the mean cosine to its k nearest `pool` rows, exact (CSLS's r_T, r_S).

    exclude_self: queries and pool are the same rows, and an item is not its own neighbour.
    """
    rows, cosines = exact_neighbours(queries, pool, k, exclude_self=exclude_self)
    return cosines.mean(axis=1) if cosines.shape[1] else np.zeros(len(rows), np.float32)


# Pool rows converted to float32 at a time by exact_neighbours: 262,144 x 512-d is 512 MiB, the
# most an exact search over a 1M-item float16 index adds to memory (a smaller pool is one FAISS call).
POOL_BLOCK = 262_144


def exact_neighbours(queries: np.ndarray, pool, k: int, exclude=None, exclude_self: bool = False,
                     pool_rows: np.ndarray | None = None, block: int = 8192,
                     pool_block: int = POOL_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines), each (n, k) best first: every query's k nearest pool rows by inner product,
    exact. The one exact k-NN of the package: CSLS, the suites, tuning's ground truth and filtered
    searches all call it. Rows missing (fewer than k allowed) are -1 with cosine -inf.

    pool: any 2-D array (a float16 memory map too), read `pool_block` rows at a time as float32;
    pool_rows: search only these rows of pool (row numbers returned are pool's own);
    exclude[i]: positions in the searched rows query i may not have (an array each);
    exclude_self: queries and pool are the same rows, and an item is not its own neighbour.
    FAISS's exact k-NN (BLAS and a heap): much faster than sorting a full matrix.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    size = len(pool) if pool_rows is None else len(pool_rows)
    limit = size - (1 if exclude_self else 0)
    k = max(min(k, limit), 0)
    rows_out = np.full((len(queries), k), -1, np.int64)
    cos_out = np.full((len(queries), k), -np.inf, np.float32)
    if k == 0 or not len(queries):
        return rows_out, cos_out
    extra = 1 if exclude_self else max((len(e) for e in exclude), default=0) if exclude is not None else 0
    for start in range(0, len(queries), block):
        stop = min(start + block, len(queries))
        cosines, rows = _knn_over_blocks(queries[start:stop], pool, pool_rows, min(k + extra, size), pool_block)
        if extra:
            if exclude_self:
                banned = rows == np.arange(start, stop)[:, None]
            else:
                padded = np.full((stop - start, extra), -2, np.int64)
                for i, rows_i in enumerate(exclude[start:stop]):
                    padded[i, :len(rows_i)] = rows_i
                banned = (rows[:, :, None] == padded[:, None, :]).any(axis=2)
            keep = np.argsort(banned, axis=1, kind="stable")[:, :k]  # allowed rows first, in their order
            rows, cosines = np.take_along_axis(rows, keep, axis=1), np.take_along_axis(cosines, keep, axis=1)
            short = np.take_along_axis(banned, keep, axis=1)  # fewer allowed rows than k: none there
            rows[short], cosines[short] = -1, -np.inf
        found = min(k, rows.shape[1])
        rows_out[start:stop, :found], cos_out[start:stop, :found] = rows[:, :found], cosines[:, :found]
    if pool_rows is not None:
        hit = rows_out >= 0
        rows_out[hit] = np.asarray(pool_rows)[rows_out[hit]]
    return rows_out, cos_out


def _knn_over_blocks(queries, pool, pool_rows, want: int, pool_block: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS's exact k-NN over the pool (or its rows `pool_rows`) a block at a time, merged: the
    global top `want` lies among each block's own top `want`. One block is one plain call."""
    import faiss

    size = len(pool) if pool_rows is None else len(pool_rows)
    best_cos = np.zeros((len(queries), 0), np.float32)
    best_rows = np.zeros((len(queries), 0), np.int64)
    for start in range(0, size, pool_block):
        stop = min(start + pool_block, size)
        part = pool[start:stop] if pool_rows is None else pool[np.asarray(pool_rows[start:stop])]
        cosines, rows = faiss.knn(queries, np.ascontiguousarray(part, dtype=np.float32), min(want, stop - start),
                                  faiss.METRIC_INNER_PRODUCT)
        rows = np.where(rows >= 0, rows + start, -1)
        if start == 0 and stop == size:
            return cosines, rows
        cosines, rows = np.concatenate([best_cos, cosines], axis=1), np.concatenate([best_rows, rows], axis=1)
        keep = np.argsort(-cosines, axis=1, kind="stable")[:, :want]
        best_cos, best_rows = np.take_along_axis(cosines, keep, axis=1), np.take_along_axis(rows, keep, axis=1)
    return best_cos, best_rows


PLACE_K = 10  # neighbours that place a new point
PLACE_TEMPERATURE = 0.01  # softmax temperature of their cosines (0.01 to 0.02 placed best, measured)
PLACE_BLOCK = 256  # queries placed together


def place_among_neighbours(vectors: np.ndarray, pool, coords: np.ndarray, k: int = PLACE_K,
                           temperature: float = PLACE_TEMPERATURE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(positions, neighbour rows, their cosines): each vector placed at the softmax-of-cosines
    weighted mean of `coords` of its k nearest `pool` rows (explore/projection.py's docstring
    says why the weights are sharp). The one placement rule: maps place queries with it, and an
    index's stored layout places the items `add` appends."""
    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    k = max(1, min(k, len(pool)))
    positions, rows, cosines = [], [], []
    # Blocks of queries, so that many at once never hold a (queries x pool) matrix of gigabytes.
    for start in range(0, max(len(vectors), 1), PLACE_BLOCK):
        top, top_sims = exact_neighbours(vectors[start:start + PLACE_BLOCK], pool, k)
        positions.append(place_by_neighbours(top, top_sims, coords, temperature))
        rows.append(top)
        cosines.append(top_sims)
    return np.concatenate(positions), np.concatenate(rows), np.concatenate(cosines)


def place_by_neighbours(rows: np.ndarray, cosines: np.ndarray, coords: np.ndarray,
                        temperature: float = PLACE_TEMPERATURE) -> np.ndarray:
    """(n, dims) positions: each the softmax-of-cosines weighted mean of `coords` of its neighbours
    (rows, cosines: (n, k) each, however they were found)."""
    weights = placement_weights(cosines, temperature)
    return np.einsum("nk,nkd->nd", weights, np.asarray(coords)[rows]).astype(np.float32)


def placement_weights(similarities: np.ndarray, temperature: float = PLACE_TEMPERATURE) -> np.ndarray:
    """Softmax of each row's cosines: the most similar neighbours weigh most (rows sum to 1)."""
    weights = np.exp((similarities - similarities.max(axis=1, keepdims=True)) / temperature)
    return weights / weights.sum(axis=1, keepdims=True)


def l2_normalize(vectors: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Rows scaled to unit length (the one normaliser of the package); an all-zero row stays zero
    instead of becoming NaN. dtype: float32 (what spaces return), or None to keep the input's."""
    vectors = np.asarray(vectors, dtype=dtype)
    if not np.isfinite(vectors).all():
        raise InputError("The model produced non-finite values (NaN or inf) for this input.")
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    np.maximum(norms, 1e-12, out=norms)
    return vectors / norms


class ReadOnlyMemo:
    """Values computed from read-only arrays (the filter masks an opened index remembers), kept for
    the last `kept` arrays by identity, with the array itself so that its id is not reused. A
    writable array could change after the fact, so its value is computed every time."""

    def __init__(self, kept: int = 8):
        self.kept = kept
        self._known = {}  # id(array) -> (array, value)

    def get(self, array: np.ndarray, compute):
        if array.flags.writeable:
            return compute(array)
        known = self._known.get(id(array))
        if known is not None and known[0] is array:
            return known[1]
        value = compute(array)
        if len(self._known) >= self.kept:
            self._known.clear()
        self._known[id(array)] = (array, value)
        return value
