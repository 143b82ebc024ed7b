"""Maps of an index: UMAP or PCA to 2-D or 3-D, cached on disk, and new points placed on them.

- Which items: the index, or its items of some kinds and languages, randomly sampled down to
  `MapParams.sample` items (a fixed seed, so the same choice gives the same sample).
- UMAP's neighbour graph: below OWN_NN_DESCENT_FROM points FAISS's exact graph (`knn_graph`),
  fed to umap-learn through `precomputed_knn`; above, umap-learn's own NN-descent, which
  benchmarks/projection.py measured faster than FAISS HNSW there (see the constant).
- PCA is the fast alternative: a linear projection that keeps global directions, not clusters.
- Cache: the rows and coordinates are .npy files (no pickle) under EMBEDSPACE_CACHE_DIR/maps,
  named by the index checksum and a digest of the parameters and the sampled rows, written
  atomically; opening the same map again only reads them.
- New points (a query, an analogy's terms): umap-learn cannot `transform` a model fitted on a
  precomputed graph (it has no search index), and the fitted model is not kept anyway, so a new
  vector is placed at the similarity-weighted mean position of its PLACE_K nearest mapped items,
  with weights exp((cos - best cos) / PLACE_TEMPERATURE) from the cosines in the full space. The
  sharp weights matter: a map item's neighbours in the full space can lie in several places on
  the map, and plain cosine weights (all ~0.6-0.8) put the point between them. Placing 1,000
  mapped items of a 5,000-item demo map without themselves, the median distance to their own
  position was 0.028 of the map's median radius this way, 0.091 with cosine weights
  (benchmarks/projection.py measures it at 10k-100k). The same rule serves PCA maps.
"""

from __future__ import annotations

import hashlib
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from ..artifacts import load_checked_array, save_checked_array, save_json
from ..errors import InputError, require
from ..languages import normalize_lang
from ..paths import cache_dir
from ..progress import announce
from ..vectors import (  # noqa: F401 (re-exported)
    PLACE_K,
    PLACE_TEMPERATURE,
    place_among_neighbours,
    place_by_neighbours,
    placement_weights,
)

METHODS = ("umap", "pca")
DEFAULT_SAMPLE = 5_000
N_NEIGHBORS = 15  # umap-learn's default
MIN_DIST = 0.1  # umap-learn's default
EXACT_KNN_BELOW = 20_000  # knn_graph: exact FAISS kNN below this many points, HNSW above
# From this many points UMAP builds its own graph (NN-descent). benchmarks/results/projection.json
# (2 shared cores): the graph alone took 8.9 s by NN-descent vs 21.6 s by FAISS HNSW at 50k points,
# 31 s vs 60 s at 100k, with equal trustworthiness (0.786 vs 0.794; 0.749 vs 0.742). At 10k the
# exact FAISS graph cost about the same (2.6 s vs 2.2 s) with recall 0.999 instead of 0.986.
OWN_NN_DESCENT_FROM = EXACT_KNN_BELOW
# A graph for a map, not a search index: recall@14 ~0.95 on 50k demo vectors at half the build
# and search time of HNSW32/efConstruction 80 (0.99); UMAP's layout barely changes (benchmarks/projection.py).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 40, 64
SAMPLE_SEED = 1234
FORMAT = 2  # bump when the layout or the cached files change (2: coordinates as a checked array)


