"""Single-query latency: FAISS's default OpenMP width (every core) vs embedspace's search, which runs
batches under 20 queries on one thread (faiss_index.ONE_THREAD_BELOW).

Both are measured in the same run, on the same indexes and queries, on an idle machine and again
with --busy busy-looping processes beside it (what a shared server or a build running next to the
app looks like):
    flat   IndexFlatIP over N random unit vectors (512-d; a flat search's time does not depend
           on the data), N in --sizes
    hnsw   the HNSW index embedspace builds (HNSW32, efSearch 64) over the first --hnsw-size of them
Per setting: p50 / p90 ms of --queries single-query calls, and ms of one call with a batch of 200
(which both settings run on every core).

    .venv/bin/python benchmarks/search_threads.py                 # ~2 min on 2 cores
Results: printed and written to benchmarks/results/search_threads.json.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedspace.artifacts import save_json  # noqa: E402
from embedspace.index.faiss_index import faiss_search  # noqa: E402
from embedspace.runtime import machine  # noqa: E402
from embedspace.vectors import l2_normalize  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "search_threads.json"
BATCH = 200


def busy_loop():
    while True:
        pass


def unit_rows(rng, n, dim):
    return l2_normalize(rng.standard_normal((n, dim)))


def latencies(search, queries, count):
    out = []
    for q in queries[:count]:
        start = time.perf_counter()
        search(q[None, :])
        out.append((time.perf_counter() - start) * 1000)
    return out


def measure(name, index, kind, queries, count) -> list:
    import faiss

    rows = []
    default = faiss.omp_get_max_threads()
    settings = (("FAISS default threads", lambda q: index.search(q, 10)),
                ("embedspace faiss_search", lambda q: faiss_search(index, q, 10, kind)))
    for label, search in settings:
        faiss.omp_set_num_threads(default)
        search(queries[:1])  # warm up
        single = latencies(search, queries, count)
        start = time.perf_counter()
        search(queries[:BATCH])
        batch_ms = (time.perf_counter() - start) * 1000
        rows.append({"index": name, "setting": label, "single_p50_ms": round(float(np.median(single)), 2),
                     "single_p90_ms": round(float(np.percentile(single, 90)), 2), "batch_200_ms": round(batch_ms, 1),
                     "threads_default": default})
        print(f"  {name:<14}{label:<26}single p50 {rows[-1]['single_p50_ms']:>8.2f} ms  p90 "
              f"{rows[-1]['single_p90_ms']:>8.2f} ms   batch of {BATCH}: {batch_ms:>8.1f} ms", flush=True)
    return rows


def main(argv=None) -> None:
    import faiss

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,200000")
    parser.add_argument("--hnsw-size", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--busy", type=int, default=2, help="busy processes for the loaded run (0: idle only)")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(0)
    sizes = [int(s) for s in args.sizes.split(",")]
    vectors = unit_rows(rng, max(sizes), 512)
    queries = unit_rows(rng, max(args.queries, BATCH), 512)
    indexes = []
    for n in sizes:
        flat = faiss.IndexFlatIP(512)
        flat.add(vectors[:n])
        indexes.append((f"flat {n // 1000}k", flat, "flat"))
    hnsw = faiss.IndexHNSWFlat(512, 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 80
    hnsw.add(vectors[:args.hnsw_size])
    hnsw.hnsw.efSearch = 64
    indexes.append((f"hnsw {args.hnsw_size // 1000}k", hnsw, "hnsw"))

    runs = []
    for busy in ([0, args.busy] if args.busy else [0]):
        workers = [multiprocessing.Process(target=busy_loop, daemon=True) for _ in range(busy)]
        for w in workers:
            w.start()
        try:
            time.sleep(2 if busy else 0)
            print(f"{busy} busy process(es) beside the benchmark")
            info = machine()
            rows = [row for name, index, kind in indexes for row in measure(name, index, kind, queries, args.queries)]
            runs.append({"busy_processes": busy, "machine": info, "rows": rows})
        finally:
            for w in workers:
                w.terminate()
    save_json(RESULTS, {"date": datetime.now(UTC).isoformat(timespec="seconds"),
                        "command": "python benchmarks/search_threads.py " + " ".join(argv or sys.argv[1:]),
                        "runs": runs})
    print(f"saved to {RESULTS}")


if __name__ == "__main__":
    main()
