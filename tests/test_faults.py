"""Fault injection (issue 15): what an index survives, with fixed seeds and bounded time.

- readers and writers in separate processes at once: no reader error, every open is a committed
  generation, no update lost, a second writer refused while the first holds the lock;
- SIGKILL at every change a build, add or remove makes to the index folder, and at random times:
  the index opens, verifies and holds exactly the items of a committed state;
- a full disk during a write (injected ENOSPC at every write, and a real 2 MiB tmpfs where this
  machine may mount one): the previous generation stays current and whole, the message is clear;
- damaged index files, CURRENT and checksum memos: refused (or, for a memo, ignored), never used.

Child processes come from tests/faults/child.py (a zygote that forks each task). The suite's counts
are printed at the end of the module and written to faults-summary.json in pytest's temp folder.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import io
import json
import os
import random
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import embedspace
from embedspace.artifacts import file_stat
from embedspace.cli import main
from embedspace.errors import IndexStateError
from embedspace.index import store
from embedspace.index.build import build_index, remove_items
from embedspace.index.store import Index

CHILD = Path(__file__).parent / "faults" / "child.py"
SEED = 15
STRESS_SECONDS = 20
COUNTS: dict = {}  # what the suite did, by part: printed once at the end of the module


def tally(part: str, **numbers) -> None:
    entry = COUNTS.setdefault(part, {})
    for key, value in numbers.items():
        entry[key] = entry.get(key, 0) + value


def _child_module():
    spec = importlib.util.spec_from_file_location("faults_child", CHILD)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ids_digest = _child_module().ids_digest


# -- fixtures and helpers ------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def fault_summary(request, tmp_path_factory):
    yield COUNTS
    if not COUNTS:
        return
    (tmp_path_factory.getbasetemp() / "faults-summary.json").write_text(json.dumps(COUNTS, indent=2))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():  # shown by `make test`, not captured
            reporter.ensure_newline()
            reporter.write_line(summary_line(COUNTS))


def summary_line(counts: dict) -> str:
    parts = []
    if "concurrent" in counts:
        c = counts["concurrent"]
        parts.append(f"{c['processes']} processes for {c['seconds']} s, {c['opens']:,} opens + {c['searches']:,} "
                     f"searches + {c['verifies']:,} verifies by readers, {c['reader_errors']} reader errors, "
                     f"{c['commits']} commits, {c['refused']} refusals of a second writer")
    if "kills" in counts:
        k = counts["kills"]
        parts.append(f"{k['landed']} SIGKILLs ({k['by_event']} at a change, {k['by_time']} at a random time; "
                     f"build {k['build']}, add {k['add']}, remove {k['remove']}), "
                     f"{k['committed_after']} left the new state, {k['committed_before']} the old, "
                     f"{k['left_unfinished']} unfinished files that the next write removed")
    if "disk_full" in counts:
        d = counts["disk_full"]
        parts.append(f"{d.get('injected', 0)} injected ENOSPC points ({d.get('refused', 0)} refused in a sentence, "
                     f"{d.get('harmless', 0)} harmless), {d.get('real', 0)} adds refused by a full tmpfs")
    if "damaged" in counts:
        d = counts["damaged"]
        parts.append(f"{d.get('files', 0)} damaged index files refused, {d.get('rot', 0)} bit rot caught by "
                     f"verify, {d.get('memos', 0)} damaged memos ignored")
    return "fault injection: " + "; ".join(parts)


@pytest.fixture(scope="module")
def words(glove_space):
    """Frequent GloVe words (each has a vector), in a fixed shuffled order."""
    pool = [w for w in glove_space.words[:20_000] if re.fullmatch("[a-z]+", w)]
    random.Random(SEED).shuffle(pool)
    return pool


class Words:
    """Hands out words never handed out before, as text files: each batch of items is new."""

    def __init__(self, pool, folder: Path):
        self.pool, self.folder, self.used = iter(pool), folder, 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, n: int) -> list:
        return [next(self.pool) for _ in range(n)]

    def file(self, n: int = 0, words=None) -> tuple[Path, list]:
        words = words or self.take(n)
        self.used += 1
        path = self.folder / f"batch-{self.used:04d}.txt"
        path.write_text("\n".join(words) + "\n")
        return path, words


class Zygote:
    """tests/faults/child.py zygote: forks tasks on request; killed with its tasks at the end."""

    def __init__(self):
        package_root = str(Path(embedspace.__file__).resolve().parent.parent)  # the embedspace under test
        env = {**os.environ, "PYTHONPATH": package_root + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.proc = subprocess.Popen([sys.executable, str(CHILD), "zygote"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=env)
        self.ask({"cmd": "ping"}, timeout=300)

    def ask(self, command: dict, timeout: float = 300) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            self.close()
            raise AssertionError(f"the zygote did not answer {command['cmd']} within {timeout} s")
        return json.loads(line)

    def run(self, task: dict, kill_after_ready=None, timeout: float = 300) -> dict:
        return self.ask({"cmd": "run", "task": task, "kill_after_ready": kill_after_ready}, timeout)

    def start(self, task: dict) -> int:
        return self.ask({"cmd": "start", "task": task})["pid"]

    def wait(self, pid: int, timeout: float) -> dict:
        return self.ask({"cmd": "wait", "pid": pid}, timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()  # the zygote kills and reaps whatever task is left
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def zygote(glove_space):
    if not hasattr(os, "fork"):
        pytest.skip("the child processes are forked (POSIX)")
    z = Zygote()
    yield z
    z.close()


def items_of(name: str, root) -> dict:
    """{id: text} of the current generation, after checking it opens and verifies."""
    index = Index.open(name, root)
    store.verify_index(name, root)
    return dict(zip(index.items["id"].astype(int), index.items["text"]))


def assert_tidy(name: str, root) -> None:
    """After a writer: CURRENT and at most two generations, nothing unfinished, no build staging."""
    path = Path(root) / name
    entries = sorted(p.name for p in path.iterdir())
    generations = [e for e in entries if e.startswith("gen-")]
    assert entries == sorted(["CURRENT", *generations]), entries
    assert 1 <= len(generations) <= 2 and not any(".tmp" in g for g in generations), entries
    assert not (Path(root) / f".{name}.build").exists()


# -- readers and writers at once -----------------------------------------------------------------
READERS = 3


@pytest.mark.slow
def test_readers_and_writers_at_once(zygote, words, tmp_path):
    """Readers open and search while a writer adds and removes and a second writer contends for the
    lock: no reader error, every open is a committed generation, no update lost, no id reused."""
    root, pool, sync = str(tmp_path / "ix"), Words(words, tmp_path / "src"), tmp_path / "sync"
    sync.mkdir()
    build_index("live", [pool.file(200)[0]], space="glove-6b-50d", index_dir=root)
    first = Index.open("live", root)
    initial = dict(zip(first.items["id"].astype(int), first.items["text"]))
    common = {"dir": root, "name": "live", "until": time.time() + STRESS_SECONDS, "sync": str(sync)}
    readers = [zygote.start({"task": "reader", **common, "seed": SEED + n, "out": str(tmp_path / f"reader-{n}.json")})
               for n in range(READERS)]
    contender = zygote.start({"task": "contender", **common, "out": str(tmp_path / "contender.json"),
                              "batches": [{"source": str(f), "words": w} for f, w in (pool.file(4) for _ in range(40))]})
    writer = zygote.start({"task": "writer", **common, "plan": _writer_plan(pool, initial), "handshake_every": 5,
                           "out": str(tmp_path / "writer.json")})
    for pid in (writer, contender, *readers):
        assert zygote.wait(pid, timeout=STRESS_SECONDS + 300) == {"exit": 0}
    seen = [json.loads((tmp_path / f"reader-{n}.json").read_text()) for n in range(READERS)]
    wrote = json.loads((tmp_path / "writer.json").read_text())
    contended = json.loads((tmp_path / "contender.json").read_text())
    reader_errors = [e for r in seen for e in r["errors"]]
    commits = {c["key"]: c for c in wrote["commits"] + contended["commits"]}
    COUNTS["concurrent"] = {
        "processes": READERS + 2, "seconds": STRESS_SECONDS, "opens": sum(r["opens"] for r in seen),
        "searches": sum(r["searches"] for r in seen), "verifies": sum(r["verifies"] for r in seen),
        "reader_errors": len(reader_errors), "commits": len(commits), "refused": len(contended["refused"]),
        "generations_seen": len({key for r in seen for key in r["seen"]}), "first_errors": reader_errors[:5],
    }

    assert reader_errors == []
    assert wrote["errors"] == [] and contended["errors"] == []
    commits[first.checksum] = {"count": len(first), "ids": ids_digest(first.items["id"])}
    for reader in seen:  # every open was a generation a writer committed, whole
        for key, opened in reader["seen"].items():
            assert key in commits, f"a reader opened {opened}, which no writer committed"
            assert (opened["count"], opened["ids"]) == (commits[key]["count"], commits[key]["ids"])
    assert len(wrote["commits"]) == len(wrote["done"]) and len(contended["commits"]) == len(contended["added"])
    # the second writer was refused each time the first held the lock, and told who holds it
    assert wrote["handshakes"] and len(contended["refused"]) == len(wrote["handshakes"])
    assert all(f"being written by process {writer}" in r["message"] for r in contended["refused"])
    assert not any(a["while_held"] for a in contended["added"])
    _assert_nothing_lost("live", root, initial, wrote["done"] + contended["added"])
    assert Index.open("live", root).checksum in commits


def _writer_plan(pool, initial: dict) -> list:
    """Two adds of new words, then a remove of 3 initial ids, again and again: more than the deadline allows."""
    removable = random.Random(SEED).sample(sorted(initial), len(initial))
    plan = []
    for n in range(len(initial) // 3):
        plan += [{"op": "add", "source": str(source), "words": batch} for source, batch in (pool.file(5), pool.file(5))]
        plan.append({"op": "remove", "ids": removable[3 * n:3 * n + 3]})
    return plan


def _assert_nothing_lost(name, root, initial: dict, done: list) -> None:
    """The index holds the initial items, less those removed, plus those added; no id is reused."""
    removed = [i for op in done if op.get("op") == "remove" for i in op["ids"]]
    added = [w for op in done if "words" in op and op.get("op") != "remove" for w in op["words"]]
    assert sum(op["removed"] for op in done if op.get("op") == "remove") == len(removed)
    assert sum(op["added"] for op in done if "added" in op) == len(added)
    final = items_of(name, root)
    assert sorted(final.values()) == sorted({initial[i] for i in set(initial) - set(removed)} | set(added))
    assert not set(removed) & set(final)
    assert all(i > max(initial) for i in set(final) - set(initial))  # new ids only above every old one


@pytest.mark.parametrize("gone", ["manifest.json", "items.parquet", "vectors.npy"])
def test_a_reader_meets_its_generation_half_removed(words, tmp_path, monkeypatch, gone):
    """A reader reads CURRENT; two commits later a writer's tidy is removing that generation, file by
    file, while the reader opens it. The reader starts again from CURRENT: no error (it used to say
    the index 'is missing' a file, because the folder was still there)."""
    root, pool = tmp_path / "ix", Words(words, tmp_path / "src")
    build_index("r", [pool.file(20)[0]], space="glove-6b-50d", index_dir=root)
    stale = store.current_snapshot(root / "r")
    shutil.copytree(stale.folder, tmp_path / "stale")
    for _ in range(2):
        build_index("r", [pool.file(3)[0]], add=True, index_dir=root)
    assert not stale.folder.exists()
    shutil.copytree(tmp_path / "stale", stale.folder)  # the generation as rmtree leaves it half-way
    (stale.folder / gone).unlink()
    current = store.current_snapshot(root / "r")
    for open_it in (lambda: Index.open("r", root).generation, lambda: store.verify_index("r", root)["generation"]):
        answers = iter([stale])  # what CURRENT said when the reader started
        monkeypatch.setattr(store, "current_snapshot", lambda path, real=store.current_snapshot, answers=answers:
                            next(answers, None) or real(path))
        assert open_it() == current.generation
        monkeypatch.undo()


# -- SIGKILL at every change and at random times --------------------------------------------------
TIMED_KILLS = 4  # per operation, besides one at each change


@pytest.mark.slow
def test_sigkill_at_any_point_leaves_a_committed_state(zygote, words, tmp_path):
    """Kill build, add and remove just before each change they make to the index folder (counted by
    an audit hook in the child), and at random times: the index then opens, verifies and holds the
    items from before or after the operation, never a mix; rerunning finishes it and tidies up."""
    rng = random.Random(SEED)
    root, pool = str(tmp_path / "ix"), Words(words, tmp_path / "src")
    build_source, build_words = pool.file(150)
    kills = {"landed": 0, "by_event": 0, "by_time": 0, "build": 0, "add": 0, "remove": 0,
             "committed_after": 0, "committed_before": 0, "left_unfinished": 0}

    def calibrate(task):  # one run without a kill: how many changes, how long
        result = zygote.run(task)
        assert result.get("exit") == 0 and result["outcome"] == "ok", result
        return result["events"], result["seconds"]

    build_index("k", [build_source], space="glove-6b-50d", index_dir=root)
    build_index("k", [pool.file(5)[0]], add=True, index_dir=root)  # two generations, as in every round
    plans = {
        "build": calibrate({"task": "op", "op": "build", "dir": root, "name": "calibrate",
                            "sources": [str(build_source)]}),
        "add": calibrate({"task": "op", "op": "add", "dir": root, "name": "k", "sources": [str(pool.file(5)[0])]}),
        "remove": calibrate({"task": "op", "op": "remove", "dir": root, "name": "k",
                             "ids": rng.sample(sorted(items_of("k", root)), 3)}),
    }
    rounds = [(op, "event", k) for op, (events, _) in plans.items() for k in range(1, events + 1)]
    rounds += [(op, "time", rng.uniform(0, plans[op][1])) for op in plans for _ in range(TIMED_KILLS)]
    for number, (op, how, when) in enumerate(rounds):
        task = {"task": "op", "op": op, "dir": root}
        if op == "build":
            name = f"b{number}"
            task.update(name=name, sources=[str(build_source)])
            before, after = None, set(build_words)
        else:
            name = "k"
            current = items_of(name, root)
            before = set(current.values())
            if op == "add":
                source, new = pool.file(3)
                task.update(name=name, sources=[str(source)])
                after = before | set(new)
            else:
                ids = rng.sample(sorted(current), 3)
                task.update(name=name, ids=ids)
                after = before - {current[i] for i in ids}
        if how == "event":
            task["kill_at"] = when
        result = zygote.run(task, kill_after_ready=when if how == "time" else None)
        if how == "event":
            assert result.get("signal") == 9, (op, when, result)  # the k-th change is always reached
        assert result.get("signal") == 9 or result.get("exit") == 0, (op, how, when, result)
        killed = result.get("signal") == 9
        kills["landed"] += killed
        kills["by_" + how] += killed
        kills[op] += killed
        committed = _check_after_kill(name, root, task, before, after, pool, kills)
        kills["committed_after" if committed == after else "committed_before"] += killed
        assert_tidy(name, root)
    COUNTS["kills"] = kills
    assert kills["by_event"] == sum(events for events, _ in plans.values())


def _unfinished(folder: Path, current) -> list:
    """What a killed writer left: unfinished or uncommitted generations, a half-replaced CURRENT."""
    if not folder.is_dir():
        return []
    newest = int(current.generation.split("-")[1]) if current else 0
    return [p.name for p in folder.iterdir() if ".tmp" in p.name
            or (p.name.startswith("gen-") and int(p.name.split("-")[1]) > newest)]


def _check_after_kill(name, root, task, before, after, pool, kills) -> set | None:
    """The index holds `before` or `after` exactly (None: a first build left no index). Then the next
    write, as a person would run it: the build again with --resume, the add again with --resume (or
    --restart once it had committed), the rest of a remove; it finishes the operation and tidies."""
    snapshot = store.current_snapshot(Path(root) / name)
    kills["left_unfinished"] += bool(_unfinished(Path(root) / name, snapshot))  # removed by the next write
    if snapshot is None:
        assert before is None, f"killed {task}: the index is gone"
        with pytest.raises(IndexStateError, match="No index"):
            Index.open(name, root)
        build_index(name, task["sources"], space="glove-6b-50d", resume=True, index_dir=root)
        assert set(items_of(name, root).values()) == after
        return None
    left = set(items_of(name, root).values())
    assert left in (before, after), f"killed {task}: {len(left)} items, neither the state before nor after"
    if task["op"] == "remove":
        still_there = [i for i in task["ids"] if i in items_of(name, root)]
        if still_there:
            remove_items(name, ids=still_there, index_dir=root)
            assert set(items_of(name, root).values()) == after
        else:
            source, new = pool.file(1)
            build_index(name, [source], add=True, index_dir=root)
            assert set(items_of(name, root).values()) == after | set(new)
        return left
    staging = (Path(root) / f".{name}.build").exists()
    resume = left == before and staging
    build_index(name, task["sources"], add=True, resume=resume, restart=not resume, index_dir=root)
    assert set(items_of(name, root).values()) == after, f"rerunning {task} did not finish it"
    return left


# -- a full disk ---------------------------------------------------------------------------------
DISK_FULL = os.strerror(errno.ENOSPC)


class FullDisk:
    """Within `with`, the `fail_at`-th write (1, 2, ...) fails as on a full disk: OSError ENOSPC, or
    for FAISS the RuntimeError it raises then. `calls` counts the writes (fail_at=0: none fails)."""

    def __init__(self, monkeypatch, fail_at: int = 0):
        self.monkeypatch, self.fail_at, self.calls, self.failed = monkeypatch, fail_at, 0, None

    def __enter__(self):
        import tempfile

        import faiss
        import pyarrow.parquet as pq

        def to_a_path(target, *_, **__):
            return isinstance(target, (str, os.PathLike))

        def a_new_folder(path, *_, **__):
            return not os.path.exists(path)

        def faiss_error(args):
            return RuntimeError(f"Error in void faiss::write_index(const Index*, IOWriter*, int): Error: 'ret == "
                                f"(size * 4)' failed: write error in {args[1]}: 0 != 4096 ({DISK_FULL})")

        self.context = self.monkeypatch.context()
        patch = self.context.__enter__()
        for owner, attr, when, error in (
            (faiss, "write_index", None, faiss_error), (pq, "write_table", None, None),
            (np, "save", to_a_path, None), (Path, "write_bytes", None, None), (os, "fsync", None, None),
            (os, "rename", None, None), (os, "replace", None, None), (os, "mkdir", a_new_folder, None),
            (tempfile, "mkstemp", None, None),
        ):
            patch.setattr(owner, attr, self._failing(getattr(owner, attr), attr, when, error))
        return self

    def _failing(self, real, attr, when, error):
        def write(*args, **kwargs):
            if when is None or when(*args, **kwargs):
                self.calls += 1
                if self.calls == self.fail_at:
                    self.failed = attr
                    raise error(args) if error else OSError(errno.ENOSPC, DISK_FULL)
            return real(*args, **kwargs)

        return write

    def __exit__(self, *exc):
        self.context.__exit__(*exc)


@pytest.mark.slow
def test_a_full_disk_during_a_write_changes_nothing(words, tmp_path, monkeypatch, capsys):
    """Every write of a build, an add and a remove fails in turn as on a full disk: the command says
    so in one sentence (exit 2, no traceback), the previous generation stays current and whole, no
    unfinished generation is left, and the same command run again (--resume) finishes the job."""
    root, pool = str(tmp_path / "ix"), Words(words, tmp_path / "src")
    build_index("full", [pool.file(30)[0]], space="glove-6b-50d", index_dir=root)
    build_index("full", [pool.file(3)[0]], add=True, index_dir=root)
    rng = random.Random(SEED)
    points = {"injected": 0, "refused": 0, "harmless": 0}

    def command(op, number):
        """(argv, name, items before, items after) for one run of op."""
        if op == "build":
            source, new = pool.file(8)
            return (["build", f"b{number}", str(source), "--space", "glove-6b-50d", "--chunk-size", "4"],
                    f"b{number}", None, set(new))
        before = items_of("full", root)
        if op == "add":
            source, new = pool.file(6)
            return ["add", "full", str(source), "--chunk-size", "4"], "full", set(before.values()), \
                set(before.values()) | set(new)
        ids = rng.sample(sorted(before), 2)
        return (["remove", "full", "--ids", *map(str, ids)], "full", set(before.values()),
                {t for i, t in before.items() if i not in ids})

    def run(argv, fail_at=0):
        with FullDisk(monkeypatch, fail_at) as disk:
            code = main([*argv, "--index-dir", root] + (["--quiet"] if argv[0] != "remove" else []))
        return code, capsys.readouterr().err, disk

    for op in ("build", "add", "remove"):
        code, err, disk = run(command(op, 0)[0])
        assert code == 0, err
        for fail_at in range(1, disk.calls + 1):
            argv, name, before, after = command(op, fail_at)
            current = store.current_snapshot(Path(root) / name)
            code, err, disk = run(argv, fail_at)
            assert disk.failed, f"{op}: write {fail_at} never came"
            points["injected"] += 1
            if code == 0:  # a write whose failure costs nothing (a checksum memo, a folder's fsync)
                points["harmless"] += 1
                assert set(items_of(name, root).values()) == after
                continue
            points["refused"] += 1
            assert code == 2 and "Traceback" not in err, (op, disk.failed, err)
            assert re.search(f"Disk full while writing index '{name}'.*nothing was changed", err), err
            folder = Path(root) / name
            assert store.current_snapshot(folder) == current, (op, disk.failed)  # the same generation...
            if before is not None:
                assert set(items_of(name, root).values()) == before, (op, disk.failed)  # ...whole
            if folder.exists():  # no unfinished or uncommitted generation is left
                generations = [p.name for p in folder.glob("gen-*")]
                assert not any(".tmp" in g for g in generations) and len(generations) <= 2, generations
                assert not list(folder.glob(".CURRENT.*")), list(folder.iterdir())
            code, err, _ = run(argv + (["--resume"] if op != "remove" else []))
            assert code == 0, err
            assert set(items_of(name, root).values()) == after
            assert_tidy(name, root)
    tally("disk_full", **points)
    assert points["refused"] > points["harmless"]


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a real full disk. Mounting needs root on Linux; elsewhere the test is skipped
    (the injected ENOSPC above covers every write either way)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") and \
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("cannot mount a 2 MiB tmpfs here (needs root)")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_real_full_disk(words, small_disk, tmp_path, capsys):
    """Adds to an index on a 2 MiB filesystem filled to leave less and less room: each either
    succeeds or says the disk is full, and the index is the one before or after, whole."""
    root, pool = str(small_disk / "ix"), Words(words, tmp_path / "src")
    build_index("full", [pool.file(200)[0]], space="glove-6b-50d", index_dir=root)
    filler = small_disk / "filler"
    full = 0
    for room in (0, 4, 8, 16, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384):  # KiB left free
        before = set(items_of("full", root).values())
        source, new = pool.file(20)  # the index grows, so a full disk stops each add at another file
        stat = os.statvfs(small_disk)
        filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - room * 1024))
        code = main(["add", "full", str(source), "--chunk-size", "8", "--quiet", "--index-dir", root])
        err = capsys.readouterr().err
        filler.unlink()
        if code == 0:
            assert set(items_of("full", root).values()) == before | set(new)
            continue
        full += 1
        assert code == 2 and re.search("Disk full while writing index 'full'.*nothing was changed", err), err
        assert set(items_of("full", root).values()) == before
        assert not [p for p in Path(root, "full").iterdir() if ".tmp" in p.name]
        assert main(["add", "full", str(source), "--resume", "--quiet", "--chunk-size", "8", "--index-dir", root]) == 0
        assert set(items_of("full", root).values()) == before | set(new)
        assert_tidy("full", root)
    tally("disk_full", real=full)
    assert full >= 1


# -- damaged index files, CURRENT and checksum memos ----------------------------------------------
GENERATION_FILES = ("manifest.json", "index.faiss", "items.parquet", "vectors.npy", "skipped.jsonl")
DAMAGES = ("flip", "truncate", "empty", "append", "delete")


def _fresh_index(root, name, words) -> Path:
    """A small index with a skipped word (so skipped.jsonl has a line); returns its generation folder."""
    source = Path(root).parent / f"{name}.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("\n".join([*words[:30], "qzxqzxq"]) + "\n")
    build_index(name, [source], space="glove-6b-50d", index_dir=root)
    return Index.open(name, root).folder


def _damage(path: Path, how: str, rng: random.Random) -> None:
    """Change a file in place, as a disk or a person might, then set its mtime back."""
    stat = path.stat()
    if how == "delete":
        path.unlink()
        return
    data = bytearray(path.read_bytes())
    if how == "flip":
        data[rng.randrange(len(data))] ^= 0xFF
    elif how == "truncate":
        data = data[:len(data) // 2]
    elif how == "empty":
        data = bytearray()
    elif how == "append":
        data += b"\n"
    elif how == "swap rows":
        vectors = np.load(path)
        first, second = vectors[0].copy(), vectors[1].copy()
        assert not np.array_equal(first, second)
        vectors[0], vectors[1] = second, first
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        data = bytearray(buffer.getvalue())
    with open(path, "r+b") as f:  # the same inode, as a disk's damage would be
        f.write(data)
        f.truncate()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


def _assert_refused(name, root, capsys, match=None, case=""):
    """Index.open and verify refuse with IndexStateError; `embedspace verify` exits 2 with one line."""
    with pytest.raises(IndexStateError, match=match) as refused:
        Index.open(name, root)
    assert "Try again" not in str(refused.value), case  # damage, not a busy index
    with pytest.raises(IndexStateError, match=match):
        store.verify_index(name, root)
    capsys.readouterr()
    assert main(["verify", name, "--index-dir", str(root)]) == 2, case
    err = capsys.readouterr().err
    assert err.startswith("error: Index") and "Traceback" not in err, (case, err)


def test_a_damaged_index_file_is_refused(words, tmp_path, capsys):
    """Every file of a generation, flipped, truncated, emptied, lengthened or deleted (and two rows of
    vectors.npy swapped), with its mtime set back: the index is refused, never opened with wrong data."""
    rng = random.Random(SEED)
    root = tmp_path / "ix"
    cases = [(file, how) for file in GENERATION_FILES for how in DAMAGES] + [("vectors.npy", "swap rows")]
    for number, (file, how) in enumerate(cases):
        name = f"d{number}"
        folder = _fresh_index(root, name, words)
        _damage(folder / file, how, rng)
        _assert_refused(name, root, capsys, match=file if file != "manifest.json" or how == "delete" else None,
                        case=f"{file} {how}")
    tally("damaged", files=len(cases))


def test_a_damaged_current_is_refused(words, tmp_path, capsys):
    """CURRENT garbled, emptied, cut short, with a wrong hash, or naming a generation that is gone:
    refused as damage (it used to retry 20 times and blame busy writers when the generation was gone)."""
    root = tmp_path / "ix"
    real = (_fresh_index(root, "c", words).parent / "CURRENT").read_bytes()
    generation, sha = real.decode().split()
    cases = {
        "garbage": bytes(random.Random(SEED).randrange(256) for _ in range(80)), "empty": b"",
        "one line": f"{generation}\n".encode(), "hash cut short": f"{generation}\n{sha[:20]}".encode(),
        "wrong hash": f"{generation}\n{'0' * 64}\n".encode(),
        "a generation that is gone": f"gen-000099-abcdef\n{sha}\n".encode(),
        "a path": f"gen-1/../../elsewhere\n{sha}\n".encode(),
    }
    for what, content in cases.items():
        (root / "c" / "CURRENT").write_bytes(content)
        _assert_refused("c", root, capsys, case=what)
    (root / "c" / "CURRENT").unlink()  # gone: no index (a rebuild is the answer), not a wrong one
    with pytest.raises(IndexStateError, match="No index"):
        Index.open("c", root)
    (root / "c" / "CURRENT").write_bytes(real)
    assert store.verify_index("c", root)["generation"] == generation
    tally("damaged", files=len(cases) + 1)


@pytest.mark.parametrize("file", ["vectors.npy", "index.faiss", "items.parquet", "skipped.jsonl"])
def test_bit_rot_under_an_unchanged_stat_is_caught_by_verify(words, tmp_path, capsys, file):
    """Bytes that change while size, inode, mtime and ctime stay as recorded (bit rot; simulated by
    recording the damaged file's stat in the manifest, and that manifest's hash in CURRENT): a plain
    open trusts the stat (documented), `embedspace verify` re-reads every byte and refuses."""
    root = tmp_path / "ix"
    folder = _fresh_index(root, "rot", words)
    path = folder / file
    data = bytearray(path.read_bytes())
    data[-2] ^= 0x01  # the last bytes: data, not a header, so the file still parses
    path.write_bytes(bytes(data))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["file_stats"][file] = file_stat(path)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    sha = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    (folder.parent / "CURRENT").write_text(f"{folder.name}\n{sha}\n")
    try:
        Index.open("rot", root)  # trusted: nothing about the file says it changed
    except IndexStateError as exc:  # ...unless the damaged bytes no longer parse, which is refused too
        assert file != "vectors.npy", exc
    with pytest.raises(IndexStateError, match=f"{file} does not match its checksum"):
        store.verify_index("rot", root)
    assert main(["verify", "rot", "--index-dir", str(root)]) == 2
    tally("damaged", rot=1)


MEMO_DAMAGES = {"garbage": b"\xff\xfe\x00 not a hash", "empty": b"", "another valid hash": b"0" * 64,
                "cut short": b"0123abcd", "upper case": None, "a newline only": b"\n"}


def test_a_damaged_checksum_memo_never_decides(words, tmp_path, capsys, monkeypatch):
    """The memo of checksums (EMBEDSPACE_CACHE_DIR/checksums) only saves hashing: damaged, it is
    ignored and a healthy index still opens; and a file changed after its memo was written is
    hashed again and refused, never trusted by the memo."""
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    memos = tmp_path / "cache" / "checksums"
    _fresh_index(tmp_path / "ix", "m", words)
    shutil.copytree(tmp_path / "ix" / "m", tmp_path / "copy" / "m")  # new inodes: the memo is consulted
    Index.open("m", tmp_path / "copy")
    written = sorted(memos.glob("*.txt"))
    assert len(written) == 4  # one per data file of the generation
    for what, content in MEMO_DAMAGES.items():
        for memo in written:
            memo.write_bytes(content if content is not None else memo.read_bytes().upper())
        assert len(Index.open("m", tmp_path / "copy")) == 30, what
    folder = Index.open("m", tmp_path / "copy").folder  # the memos are good again: each was rewritten
    assert all(re.fullmatch("[0-9a-f]{64} [0-9a-f]{16}", m.read_text()) for m in written)
    _damage(folder / "vectors.npy", "swap rows", random.Random(SEED))
    _assert_refused("m", tmp_path / "copy", capsys, match="vectors.npy")
    tally("damaged", memos=len(MEMO_DAMAGES) * len(written))