@dataclass(frozen=True)
class MapParams:
    """What decides a map. kinds/langs restrict the items: langs apply to texts (images have no
    language), so a map of two languages still shows the images unless kinds leaves them out."""

    method: str = "umap"
    dims: int = 2
    sample: int | None = DEFAULT_SAMPLE  # at most this many items; None: all
    kinds: tuple = ()  # () = every kind
    langs: tuple = ()  # () = every language
    n_neighbors: int = N_NEIGHBORS
    min_dist: float = MIN_DIST

    def __post_init__(self):
        if self.method not in METHODS:
            raise InputError(f"Map method {self.method!r}: use umap or pca.")
        if self.dims not in (2, 3):
            raise InputError(f"A map has 2 or 3 dimensions, not {self.dims!r}.")
        if self.sample is not None and (not isinstance(self.sample, int) or self.sample < 3):
            raise InputError(f"Map sample size {self.sample!r}: use a whole number of at least 3, or all items.")
        if not 2 <= self.n_neighbors <= 200:
            raise InputError(f"UMAP neighbours {self.n_neighbors}: use 2 to 200.")
        if not 0.0 <= self.min_dist <= 1.0:
            raise InputError(f"UMAP min_dist {self.min_dist}: use 0 to 1.")

    def describe(self) -> str:
        if self.method == "pca":
            return f"PCA, {self.dims}-D"
        return (f"UMAP, {self.dims}-D, {self.n_neighbors} neighbours (FAISS kNN graph below "
                f"{OWN_NN_DESCENT_FROM:,} items, NN-descent above), min_dist {self.min_dist:g}")


@dataclass
class Placement:
    """New points on a map: positions, and the mapped items that placed each one."""

    coords: np.ndarray  # (n, dims)
    neighbours: np.ndarray  # (n, k) positions in the map (not index rows)
    similarities: np.ndarray  # (n, k) cosines to those neighbours


@dataclass
class ProjectionMap:
    rows: np.ndarray  # index rows on the map, ascending
    coords: np.ndarray  # (len(rows), dims) float32
    params: MapParams
    eligible: int  # items that matched kinds/langs before sampling
    vectors: np.ndarray = field(repr=False)  # unit vectors of the mapped items (float32, or the index's float16 map)
    seconds: dict = field(default_factory=dict)  # stage -> seconds when computed
    from_cache: bool = False
    note: str = ""  # e.g. PCA's explained variance
    # (vectors, k) -> (map positions, cosines), (n, k) each: a faster way to the nearest mapped items
    # than reading every mapped vector (the stored layout of every item uses the index's own search).
    neighbours: Callable | None = field(default=None, repr=False)

    def __len__(self):
        return len(self.rows)

    @property
    def sampled(self) -> bool:
        return len(self.rows) < self.eligible

    def position_of_rows(self, index_rows) -> np.ndarray:
        """Map positions of index rows; -1 where a row is not on the map."""
        index_rows = np.asarray(index_rows, dtype=np.int64)
        found = np.searchsorted(self.rows, index_rows)
        found = np.clip(found, 0, max(len(self.rows) - 1, 0))
        on_map = (len(self.rows) > 0) & (self.rows[found] == index_rows)
        return np.where(on_map, found, -1)

    def place(self, vectors: np.ndarray, k: int = PLACE_K) -> Placement:
        """Similarity-weighted mean position of each vector's k nearest mapped items (module docstring)."""
        if self.neighbours is None:
            return Placement(*place_among_neighbours(vectors, self.vectors, self.coords, k))
        rows, cosines = self.neighbours(np.atleast_2d(vectors), min(k, len(self)))
        return Placement(place_by_neighbours(rows, cosines, self.coords), rows, cosines)


# -- which items ---------------------------------------------------------------------------------
def eligible_rows(index, kinds=(), langs=()) -> np.ndarray:
    """Rows of the items a map may show: of the given kinds, texts in the given languages."""

    items = index.items
    keep = np.ones(len(items), dtype=bool)
    if kinds:
        for kind in kinds:
            if kind not in ("text", "image"):
                raise InputError(f"Map kind {kind!r}: use text or image.")
        keep &= items["kind"].isin(list(kinds)).to_numpy()
    if langs:
        wanted = [normalize_lang(lang) for lang in langs]
        is_text = (items["kind"] == "text").to_numpy()
        keep &= ~is_text | items["lang"].isin(wanted).to_numpy()
    return np.flatnonzero(keep)


def sample_rows(rows: np.ndarray, size: int | None, seed: int = SAMPLE_SEED) -> np.ndarray:
    """A uniform random sample (fixed seed, so the same every time), sorted; all rows if fewer."""
    if size is None or len(rows) <= size:
        return np.sort(rows)
    chosen = np.random.default_rng(seed).choice(len(rows), size=size, replace=False)
    return np.sort(rows[chosen])


