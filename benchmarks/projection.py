"""Map benchmark: UMAP with umap-learn's own neighbours vs UMAP fed embedspace's FAISS kNN graph.

Data: demo-like vectors, real use-m3 embeddings. The demo index (indexes/demo, `embedspace demo`:
66,084 items, emoji names, country and language names and frequent words in 12 languages, and
1,914 emoji images through ConSE) gives the 10k and 50k sets (random samples, fixed seed). 100k
is the whole demo plus more frequent words of the same 12 languages from wordfreq (the words
after the demo's first 3,000 of each language, letters only), embedded with use-m3 and cached
under benchmarks/.cache/projection/ (git-ignored).

For each size, in the same run:
  plain   umap.UMAP(n_neighbors=15, min_dist=0.1, metric="cosine").fit_transform(X): umap-learn
          finds the neighbours itself (pynndescent's NN-descent);
  faiss   embedspace.explore.projection.knn_graph (FAISS: exact below 20,000 points, HNSW32 above) and
          umap_layout(..., knn=graph): the same UMAP fed the graph through precomputed_knn, as
          the app computes its maps.
Each path's neighbour graph is also timed alone: umap-learn's `nearest_neighbors` (the call
UMAP.fit makes, NN-descent) and `knn_graph`; the layouts cost the same given a graph, so the
graphs are where the two paths differ.
Both with the same UMAP parameters and no random_state (a seed would force umap-learn onto one
thread). Before the first size, both paths run once on 5,000 random points so that numba's
compilation (UMAP's and NN-descent's) is not timed.

Quality: trustworthiness (sklearn.manifold.trustworthiness, n_neighbors=10, cosine in the input
space) of each layout on the same random 2,000 mapped points (trustworthiness of all 100k points
needs their full distance matrix), and the recall@15 of each neighbour graph against exact
neighbours on 1,000 random points (the graph umap-learn built is read from the fitted model).

Placing a new point, on each size's FAISS-path map: `ProjectionMap.place` (similarity-weighted
mean position of the 10 nearest mapped items) for one query vector: median and p90 of 200 calls,
in ms, cycling through 1,000 held-out words that are not in the map; and all 1,000 in one call.
Its accuracy: 1,000 mapped items placed by their 10 nearest OTHER mapped items (leave-one-out),
distance to their own position / the map's median radius, for our softmax weights, plain cosine
weights and the nearest item alone.

Load: the machine is shared with other engineers. Each measurement records the 1-minute load
average before and after and the share of the usable cores that other processes used while it
ran (from /proc/stat minus this process's CPU time); timings taken while others used a lot of
the CPU are slower than on an idle machine and are reported as measured.

    .venv/bin/python benchmarks/projection.py                   # 10k, 50k, 100k: ~25 min on 2 busy cores
    .venv/bin/python benchmarks/projection.py --sizes 10000     # ~2 min

Every item (issue 17), `--every-item [--index-dir DIR] [--name demo] [--limit N]`: in a fresh
process, the time explore.layout.compute_layout takes to lay out every item of the index (as
`build` and `embedspace demo` do; numba's compile included, and timed alone on a 5,000-point
warm-up first), and the trustworthiness of that layout (or the index's stored one, when it has
one) against a fresh UMAP of a random sample of EVERY_ITEM_SAMPLE items, both on the same
TRUST_SAMPLE sampled points: a layout of all items should keep a sample's neighbourhoods about as
well as a layout made for that sample alone. --limit N: the first N items only (a smoke run).
The same entry records a browser measurement: plotly.js drawing 250,000 synthetic points as WebGL
scattergl in headless Chromium (benchmarks/map_browser.draw_points; CPU WebGL, SwiftShader).
Writes the "every_item" entry of benchmarks/results/projection.json, keeping the rest.

Writes benchmarks/results/projection.json (after every size).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from embedspace.artifacts import load_array, save_array  # noqa: E402
from embedspace.explore.projection import (  # noqa: E402 (after the path set-up)
    EXACT_KNN_BELOW,
    HNSW_EF_CONSTRUCTION,
    HNSW_EF_SEARCH,
    HNSW_M,
    MIN_DIST,
    N_NEIGHBORS,
    MapParams,
    ProjectionMap,
    knn_graph,
    umap_layout,
)
from embedspace.vectors import exact_neighbours, l2_normalize  # noqa: E402

CACHE = HERE / ".cache" / "projection"
RESULTS = HERE / "results" / "projection.json"
SEED = 20
TRUST_SAMPLE = 2_000
RECALL_SAMPLE = 1_000
PLACE_QUERIES = 1_000
PLACE_REPEATS = 200


# -- load ------------------------------------------------------------------------------------------
def _cpu_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


class Measured:
    """Wall time of a block, and what else the machine was doing meanwhile."""

    def __enter__(self):
        self.load_before = os.getloadavg()[0]
        self.busy0, self.own0, self.t0 = _cpu_busy_s(), _own_cpu_s(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        busy, own = _cpu_busy_s() - self.busy0, _own_cpu_s() - self.own0
        cores = len(os.sched_getaffinity(0))
        self.others_cpu_share = max(0.0, (busy - own) / (self.seconds * cores)) if self.seconds > 0 else 0.0
        self.load_after = os.getloadavg()[0]

    def record(self) -> dict:
        return {"seconds": round(self.seconds, 3), "load_1min_before": round(self.load_before, 2),
                "load_1min_after": round(self.load_after, 2), "others_cpu_share": round(self.others_cpu_share, 3)}


# -- data ------------------------------------------------------------------------------------------
def demo_vectors() -> tuple:
    from embedspace.index.store import Index

    index = Index.open("demo", ROOT / "indexes")
    vectors = index.vectors_f32(np.arange(len(index)))
    texts = set(zip(index.items["text"].fillna(""), index.items["lang"].fillna("")))
    return vectors, texts, index


def extra_words(index, known: set, count: int) -> tuple[list, list]:
    """(texts, langs): frequent words of the demo's languages that the demo does not hold."""
    import wordfreq

    from embedspace.data.words import is_word, language_scripts, wordfreq_code

    langs = sorted(set(index.items.loc[index.items["kind"] == "text", "lang"].dropna()))
    per_language = count // len(langs) + 1
    texts, out_langs = [], []
    for lang in langs:
        code = wordfreq_code(lang)
        pool = wordfreq.top_n_list(code, 20_000)
        scripts = language_scripts(pool[:1000])
        words = [w for w in pool if is_word(w, scripts) and (w, lang) not in known][:per_language]
        texts += words
        out_langs += [lang] * len(words)
    return texts, out_langs


