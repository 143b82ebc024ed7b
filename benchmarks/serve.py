"""The HTTP API under load, beside the same searches through the Python API, in one run.

Search by text, end to end, both ways, k=10, the same fixed queries (words and short phrases in
12 languages, cycled):

    python API   query.search(index, space, text, k=10) in this process, from C threads
    HTTP         POST /indexes/NAME/search {"text", "k": 10} to `embedspace serve` started here on
                 a free loopback port (127.0.0.1 only), from C client threads, each with its own
                 keep-alive connection (http.client); a request counts when its JSON answer is read
                 and parsed, and any answer other than 200 fails the run

at C = 1, 8 and 32 concurrent clients. At each level the two ways take --rounds turns (the first
alternating), so both see the same moments of a machine whose speed drifts (on this VM one way
measured alone moved by 2x between runs minutes apart). A level runs for --seconds a way over all
its turns (at most --max-requests a client), each turn after a warm-up.
Per level: p50 / p99 latency (ms) and requests/s. The check: single-client HTTP p50 at most 2 x
the in-process p50.

    .venv/bin/python benchmarks/serve.py                        # the demo index (make serve builds it)
    .venv/bin/python benchmarks/serve.py --index words --index-dir /tmp/x --seconds 3   # a quick check
    .venv/bin/python benchmarks/serve.py --wait-quiet 120       # on a shared machine: wait for quiet first

Results: printed and written to benchmarks/results/serve.json (--out), with the machine and its
load before and after. Exit status 1 if a request failed or the 2 x check does not hold.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tests"))  # serve.serving: the tests' live server, started and stopped the same way

from embed_throughput import wait_until_quiet  # noqa: E402
from serve.serving import live_server  # noqa: E402

from embedspace import query  # noqa: E402
from embedspace.artifacts import save_json  # noqa: E402
from embedspace.index import Index  # noqa: E402
from embedspace.runtime import machine  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "serve.json"
QUERIES = [
    "dog", "perro", "Hund", "chien", "cane", "cão", "собака", "狗", "犬", "개", "كلب", "köpek",
    "umbrella", "paraguas", "Regenschirm", "parapluie", "ombrello", "guarda-chuva", "зонт", "雨伞", "傘", "우산",
    "a red apple", "una manzana roja", "ein roter Apfel", "une pomme rouge", "the king and the queen",
    "el rey y la reina", "der König und die Königin", "water", "agua", "Wasser", "eau", "acqua", "água", "вода",
    "水", "물", "ماء", "su", "happy face", "cara feliz",
]
K = 10


class HttpClient:
    """One keep-alive connection: a search is a POST whose JSON answer is read and parsed."""

    def __init__(self, port: int, name: str):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.path = f"/indexes/{name}/search"

    def search(self, text: str) -> None:
        body = json.dumps({"text": text, "k": K}).encode()
        self.connection.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200 or len(answer["results"]) != K:
            raise RuntimeError(f"HTTP {response.status}: {answer}")

    def close(self) -> None:
        self.connection.close()


class PythonClient:
    def __init__(self, index, space):
        self.index, self.space = index, space

    def search(self, text: str) -> None:
        if len(query.search(self.index, self.space, text, k=K)["results"]) != K:
            raise RuntimeError(f"fewer than {K} results for {text!r}")

    def close(self) -> None:
        pass


def run_level(make_client, clients: int, seconds: float, max_requests: int) -> dict:
    """`clients` threads, each searching the cycled queries until the time or its request cap is up."""
    latencies, errors = [[] for _ in range(clients)], []
    barrier = threading.Barrier(clients + 1)  # every client warmed up, then all start at once

    def work(number: int):
        client = make_client()
        try:
            for text in QUERIES[:3]:  # warm-up: the connection, the caches
                client.search(text)
            barrier.wait()
            deadline = time.perf_counter() + seconds
            mine, position = latencies[number], number * 7
            while len(mine) < max_requests and time.perf_counter() < deadline:
                text = QUERIES[position % len(QUERIES)]
                position += 1
                started = time.perf_counter()
                client.search(text)
                mine.append(time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and fails the run
            errors.append(repr(exc))
            if barrier.n_waiting and not barrier.broken:
                barrier.abort()
        finally:
            client.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    ms = np.concatenate([np.asarray(x) for x in latencies]) * 1000 if any(latencies) else np.zeros(0)
    return {"ms": ms, "seconds": elapsed, "errors": errors}


def summary(clients: int, runs: list) -> dict:
    """One way at one level, over its rounds: the latencies pooled, requests/s over the time of all rounds."""
    ms = np.concatenate([run["ms"] for run in runs])
    elapsed = sum(run["seconds"] for run in runs)
    errors = [e for run in runs for e in run["errors"]]
    return {"clients": clients, "rounds": len(runs), "requests": int(len(ms)), "seconds": round(elapsed, 2),
            "requests_per_s": round(len(ms) / elapsed, 1) if elapsed else 0.0,
            "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
            "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
            "errors": errors[:5], "error_count": len(errors)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", default="demo")
    ap.add_argument("--index-dir", default=str(ROOT / "indexes"))
    ap.add_argument("--concurrency", default="1,8,32", help="client counts (default 1,8,32)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per level and way, over all rounds (default 10)")
    ap.add_argument("--rounds", type=int, default=4, help="the two ways take turns this many times a level, so "
                    "both see the same moments of a noisy machine (default 4)")
    ap.add_argument("--max-requests", type=int, default=2000, help="per client and level (default 2000)")
    ap.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                    help="first wait up to this long for other processes to use under 10%% of the CPU")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    waited = wait_until_quiet(args.wait_quiet)
    before = machine()
    index = Index.open(args.index, args.index_dir)
    space = index.load_space()
    log = Path(args.out).with_suffix(".server.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with live_server(args.index_dir, "--host", "127.0.0.1", timeout=300, log=log) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        print(f"index {args.index}: {len(index):,} items, {index.kind}; server on {url}", flush=True)
        ways = {"python": lambda: PythonClient(index, space), "http": lambda: HttpClient(port, args.index)}
        for clients in levels:
            runs = {way: [] for way in ways}
            for number in range(args.rounds):  # turns, the first way alternating: neither always goes first
                for way in (list(ways) if number % 2 == 0 else list(ways)[::-1]):
                    runs[way].append(run_level(ways[way], clients, args.seconds / args.rounds,
                                               max(args.max_requests // args.rounds, 1)))
            for way in ways:
                row = {"way": way, **summary(clients, runs[way])}
                rows.append(row)
                print(f"  {way:<6} {clients:>3} clients: p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                      f"{row['requests_per_s']} req/s  ({row['requests']} requests in {row['rounds']} turns, "
                      f"{row['error_count']} errors)", flush=True)
    after = machine()

    by = {(r["way"], r["clients"]): r for r in rows}
    single = (by.get(("http", 1)), by.get(("python", 1)))
    ratio = round(single[0]["p50_ms"] / single[1]["p50_ms"], 2) if all(single) and single[1]["p50_ms"] else None
    failed = sum(r["error_count"] for r in rows)
    result = {
        "benchmark": "serve", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "index": {"name": args.index, "items": len(index), "kind": index.kind, "space_id": index.space_id},
        "method": {"queries": len(QUERIES), "k": K, "seconds_per_level": args.seconds, "rounds": args.rounds,
                   "max_requests_per_client": args.max_requests, "http_client": "http.client keep-alive, one "
                   "connection per client thread", "server": "embedspace serve on 127.0.0.1 (uvicorn, 1 process)"},
        "levels": rows, "single_client_http_over_python_p50": ratio,
        "check": {"rule": "single-client HTTP p50 <= 2 x in-process p50", "holds": ratio is not None and ratio <= 2.0},
        "failed_requests": failed, "waited_for_quiet_s": round(waited, 1),
        "machine_before": before, "machine_after": after,
    }
    save_json(Path(args.out), result)
    print(f"single-client HTTP p50 / in-process p50 = {ratio} (must be <= 2); failed requests: {failed}")
    print(f"load 1 min: {before.get('load_1min')} before, {after.get('load_1min')} after; wrote {args.out}")
    return 0 if result["check"]["holds"] and not failed else 1


if __name__ == "__main__":
    sys.exit(main())