# -- neighbours and layouts ------------------------------------------------------------------------
def knn_graph(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(indices int64, cosine distances float32), (n, k) each, every point first in its own row.

    Exact (FAISS flat inner product) below EXACT_KNN_BELOW points, HNSW above; vectors are unit
    rows, so inner product is cosine and the distance is 1 - cosine, as umap-learn's 'cosine'.
    """
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n, dim = vectors.shape
    k = min(k, n)
    if n < EXACT_KNN_BELOW:
        index = faiss.IndexFlatIP(dim)
    else:
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.add(vectors)
    if n >= EXACT_KNN_BELOW:
        index.hnsw.efSearch = max(HNSW_EF_SEARCH, k + 1)
    sims, found = index.search(vectors, min(k + 1, n))
    return _self_first(found, sims, k)


def _self_first(found: np.ndarray, sims: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each point as its own first neighbour (at distance 0), then its k-1 nearest others.

    Exact duplicates tie with the point itself, so FAISS may list a twin first; umap-learn
    expects the point itself there.
    """
    n = len(found)
    own = np.arange(n)[:, None]
    others = (found != own) & (found >= 0)
    # Stable sort puts the other neighbours first, in FAISS's order, and drops the point itself.
    order = np.argsort(~others, axis=1, kind="stable")[:, : k - 1]
    other_ids = np.take_along_axis(found, order, axis=1)
    other_sims = np.take_along_axis(sims, order, axis=1)
    missing = ~np.take_along_axis(others, order, axis=1)  # HNSW found fewer than k-1 others
    other_ids = np.where(missing, own, other_ids)
    other_sims = np.where(missing, 1.0, other_sims)
    indices = np.hstack([own, other_ids]).astype(np.int64)
    distances = np.hstack([np.zeros((n, 1), np.float32), np.clip(1.0 - other_sims, 0.0, 2.0)]).astype(np.float32)
    return indices, distances


def umap_layout(vectors: np.ndarray, dims: int, n_neighbors: int = N_NEIGHBORS, min_dist: float = MIN_DIST,
                knn: tuple | None = None, bar: bool = False) -> np.ndarray:
    """UMAP of unit vectors (cosine): its neighbour graph is `knn`, else FAISS's exact graph below
    OWN_NN_DESCENT_FROM points and umap-learn's own NN-descent from there. bar: umap-learn's tqdm
    bar over its optimisation epochs (on stderr)."""
    use_numba_cache()
    umap = require("umap", "umap-learn", "UMAP maps")
    n = len(vectors)
    if n <= n_neighbors + 1:
        raise InputError(f"A UMAP map needs more than {n_neighbors + 1} items (neighbours + 1); this one has {n}. "
                         "Use PCA, or map more items.")
    if knn is None and n < OWN_NN_DESCENT_FROM:
        knn = knn_graph(vectors, n_neighbors)
    reducer = umap.UMAP(n_components=dims, n_neighbors=n_neighbors, min_dist=min_dist, metric="cosine",
                        precomputed_knn=knn if knn is not None else (None, None, None), low_memory=True,
                        verbose=False, tqdm_kwds={"disable": not bar, "desc": "Map layout (UMAP epochs)"})
    with warnings.catch_warnings():
        # umap-learn warns that a precomputed graph cannot `transform` new data: see place().
        warnings.filterwarnings("ignore", message=".*precomputed_knn.*")
        warnings.filterwarnings("ignore", category=UserWarning, module="umap")
        coords = reducer.fit_transform(vectors)
    return np.asarray(coords, dtype=np.float32)


def use_numba_cache() -> None:
    """numba caches the compiled code of UMAP and NN-descent (the functions marked cache=True)
    under the user cache, so a later process skips part of the ~10 s compile (set before numba loads)."""
    import os

    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_dir("numba")))