def embedded(texts: list, name: str) -> np.ndarray:
    import hashlib

    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = CACHE / f"{name}-{digest}.npy"
    cached = load_array(path)
    if cached is not None and len(cached) == len(texts):
        return cached
    from embedspace import load_space

    print(f"embedding {len(texts):,} extra words with use-m3 (cached afterwards)…", flush=True)
    vectors = load_space("use-m3").embed_texts(texts, batch_size=256, progress=True)
    save_array(path, vectors)
    return vectors


def datasets(sizes: list) -> tuple[dict, np.ndarray, str]:
    """{size: vectors}, held-out query vectors, and where the data came from."""
    vectors, known, index = demo_vectors()
    rng = np.random.default_rng(SEED)
    need = max(sizes) - len(vectors)
    texts, _ = extra_words(index, known, max(need, 0) + PLACE_QUERIES)
    extra = embedded(texts, "extra-words")
    order = rng.permutation(len(extra))
    held_out, extra = extra[order[:PLACE_QUERIES]], extra[order[PLACE_QUERIES:]]
    pool = np.concatenate([vectors, extra[:max(need, 0)]]) if need > 0 else vectors
    out = {}
    for size in sizes:
        if size > len(pool):
            raise SystemExit(f"only {len(pool):,} vectors available for size {size:,}")
        out[size] = pool if size == len(pool) else pool[np.sort(rng.choice(len(pool), size, replace=False))]
    source = (f"the demo index ({len(vectors):,} use-m3 vectors) sampled for sizes up to that, plus "
              f"{max(need, 0):,} more wordfreq words of its languages embedded with use-m3 for larger sizes; "
              f"{PLACE_QUERIES:,} further held-out words as queries for placement")
    return out, held_out, source


