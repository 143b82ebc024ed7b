"""A multi-node Ray check: a Ray build that loses a node mid-way still gives the sequential index.

    .venv/bin/python benchmarks/ray_multinode.py               # ~2 min on 2 cores; exit 1 if the check fails
    .venv/bin/python benchmarks/ray_multinode.py --keep        # keep the temporary folder (Ray's logs) to look at

Everything happens in one temporary folder under /tmp (Ray's own session files too, kept short
for Ray's socket paths), removed at the end unless --keep:

1. A corpus of frequent words in 8 languages (wordfreq, benchmarks/scale.py's corpus) and the
   reference index, built by the sequential runner (`embedspace build ... --index-type flat`).
2. A Ray cluster of two nodes on this machine, each started with `ray start` and its own
   --temp-dir: the head (`--head --num-cpus 1`) and a second node (`--address HEAD --num-cpus 1`).
   The runner asks for one actor per CPU, so each node holds one actor. Token authentication
   with a token of this run's own (RAY_AUTH_TOKEN), free ports, no usage stats.
3. `embedspace build NAME SOURCE --runner ray --address auto`, as a subprocess; RAY_ADDRESS
   names this cluster, so `auto` cannot join another Ray cluster running on the machine.
4. Once a quarter of the chunks are staged (--kill-after) and the second node's actor is alive,
   every process of the second node gets SIGKILL at once: its raylet (with its object store), its
   workers, its agents and its log monitor, as if the machine had gone. Not `ray stop`: that stops
   every Ray process on the machine, the head's and other users' too.
5. The build has to finish by itself (no --resume). Then both indexes are compared with the
   tolerances of docs/scale-out.md "Reproducibility" (tests/reproducibility.py, the tests' own
   checks): items and skips byte-identical, vectors within 1e-6 (plus one float16 step), search
   scores within 1e-4 with near-ties allowed to swap.

Whose processes: the script makes itself a child subreaper (Linux prctl), so the daemons that
`ray start` leaves behind become its children. A node's processes are the ones its `ray start`
added plus their descendants; at the end the script stops its own descendants and nothing else,
so Ray clusters of other users or tests on the machine are left alone.

Output: a summary on stdout, benchmarks/results/ray_multinode.json (every figure, the machine and
its load, the nodes, what was killed) and ray_multinode.txt (the summary).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # reproducibility.py: the tests' comparison of two builds

from reproducibility import EXACT_FILES, SCORE_ATOL, VECTOR_ATOL, assert_same_index, assert_same_results  # noqa: E402
from scale import corpus  # noqa: E402

from embedspace.runtime import load_now, machine  # noqa: E402

RESULTS = HERE / "results" / "ray_multinode.json"
NAME = "multi"
PR_SET_CHILD_SUBREAPER = 36
QUERIES = ["perro", "house", "Wasser", "ciudad", "money", "Kind", "rojo", "school", "maison", "libro", "amore",
           "книга", "zaman", "água", "Zeit", "noite", "family", "música", "gato", "страна"]


# -- output -------------------------------------------------------------------------------------
class Log:
    """Prints a line and keeps it for ray_multinode.txt."""

    def __init__(self):
        self.lines = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)


say = Log()


# -- this run's processes, from /proc ------------------------------------------------------------
def become_subreaper() -> None:
    """Orphans below this process (the daemons `ray start` leaves) are re-parented here, not to init."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed: this check needs Linux")


