"""What checking an index costs at open: the stat check of format 2 against re-hashing every byte.

An index of N random unit vectors (384-d, float16 on disk, a flat FAISS index: 1.5 KiB + 0.8 KiB
a vector) is written once with the real writer (embedspace.index.store.write_index). Then, each
--runs times, in this process:

    stat check          store._check_files(every_byte=False): what Index.open does (a few os.stat)
    every byte          store._check_files(every_byte=True): what `embedspace verify` does, and what
                        every open did before format 2 when the checksum memo missed (the baseline)
    Index.open          the whole open with the stat check (reads items.parquet, maps the rest)

The file cache is warm for all three (the files were just written and read), so "every byte" is
the best case of a re-read: from a cold disk it is slower still.

    .venv/bin/python benchmarks/index_open.py [N]     # default 1,000,000; run with nothing else busy
Results: printed and written to benchmarks/results/index_open.json, with the machine and its load.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedspace.artifacts import save_json  # noqa: E402
from embedspace.index import store  # noqa: E402
from embedspace.runtime import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "index_open.json"
DIM = 384


def write_random_index(path: Path, n: int) -> None:
    import faiss
    import pandas as pd

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    flat = faiss.IndexFlatIP(DIM)
    flat.add(vectors)
    items = pd.DataFrame({"id": np.arange(n), "key": [f"k{i}" for i in range(n)], "kind": "text",
                          "text": [f"item {i}" for i in range(n)], "lang": "en", "label": None, "concept": None,
                          "path": None, "source": "random"})
    manifest = {"space_id": "random", "space_spec": "random", "dim": DIM, "next_id": n,
                "index": {"kind": "flat", "factory": "Flat", "reason": "benchmark", "requested": "flat"}}
    store.write_index(path, items, vectors, [flat], manifest, [])


def timed(fn, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return {"runs": runs, "p50_s": round(float(np.median(seconds)), 6), "max_s": round(float(max(seconds)), 6)}


def main(n: int = 1_000_000, runs: int = 5) -> dict:
    before = machine()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench"
        write_random_index(path, n)
        snapshot = store.current_snapshot(path)
        manifest = store._read_manifest("bench", snapshot)
        size = sum((snapshot.folder / f).stat().st_size for f in manifest["files"])
        rows = {
            "stat check": timed(lambda: store._check_files("bench", snapshot, manifest, every_byte=False), runs),
            "every byte": timed(lambda: store._check_files("bench", snapshot, manifest, every_byte=True), runs),
            "Index.open": timed(lambda: store.Index.open("bench", tmp), runs),
        }
    for name, row in rows.items():
        print(f"{name:12} p50 {row['p50_s'] * 1000:9.3f} ms   max {row['max_s'] * 1000:9.3f} ms", flush=True)
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": before,
              "load_after": machine()["load_1min"], "items": n, "dim": DIM, "bytes_checked": size, "results": rows}
    save_json(RESULTS, result)
    print(f"{n:,} items, {size / 2**20:,.0f} MiB; load {before['load_1min']} -> {result['load_after']}; saved {RESULTS}")
    return result


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
