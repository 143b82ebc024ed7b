"""The map of every item, computed once per index and stored with it (index/layout_file.py).

- `build` and `embedspace demo` lay out every item (UMAP, 2-D; projection.umap_layout chooses
  the neighbour graph) for indexes up to MAX_BUILD_LAYOUT items; `--no-layout` skips it, and a
  bigger index gets its layout from `embedspace map NAME`. The layout is two extra files of the
  index's generation, checksummed like every file, so opening the map reads ~8 bytes an item and
  compiles nothing (numba's ~10 s compile is paid by the build, not by the first map).
- `add` places new items into it (index/layout_file.py); `relayout` (`embedspace map NAME
  --relayout`) recomputes it in a new generation with the same main files.
- The named regions (explore/regions.py) are computed with the layout and stored beside it.
- `stored_map(index)`: the stored layout as a projection.ProjectionMap of every row, on which
  `place()` puts queries; None for an index without one (the app then computes a map as before).
- 3-D maps are computed on demand by projection.project and cached there.
"""

from __future__ import annotations

import importlib.util
import time
from datetime import UTC, datetime

import numpy as np

from .. import query as queries
from ..index.layout_file import LayoutStatus, layout_files, read_layout
from ..index.layout_file import layout_status as _layout_status
from ..index.store import Index, replace_extra_files
from ..progress import announce
from ..vectors import exact_neighbours
from .projection import MIN_DIST, N_NEIGHBORS, OWN_NN_DESCENT_FROM, MapParams, ProjectionMap, knn_graph, umap_layout
from .regions import current_regions, region_files

MAX_BUILD_LAYOUT = 250_000  # a build lays out at most this many items (minutes on 2 cores); above: `embedspace map`

__all__ = ["LayoutStatus", "layout_status", "stored_map", "compute_layout", "layout_for_build", "relayout",
           "store_regions", "MAX_BUILD_LAYOUT"]


def layout_status(index) -> LayoutStatus:
    """Whether the index has a stored layout, how many items were placed into it since, and if stale."""
    return _layout_status(index)


def stored_map(index) -> ProjectionMap | None:
    """The stored 2-D layout of every row as a ProjectionMap (rows = arange(n)), or None."""
    stored = read_layout(index)
    if stored is None:
        return None
    coords, meta = stored
    rows = np.arange(len(index))
    params = MapParams(method="umap", dims=2, sample=None, n_neighbors=meta.get("n_neighbors", N_NEIGHBORS),
                       min_dist=meta.get("min_dist", MIN_DIST))
    # Every row is on the map, so a query's nearest mapped items are its nearest items: the index's
    # own search finds them in about a millisecond, where reading every stored vector took 0.1-0.4 s
    # on the full demo (a first map placing the query paid it). The float16 memory map stays the
    # fallback, read in blocks, not copied.
    return ProjectionMap(rows, coords, params, len(index), index.vectors, meta.get("seconds", {}),
                         from_cache=True, note=_layout_status(index).message,
                         neighbours=lambda vectors, k: nearest_items(index, vectors, k))


def nearest_items(index, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cosines), (n, k) each: every vector's k nearest items by the index's search (approximate
    on an HNSW or IVF index, as a search is); exactly when the search finds fewer than k."""
    found = [queries.nearest(index, vector, k) for vector in np.asarray(vectors, dtype=np.float32)]
    if any(len(rows) < k for rows, _ in found):
        return exact_neighbours(vectors, index.vectors, k)
    return np.stack([rows for rows, _ in found]), np.stack([cosines for _, cosines in found])


def compute_layout(vectors: np.ndarray, progress=None) -> tuple[np.ndarray, dict]:
    """(coords float32 (n, 2), meta) of a UMAP of these unit vectors."""
    vectors = np.asarray(vectors, dtype=np.float32)
    n = len(vectors)
    seconds, knn = {}, None
    graph = "FAISS exact" if n < OWN_NN_DESCENT_FROM else "umap-learn NN-descent"
    if n < OWN_NN_DESCENT_FROM:
        started = time.perf_counter()
        knn = knn_graph(vectors, N_NEIGHBORS)
        seconds["knn"] = round(time.perf_counter() - started, 2)
    announce(progress, f"Laying out all {n:,} items on the map (UMAP, neighbour graph: {graph}; about a minute "
                       "per 60,000 items)…")
    started = time.perf_counter()
    coords = umap_layout(vectors, 2, N_NEIGHBORS, MIN_DIST, knn=knn, bar=progress is True)
    seconds["umap"] = round(time.perf_counter() - started, 2)
    meta = {"method": "umap", "n_neighbors": N_NEIGHBORS, "min_dist": MIN_DIST, "metric": "cosine", "graph": graph,
            "items": n, "seconds": seconds, "computed": datetime.now(UTC).isoformat(timespec="seconds")}
    return coords, meta


def layout_for_build(items, vectors, progress=None) -> dict:
    """build_index(layout=...): the layout files of a new index, or {} above MAX_BUILD_LAYOUT items,
    below the few items UMAP needs, or without umap-learn (the map then computes as before)."""
    n = len(items)
    if n > MAX_BUILD_LAYOUT:
        announce(progress, f"{n:,} items: no map layout at build time (over {MAX_BUILD_LAYOUT:,}); "
                           "`embedspace map NAME` computes it.")
        return {}
    if n <= N_NEIGHBORS + 1:
        return {}
    if importlib.util.find_spec("umap") is None:  # an optional package: the index is built without its map
        announce(progress, "No map layout: umap-learn is not installed (pip install 'embedspace[app]', then "
                           "`embedspace map NAME`).")
        return {}
    coords, meta = compute_layout(vectors, progress)
    return {**layout_files(coords, {**meta, "next_id": _next_id(items)}), **region_files(items, vectors, progress)}


def relayout(name: str, index_dir=None, progress=None) -> LayoutStatus:
    """Compute the layout of every item of index NAME again and store it (a new generation)."""
    index = Index.open(name, index_dir)
    vectors = index.vectors_f32(np.arange(len(index)))
    coords, meta = compute_layout(vectors, progress)
    replace_extra_files(name, {**layout_files(coords, {**meta, "next_id": int(index.manifest.get("next_id", 0))}),
                               **region_files(index.items, vectors, progress)}, index_dir, computed_from=index.checksum)
    return layout_status(Index.open(name, index_dir))


def store_regions(name: str, index_dir=None, progress=None) -> bool:
    """Compute and store the named regions of index NAME when it has a layout without them (one laid out
    before they were stored with it, or stored by an older rule: only the names when the clustering
    rule is the same); whether it did."""
    index = Index.open(name, index_dir)
    clusters, names = current_regions(index)
    if read_layout(index) is None or names is not None:
        return False
    files = region_files(index.items, index.vectors_f32(np.arange(len(index))), progress, clusters=clusters)
    replace_extra_files(name, files, index_dir, computed_from=index.checksum)
    return True


def _next_id(items) -> int:
    return int(items["id"].max()) + 1 if len(items) else 0