def process_table() -> dict:
    """pid -> (parent pid, command line) of every live process."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
            if fields[0] == "Z":
                continue  # exited, waiting to be reaped: not a live process
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            table[int(entry.name)] = (int(fields[1]), command)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return table


def descendants(roots, table: dict) -> set:
    found, frontier = set(), set(roots)
    while frontier:
        found |= frontier
        frontier = {pid for pid, (parent, _) in table.items() if parent in frontier} - found
    return found


def own_processes() -> set:
    table = process_table()
    return descendants({os.getpid()}, table) - {os.getpid()}


def describe(pids, table: dict) -> list:
    return [{"pid": pid, "command": table[pid][1][:160]} for pid in sorted(pids) if pid in table]


def reap(pids) -> None:
    """Collect the exit status of processes that are children of this one (only these pids: a
    blanket wait would steal the build subprocess's status from subprocess.Popen)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def stop_own_processes(grace: float = 10.0) -> list:
    """SIGTERM, then SIGKILL, to every descendant of this process: the whole temporary cluster."""
    pids = own_processes()
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 2.0)
        while time.monotonic() < deadline:
            reap(pids)
            pids = own_processes() & pids
            if not pids:
                break
            time.sleep(0.2)
    reap(pids)
    while True:  # every child is finished by now (no subprocess.Popen left to confuse): reap the rest
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return sorted(pids)  # the ones still there after SIGKILL (none expected)


# -- the cluster ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def ray_start(arguments: list, env: dict, label: str) -> set:
    """Run `ray start ...`; returns the pids of the daemons it left (children of this process now)."""
    before = own_processes()
    done = subprocess.run([str(Path(sys.executable).parent / "ray"), "start", *arguments], env=env,
                          capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"ray start ({label}) failed:\n{done.stderr[-3000:]}")
    time.sleep(1.0)  # the agents the raylet starts; they are found again as its descendants at kill time
    return own_processes() - before


def raylet_of(daemons: set, table: dict) -> tuple[int, str]:
    for pid in daemons:
        command = table.get(pid, (0, ""))[1]
        if command.split(" ", 1)[0].endswith("/raylet"):
            node_id = next(a.split("=", 1)[1] for a in command.split() if a.startswith("--node_id="))
            return pid, node_id
    raise RuntimeError("the second node's raylet was not found among the processes its `ray start` left")


NODES_SCRIPT = """
import json, logging, ray
ray.init(address="auto", log_to_driver=False, logging_level=logging.ERROR)
print(json.dumps([{"node_id": n["NodeID"], "alive": n["Alive"], "cpus": n["Resources"].get("CPU", 0),
                   "head": "node:__internal_head__" in n["Resources"], "node_manager_port": n["NodeManagerPort"]}
                  for n in ray.nodes()]))
"""