# -- measurements ----------------------------------------------------------------------------------
def exact_others(vectors: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The k exact nearest other points of each of `rows` (the package's one exact k-NN)."""
    return exact_neighbours(vectors[rows], vectors, k, exclude=[np.array([row]) for row in rows])[0]


def graph_recall(graph: np.ndarray, truth: np.ndarray, rows: np.ndarray) -> float:
    """Recall of the other neighbours in the graph rows (self excluded) against exact ones."""
    k = truth.shape[1]
    hits = 0
    for row, expected in zip(rows, truth):
        found = [j for j in graph[row] if j != row][:k]
        hits += len(set(found) & set(expected.tolist()))
    return hits / truth.size


def plain_umap(vectors: np.ndarray, dims: int = 2):
    import umap

    reducer = umap.UMAP(n_components=dims, n_neighbors=N_NEIGHBORS, min_dist=MIN_DIST, metric="cosine",
                        low_memory=True, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coords = reducer.fit_transform(vectors)
    return np.asarray(coords, np.float32), getattr(reducer, "_knn_indices", None)


def nndescent_graph(vectors: np.ndarray) -> np.ndarray:
    """The neighbour graph umap-learn builds inside fit (same call and arguments), alone."""
    from umap.umap_ import nearest_neighbors

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        indices, _, _ = nearest_neighbors(vectors, N_NEIGHBORS, "cosine", {}, False, np.random.RandomState(),
                                          low_memory=True, use_pynndescent=True, n_jobs=-1)
    return indices


def trust(vectors, coords, rows) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(vectors[rows], coords[rows], n_neighbors=10, metric="cosine"))


def warm_up() -> None:
    rng = np.random.default_rng(0)
    # 5,000 points: above 4,096 umap-learn uses NN-descent, whose compilation must not be timed either.
    x = rng.standard_normal((5000, 64)).astype(np.float32)
    x = l2_normalize(x)
    plain_umap(x)
    nndescent_graph(x)
    umap_layout(x, 2, knn=knn_graph(x, N_NEIGHBORS))


def run_size(vectors: np.ndarray) -> tuple[dict, np.ndarray]:
    n = len(vectors)
    rng = np.random.default_rng(SEED + n)
    trust_rows = np.sort(rng.choice(n, min(TRUST_SAMPLE, n), replace=False))
    recall_rows = np.sort(rng.choice(n, min(RECALL_SAMPLE, n), replace=False))
    truth = exact_others(vectors, recall_rows, N_NEIGHBORS - 1)
    result = {"n": n}

    with Measured() as plain_time:
        plain_coords, plain_graph = plain_umap(vectors)
    with Measured() as nnd_time:
        nnd_graph = nndescent_graph(vectors)
    result["plain"] = {**plain_time.record(), "trustworthiness": trust(vectors, plain_coords, trust_rows),
                       "graph_recall": graph_recall(plain_graph if plain_graph is not None else nnd_graph, truth,
                                                    recall_rows),
                       "graph_alone": nnd_time.record(), "graph": "pynndescent NN-descent (umap-learn's own)"}
    print(f"  plain umap-learn: {plain_time.seconds:.1f} s (its neighbour graph alone: {nnd_time.seconds:.1f} s)",
          flush=True)

    with Measured() as knn_time:
        graph = knn_graph(vectors, N_NEIGHBORS)
    with Measured() as layout_time:
        coords = umap_layout(vectors, 2, knn=graph)
    result["faiss"] = {
        "seconds": round(knn_time.seconds + layout_time.seconds, 3), "knn": knn_time.record(),
        "layout": layout_time.record(), "trustworthiness": trust(vectors, coords, trust_rows),
        "graph_recall": graph_recall(graph[0], truth, recall_rows),
        "graph": "FAISS exact (IndexFlatIP)" if n < EXACT_KNN_BELOW else
                 f"FAISS HNSW{HNSW_M} (efConstruction {HNSW_EF_CONSTRUCTION}, efSearch {HNSW_EF_SEARCH})",
    }
    print(f"  FAISS kNN + UMAP: {knn_time.seconds:.1f} s + {layout_time.seconds:.1f} s", flush=True)
    return result, coords


def placement_error(vectors: np.ndarray, coords: np.ndarray, rows: np.ndarray, weights) -> dict:
    """Leave-one-out: each row placed by its PLACE_K nearest OTHER mapped items; the distance to its
    own position, divided by the map's median radius (distance of a point to the map's centre)."""
    from embedspace.explore.projection import PLACE_K

    sims = vectors[rows] @ vectors.T
    sims[np.arange(len(rows)), rows] = -np.inf
    top = np.argpartition(-sims, PLACE_K, axis=1)[:, :PLACE_K]
    top_sims = np.take_along_axis(sims, top, axis=1)
    w = weights(top_sims)
    placed = np.einsum("nk,nkd->nd", w / w.sum(axis=1, keepdims=True), coords[top])
    radius = np.median(np.linalg.norm(coords - coords.mean(axis=0), axis=1))
    errors = np.linalg.norm(placed - coords[rows], axis=1) / radius
    return {"median": round(float(np.median(errors)), 4), "p90": round(float(np.percentile(errors, 90)), 4)}


def placement(vectors: np.ndarray, coords: np.ndarray, queries: np.ndarray) -> dict:
    pmap = ProjectionMap(np.arange(len(vectors)), coords, MapParams(sample=None), len(vectors), vectors)
    pmap.place(queries[:5])  # first-call costs out of the timing
    times = []
    with Measured() as total:
        for i in range(PLACE_REPEATS):
            query = queries[i % len(queries)]
            start = time.perf_counter()
            pmap.place(query[None, :])
            times.append((time.perf_counter() - start) * 1000)
    batch_start = time.perf_counter()
    pmap.place(queries)
    batch_ms = (time.perf_counter() - batch_start) * 1000
    from embedspace.explore.projection import placement_weights

    rows = np.random.default_rng(SEED).choice(len(vectors), min(1000, len(vectors)), replace=False)
    errors = {"softmax weights (ours)": placement_error(vectors, coords, rows, placement_weights),
              "cosine weights": placement_error(vectors, coords, rows, lambda s: np.clip(s, 1e-6, None)),
              "nearest item only": placement_error(vectors, coords, rows,
                                                   lambda s: (s == s.max(axis=1, keepdims=True)).astype(float))}
    return {"map_points": len(vectors), "one_query_ms_median": round(float(np.median(times)), 3),
            "leave_one_out_error": errors,
            "one_query_ms_p90": round(float(np.percentile(times, 90)), 3), "calls": PLACE_REPEATS,
            f"{len(queries)}_queries_in_one_call_ms": round(batch_ms, 1), "load": total.record()}


def machine() -> dict:
    from embedspace.runtime import cpu_model

    model = cpu_model()
    from importlib.metadata import version

    return {"cpu_model": model, "cores_usable": len(os.sched_getaffinity(0)), "python": platform.python_version(),
            "versions": {p: version(p) for p in ("umap-learn", "pynndescent", "numba", "faiss-cpu", "numpy",
                                                 "scikit-learn")},
            "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                                                   "EMBEDSPACE_THREADS")},
            "date": _dt.datetime.now().isoformat(timespec="seconds")}


EVERY_ITEM_SAMPLE = 10_000


def every_item(index_dir: Path, name: str, limit: int | None) -> dict:
    """The layout of every item: its time, and its trustworthiness against a fresh layout of a sample."""
    from embedspace.explore.layout import compute_layout, stored_map
    from embedspace.index.store import Index

    index = Index.open(name, index_dir)
    n = min(limit or len(index), len(index))
    vectors = index.vectors_f32(np.arange(n))
    rng = np.random.default_rng(SEED)
    with Measured() as compile_once:
        x = l2_normalize(rng.standard_normal((5000, 64)).astype(np.float32))
        umap_layout(x, 2)  # NN-descent path and layout: numba's compile, alone
    with Measured() as whole:
        coords, meta = compute_layout(vectors)
    stored = stored_map(index) if limit is None else None
    if stored is not None:
        coords = stored.coords
    sample = np.sort(rng.choice(n, size=min(EVERY_ITEM_SAMPLE, n), replace=False))
    with Measured() as fresh_time:
        fresh = umap_layout(vectors[sample], 2)
    points = rng.choice(len(sample), size=min(TRUST_SAMPLE, len(sample)), replace=False)
    return {"index": name, "items": n, "graph": meta["graph"], "compile_warm_up": compile_once.record(),
            "layout_every_item": whole.record(), "layout_used_for_trust": "stored" if stored is not None else "computed",
            "sample": len(sample), "fresh_sample_layout": fresh_time.record(),
            "trustworthiness_every_item_layout": trust(vectors, coords, sample[points]),
            "trustworthiness_fresh_sample_layout": trust(vectors[sample], fresh, points),
            "note": f"trustworthiness n_neighbors=10, cosine, on the same {len(points):,} sampled items"}


def browser_draw() -> dict:
    """plotly.js drawing 250,000 synthetic points in headless Chromium (map_browser.draw_points)."""
    sys.path.insert(0, str(Path(__file__).parent))
    from map_browser import draw_points

    return draw_points(250_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,50000,100000", help="comma-separated sizes")
    parser.add_argument("--every-item", action="store_true", help="lay out every item of an index (issue 17)")
    parser.add_argument("--index-dir", default=str(ROOT / "indexes"))
    parser.add_argument("--name", default="demo")
    parser.add_argument("--limit", type=int, help="--every-item on the first N items only (a smoke run)")
    args = parser.parse_args()
    if args.every_item:
        report = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        report["every_item"] = {"machine": machine(), **every_item(Path(args.index_dir), args.name, args.limit),
                                "browser_draw": browser_draw()}
        if args.limit is None:  # a smoke run is printed, not recorded
            RESULTS.write_text(json.dumps(report, indent=2))
        print(json.dumps(report["every_item"], indent=2))
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    data, held_out, source = datasets(sizes)
    report = {"machine": machine(), "data": source, "umap": {"n_neighbors": N_NEIGHBORS, "min_dist": MIN_DIST,
              "metric": "cosine", "dims": 2}, "trustworthiness": f"n_neighbors=10, cosine, on {TRUST_SAMPLE:,} random "
              "mapped points", "graph_recall": f"recall@{N_NEIGHBORS - 1} of the graph's other neighbours vs exact, on "
              f"{RECALL_SAMPLE:,} random points", "sizes": [], "load_at_start": os.getloadavg()}
    print("warming up numba (not timed)…", flush=True)
    warm_up()
    for size in sizes:
        print(f"{size:,} vectors", flush=True)
        result, coords = run_size(data[size])
        result["placement"] = placement(data[size], coords, held_out)
        report["sizes"].append(result)
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(report, indent=2))
    print_table(report)


def print_table(report: dict) -> None:
    print(f"\n{'n':>8} | {'plain s':>8} (graph) {'trust':>6} {'recall':>6} | {'faiss s':>8} (knn + layout) "
          f"{'trust':>6} {'recall':>6} | place ms | others' CPU share (plain / faiss)")
    for r in report["sizes"]:
        p, f = r["plain"], r["faiss"]
        print(f"{r['n']:>8,} | {p['seconds']:>8.1f} ({p['graph_alone']['seconds']:.1f}) {p['trustworthiness']:>6.3f} "
              f"{p['graph_recall']:>6.3f} | "
              f"{f['seconds']:>8.1f} ({f['knn']['seconds']:.1f} + {f['layout']['seconds']:.1f}) "
              f"{f['trustworthiness']:>6.3f} {f['graph_recall']:>6.3f} | {r['placement']['one_query_ms_median']:>8.2f} | "
              f"{p['others_cpu_share']:.2f} / {f['layout']['others_cpu_share']:.2f}")
    print("\nplacing mapped items without themselves: median (p90) distance to their own position / map radius")
    for r in report["sizes"]:
        errors = r["placement"]["leave_one_out_error"]
        print(f"{r['n']:>8,} | " + " | ".join(f"{name} {e['median']:.3f} ({e['p90']:.3f})" for name, e in errors.items()))


if __name__ == "__main__":
    main()