def pca_layout(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    """(coordinates, explained variance ratio of each axis): PCA through an SVD of centred data."""
    centred = np.asarray(vectors, dtype=np.float64)
    centred = centred - centred.mean(axis=0)
    if len(centred) < dims:
        raise InputError(f"A {dims}-D PCA map needs at least {dims} items; this one has {len(centred)}.")
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ components[:dims].T
    variance = singular**2
    return coords.astype(np.float32), (variance[:dims] / max(variance.sum(), 1e-12)).astype(np.float32)


# -- the cached map ----------------------------------------------------------------------------------
def _cache_key(index, params: MapParams, rows: np.ndarray) -> dict:
    """What a cached map was computed from: the index's files, the parameters and the rows."""
    return {"format": FORMAT, "index": index.checksum, "params": asdict(params),
            "rows": hashlib.sha256(rows.tobytes()).hexdigest()}


def _cache_stem(index, params: MapParams, rows: np.ndarray):
    digest = hashlib.sha256(json.dumps(_cache_key(index, params, rows), sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir("maps") / f"{index.name}-{index.checksum}-{params.method}{params.dims}d-{digest}"


def choose_rows(index, params: MapParams) -> tuple[np.ndarray, int]:
    """(the rows a map of `params` shows, how many items matched before sampling)."""
    eligible = eligible_rows(index, params.kinds, params.langs)
    if len(eligible) == 0:
        raise InputError(f"No items of index '{index.name}' match the map's kinds and languages; widen them.")
    return sample_rows(eligible, params.sample), len(eligible)


def load_projection(index, params: MapParams) -> ProjectionMap | None:
    """The map from the disk cache, or None when it has not been computed yet (cheap to ask)."""
    rows, eligible = choose_rows(index, params)
    stem = _cache_stem(index, params, rows)
    coords = load_checked_array(f"{stem}.coords.array", _cache_key(index, params, rows))
    if coords is None or coords.shape != (len(rows), params.dims):
        return None
    try:
        meta = json.loads(open(f"{stem}.json").read())
    except (OSError, ValueError):
        meta = {}
    return ProjectionMap(rows, coords, params, eligible, index.vectors_f32(rows), meta.get("seconds", {}), True,
                         meta.get("note", ""))


def project(index, params: MapParams = MapParams(), progress=None) -> ProjectionMap:
    """The map of `index` for `params`: from the cache, else computed (and cached)."""
    cached = load_projection(index, params)
    if cached is not None:
        return cached
    rows, eligible = choose_rows(index, params)
    vectors = index.vectors_f32(rows)
    seconds, note = {}, ""
    if params.method == "pca":
        announce(progress, f"PCA of {len(rows):,} items…")
        started = time.perf_counter()
        coords, explained = pca_layout(vectors, params.dims)
        seconds["pca"] = time.perf_counter() - started
        note = (f"The {params.dims} axes explain {explained.sum():.1%} of the variance "
                f"({', '.join(f'{v:.1%}' for v in explained)}).")
    else:
        knn = None
        if len(rows) < OWN_NN_DESCENT_FROM:
            announce(progress, f"Nearest-neighbour graph of {len(rows):,} items with FAISS (exact)…")
            started = time.perf_counter()
            knn = knn_graph(vectors, params.n_neighbors)
            seconds["knn"] = time.perf_counter() - started
        announce(progress, f"UMAP layout of {len(rows):,} items in {params.dims}-D (the first map in a process also compiles "
            "UMAP's code: add ~10 s)…")
        started = time.perf_counter()
        coords = umap_layout(vectors, params.dims, params.n_neighbors, params.min_dist, knn=knn)
        seconds["umap"] = time.perf_counter() - started
    stem = _cache_stem(index, params, rows)
    save_json(f"{stem}.json", {"params": asdict(params), "items": len(rows), "eligible": eligible,
                               "seconds": seconds, "note": note})
    save_checked_array(f"{stem}.coords.array", coords, _cache_key(index, params, rows))  # last: the map is complete
    return ProjectionMap(rows, coords, params, eligible, vectors, seconds, False, note)