def cluster_nodes(env: dict) -> list:
    """The nodes the cluster's GCS knows (asked by a short-lived driver)."""
    done = subprocess.run([sys.executable, "-c", NODES_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"listing the Ray nodes failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the builds -----------------------------------------------------------------------------------
def build_command(source: Path, root: Path, args, *extra) -> list:
    return [sys.executable, "-m", "embedspace.cli", "build", NAME, str(source), "--space", args.space,
            "--lang-column", "lang", "--chunk-size", str(args.chunk_size), "--index-type", "flat", "--quiet",
            "--index-dir", str(root), *extra]


def staged_chunks(root: Path) -> int:
    return len(list((root / f".{NAME}.build").glob("chunk-*.json")))


def actor_processes(pids: set, table: dict) -> set:
    """Ray worker processes that hold an actor (their title names it; idle workers are ray::IDLE)."""
    agents = ("ray::IDLE", "ray::DashboardAgent", "ray::RuntimeEnvAgent")
    return {pid for pid in pids if table.get(pid, (0, ""))[1].startswith("ray::")
            and not table[pid][1].startswith(agents)}


def kill_node(daemons: set, raylet: int) -> dict:
    """SIGKILL every process of the node at once, its raylet first: a machine that went away."""
    table = process_table()
    node = descendants(daemons, table)
    killed = describe(node, table)
    for pid in [raylet, *sorted(node - {raylet})]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    reap(node)
    return {"processes": killed, "actors": describe(actor_processes(node, table), table)}


def run_ray_build(source: Path, root: Path, args, env: dict, second: set, raylet: int, chunks_expected: int) -> dict:
    """The Ray build, with the second node killed mid-way; returns what happened."""
    log_path = root.parent / "ray-build.log"
    kill_at = max(1, round(chunks_expected * args.kill_after))
    started = time.perf_counter()
    with open(log_path, "w") as log:
        build = subprocess.Popen(build_command(source, root, args, "--runner", "ray", "--address", "auto"),
                                 env=env, stdout=log, stderr=subprocess.STDOUT)
        kill = None
        while build.poll() is None and time.perf_counter() - started < args.timeout:
            if kill is None and staged_chunks(root) >= kill_at:
                table = process_table()
                if actor_processes(descendants(second, table), table):
                    staged = staged_chunks(root)
                    kill = {"after_seconds": round(time.perf_counter() - started, 2), "chunks_staged": staged,
                            **kill_node(second, raylet)}
                    say(f"   killed the second node after {kill['after_seconds']} s, {staged} of ~{chunks_expected} "
                        f"chunks staged: {len(kill['processes'])} processes (SIGKILL)")
            time.sleep(0.05)
        hung = build.poll() is None
        if hung:
            build.kill()
        returncode = build.wait()
    seconds = time.perf_counter() - started
    return {"returncode": returncode, "hung": hung, "seconds": round(seconds, 2), "kill": kill,
            "log_tail": log_path.read_text()[-3000:]}


def runner_stats(root: Path) -> dict:
    from embedspace.index import read_manifest

    return read_manifest(NAME, root)["builds"][-1].get("runner", {})


def current_folder(root: Path) -> Path:
    """The folder of the index's current generation (docs/indexes.md, "On disk")."""
    from embedspace.index.store import Index

    return Index.open(NAME, root).folder


# -- the comparison -------------------------------------------------------------------------------
def compare(ref_root: Path, ray_root: Path) -> dict:
    """The tolerances' verdict (the tests' own assertions) and the figures behind it."""
    from embedspace import query
    from embedspace.index.store import Index

    out = {"vector_atol": VECTOR_ATOL, "score_atol": SCORE_ATOL, "failures": []}
    try:
        assert_same_index(ref_root, NAME, ray_root, NAME)
    except AssertionError as exc:
        out["failures"].append(f"index: {exc}")
    ref_folder, ray_folder = current_folder(ref_root), current_folder(ray_root)
    a, b = np.load(ref_folder / "vectors.npy"), np.load(ray_folder / "vectors.npy")
    out["items"] = [len(a), len(b)]
    for file in EXACT_FILES:
        out[f"{file} identical"] = (ref_folder / file).read_bytes() == (ray_folder / file).read_bytes()
    if a.shape == b.shape:
        diff = np.abs(a.astype(np.float32) - b.astype(np.float32))
        out.update({"vectors_max_abs_diff": float(diff.max()), "vector_values_differing": int((diff > 0).sum()),
                    "vector_values": int(diff.size), "rows_differing": int((diff > 0).any(axis=1).sum())})
    index_a, index_b = Index.open(NAME, ref_root), Index.open(NAME, ray_root)
    space = index_a.load_space()
    found_a = query.search_many(index_a, space, texts=QUERIES, k=10)
    found_b = query.search_many(index_b, space, texts=QUERIES, k=10)
    try:
        assert_same_results(found_a, found_b, SCORE_ATOL)
    except AssertionError as exc:
        out["failures"].append(f"search: {exc}")
    pairs = [(ra, rb) for qa, qb in zip(found_a, found_b) for ra, rb in zip(qa["results"], qb["results"])]
    out.update({"queries": len(QUERIES), "k": 10,
                "scores_max_abs_diff": max(abs(ra["score"] - rb["score"]) for ra, rb in pairs),
                "ranks_with_another_item": sum(ra["id"] != rb["id"] for ra, rb in pairs),
                "queries_with_identical_ids": sum([r["id"] for r in qa["results"]] == [r["id"] for r in qb["results"]]
                                                  for qa, qb in zip(found_a, found_b))})
    return out


# -- the check --------------------------------------------------------------------------------------
def check(args, work: Path, record: dict) -> list:
    """Runs steps 1-5; returns the failures (empty: the check passed)."""
    failures = []
    source = corpus(work / "corpus.csv", args.texts)
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32),  # this cluster's own, not ~/.ray/auth_token
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}

    say(f"1. reference: sequential build of {args.texts:,} texts ({args.space}, chunks of {args.chunk_size})")
    started = time.perf_counter()
    done = subprocess.run(build_command(source, work / "seq", args), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the sequential build failed:\n{done.stderr[-3000:]}")
    items = len(np.load(current_folder(work / "seq") / "vectors.npy", mmap_mode="r"))
    chunks_expected = -(-items // args.chunk_size)  # about: read-time skips take chunk places too
    record["reference"] = {"seconds": round(time.perf_counter() - started, 2), "items": items,
                           "load_after": load_now()}
    say(f"   {items:,} items in {record['reference']['seconds']} s")

    say("2. a two-node cluster on this machine, each node started with `ray start`, 1 CPU each")
    port = free_port()
    head = ray_start(["--head", "--port", str(port), "--num-cpus", "1", "--temp-dir", str(work / "head"),
                      "--include-dashboard", "false", "--dashboard-port", str(free_port()),
                      "--dashboard-agent-listen-port", str(free_port()), "--object-store-memory", str(args.store_bytes),
                      "--disable-usage-stats"], env, "head")
    address = (work / "head" / "ray_current_cluster").read_text().strip()  # the head's node IP and port
    env["RAY_ADDRESS"] = address  # what `--address auto` joins (another cluster on this machine is not picked)
    second = ray_start(["--address", address, "--num-cpus", "1", "--temp-dir", str(work / "node2"),
                        "--dashboard-agent-listen-port", str(free_port()), "--object-store-memory", str(args.store_bytes),
                        "--disable-usage-stats"], env, "second node")
    table = process_table()
    raylet, second_id = raylet_of(second, table)
    nodes = cluster_nodes(env)
    record["cluster"] = {"address": address, "second_node_id": second_id, "nodes_before": nodes,
                         "head_processes": describe(head, table), "second_node_processes": describe(second, table)}
    say(f"   head at {address}; second node {second_id[:12]} (raylet pid {raylet}); "
        f"{sum(n['alive'] for n in nodes)} nodes alive, {sum(n['cpus'] for n in nodes if n['alive']):.0f} CPUs")
    if sum(n["alive"] for n in nodes) != 2:
        failures.append(f"the cluster has {sum(n['alive'] for n in nodes)} live nodes before the build, not 2")

    say("3. `embedspace build --runner ray --address auto`, the second node killed mid-build")
    build = run_ray_build(source, work / "ray", args, env, second, raylet, chunks_expected)
    record["build"] = build
    record["cluster"]["nodes_after"] = cluster_nodes(env)
    if build["kill"] is None:
        failures.append("the second node was never killed: the build finished before enough chunks were staged")
    if build["hung"]:
        failures.append(f"the build did not finish within {args.timeout} s after the kill")
    if build["returncode"] != 0:
        failures.append(f"the build exited with {build['returncode']}: {build['log_tail'][-600:]}")
        say(f"   FAILED (exit {build['returncode']}); its output ends:\n{build['log_tail'][-1500:]}")
        return failures
    stats = runner_stats(work / "ray")
    killed_actors = {str(p["pid"]) for p in (build["kill"] or {}).get("actors", [])}
    second_items = sum(n for worker, n in stats.get("worker_items", {}).items() if worker.split(":")[-1] in killed_actors)
    build["runner"] = stats
    build["items_from_second_node"] = second_items
    head_items = [n for worker, n in stats.get("worker_items", {}).items() if worker.split(":")[-1] not in killed_actors]
    say(f"   finished by itself in {build['seconds']} s (exit 0): {stats.get('chunks')} chunks, {stats.get('workers')} "
        f"workers asked for; items embedded by the second node's actor before the kill: {second_items:,}, by the head's "
        f"actors: {' + '.join(f'{n:,}' for n in head_items)}; runner: lost={stats.get('lost', 0)} (datasets Ray gave "
        f"up on, their unwritten chunks sent again), restarts={stats.get('restarts', 0)}")
    if not second_items:
        failures.append("the second node's actor delivered no chunk before it was killed: it was not part of the build")

    say("4. the Ray index against the sequential one (docs/scale-out.md, Reproducibility)")
    comparison = compare(work / "seq", work / "ray")
    record["comparison"] = comparison
    failures += comparison["failures"]
    say(f"   items {comparison['items'][1]:,} vs {comparison['items'][0]:,}; items.parquet identical: "
        f"{comparison['items.parquet identical']}, skipped.jsonl identical: {comparison['skipped.jsonl identical']}")
    if "vectors_max_abs_diff" in comparison:
        say(f"   stored float16 vectors: {comparison['vector_values_differing']:,} of {comparison['vector_values']:,} "
            f"values differ (in {comparison['rows_differing']} rows), by at most {comparison['vectors_max_abs_diff']:.2e} "
            f"(allowed: {VECTOR_ATOL:g} + one float16 step)")
    say(f"   search, {comparison['queries']} queries x top {comparison['k']}: scores within "
        f"{comparison['scores_max_abs_diff']:.1e} (allowed {SCORE_ATOL:g}); {comparison['ranks_with_another_item']} "
        f"ranks hold another item (near-ties); {comparison['queries_with_identical_ids']} queries identical")
    return failures


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=4000, help="words in the corpus (default 4000)")
    parser.add_argument("--chunk-size", type=int, default=40, help="items per chunk (default 40: ~100 chunks)")
    parser.add_argument("--space", default="use-m3", help="space to embed with (default use-m3)")
    parser.add_argument("--kill-after", type=float, default=0.25, help="fraction of the chunks staged before the kill")
    parser.add_argument("--timeout", type=int, default=600, help="seconds the Ray build may take after it starts")
    parser.add_argument("--store-bytes", type=int, default=300 * 2**20, help="each node's object store (default 300 MiB)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (Ray's logs, both indexes)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"the JSON record (default {RESULTS.relative_to(REPO)})")
    args = parser.parse_args(argv)

    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="rmn-", dir="/tmp"))  # short: Ray's socket paths have a length limit
    record = {"check": "ray_multinode", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": " ".join(["benchmarks/ray_multinode.py", *(argv if argv is not None else sys.argv[1:])]),
              "machine": machine(), "load_at_start": load_now(), "ray": version("ray"), "space": args.space,
              "texts": args.texts, "chunk_size": args.chunk_size, "kill_after": args.kill_after}
    say(f"Ray multi-node check, {record['date']}: ray {record['ray']}, {record['machine'].get('cpu', '?')}, "
        f"{record['machine']['cpus']} CPUs, load {record['load_at_start']} at start")
    started = time.perf_counter()
    try:
        failures = check(args, work, record)
    except Exception as exc:  # a step that could not run is a failed check, with its reason recorded
        failures = [f"{type(exc).__name__}: {exc}"]
    finally:
        record["left_after_stop"] = stop_own_processes()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    record.update({"seconds": round(time.perf_counter() - started, 1), "load_at_end": load_now(),
                   "failures": failures, "verdict": "fail" if failures else "pass"})
    say(f"5. verdict: {record['verdict'].upper()} ({record['seconds']} s in all, load {record['load_at_start']} -> "
        f"{record['load_at_end']})" + "".join(f"\n   - {f}" for f in failures))
    if args.keep:
        say(f"   kept: {work}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    args.out.with_suffix(".txt").write_text("\n".join(say.lines) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
