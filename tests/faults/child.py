"""Child processes for tests/test_faults.py: readers, writers and operations to kill.

`python tests/faults/child.py zygote` imports embedspace, loads the space once, then reads one JSON
command a line on stdin and answers one JSON line on stdout. Each task runs in a process forked from
it, so a child starts in milliseconds instead of seconds (the zygote itself never runs FAISS or an
index operation, so no OpenMP pool exists when it forks):

    {"cmd": "start", "task": {...}}   fork a task, answer {"pid": PID} at once
    {"cmd": "wait", "pid": PID}       answer how that task ended: {"exit": CODE} or {"signal": 9}
    {"cmd": "run", "task": {...}, "kill_after_ready": S}
                                      fork a task, wait until it is about to start its operation,
                                      SIGKILL it S seconds later (if S is given), and answer how it
                                      ended and what it reported (events, seconds)

Tasks: "reader" (opens and searches until a deadline), "writer" (adds and removes until a deadline,
logging every commit), "contender" (a second writer that must be refused while the first holds the
lock) and "op" (one build, add or remove; with "kill_at" it SIGKILLs itself just before its k-th
change to the index folder, counted by an audit hook: every file opened for writing, folder made,
renamed or removed there). Runs with whatever embedspace PYTHONPATH names, also an older one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path

SPACE = "glove-6b-50d"


def ids_digest(ids) -> str:
    """One short hash of a set of item ids (the same set, in any order, gives the same hash)."""
    return hashlib.sha256(",".join(str(int(i)) for i in sorted(ids)).encode()).hexdigest()[:16]


# -- the zygote ----------------------------------------------------------------------------------
def zygote() -> None:
    import faiss  # noqa: F401  (imported, never used here: no OpenMP threads before a fork)
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import embedspace.index.build  # noqa: F401
    from embedspace import load_space, query  # noqa: F401

    load_space(SPACE)
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a task prints goes to stderr, never into the protocol
    running: set = set()
    try:
        for line in sys.stdin:
            command = json.loads(line)
            answer = _answer(command, running)
            protocol.write(json.dumps(answer) + "\n")
    finally:
        for pid in running:  # the test is gone or failed: leave no task behind
            _kill(pid)
            os.waitpid(pid, 0)


def _answer(command: dict, running: set) -> dict:
    if command["cmd"] == "ping":
        return {"pid": os.getpid()}
    if command["cmd"] == "start":
        pid, _ = _fork(command["task"], None)
        running.add(pid)
        return {"pid": pid}
    if command["cmd"] == "wait":
        pid = command["pid"]
        status = os.waitpid(pid, 0)[1]
        running.discard(pid)
        return _ended(status)
    if command["cmd"] == "run":
        return _run(command["task"], command.get("kill_after_ready"))
    raise ValueError(f"unknown command {command}")


def _run(task: dict, kill_after_ready) -> dict:
    read_end, write_end = os.pipe()
    pid, _ = _fork(task, write_end)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        ready = pipe.read(1) == b"r"  # the task is about to start its operation
        if ready and kill_after_ready is not None:
            time.sleep(kill_after_ready)
            _kill(pid)  # not yet reaped, so the pid cannot belong to another process
        report = pipe.read()
    status = os.waitpid(pid, 0)[1]
    return {**_ended(status), "ready": ready, **(json.loads(report) if report else {})}


def _fork(task: dict, report_fd):
    pid = os.fork()
    if pid:
        return pid, report_fd
    code = 1
    try:
        _die_with_parent()
        random.seed(task.get("seed", 0))
        code = TASKS[task["task"]](task, report_fd) or 0
    except BaseException:  # noqa: BLE001 - a task's failure is reported by its exit code and stderr
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def _die_with_parent() -> None:
    """A task is SIGKILLed when the zygote dies (Linux), so a failed test leaves no process behind."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _ended(status: int) -> dict:
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.WEXITSTATUS(status)}


# -- reader --------------------------------------------------------------------------------------
def reader(task: dict, _fd) -> int:
    """Open the index and search it until the deadline; every open must be whole and findable."""
    from embedspace import load_space, query
    from embedspace.index import store

    space = load_space(SPACE)
    rng = random.Random(task["seed"])
    verify = getattr(store, "verify_index", None)  # absent before index format 2
    seen, errors, opens, searches, verifies = {}, [], 0, 0, 0
    while time.time() < task["until"]:
        try:
            index = store.Index.open(task["name"], task["dir"])
            opens += 1
            ids = index.items["id"].to_numpy()
            if not (len(index.items) == len(index.vectors) == index.faiss.ntotal):
                raise AssertionError(f"{len(index.items)} items, {len(index.vectors)} vectors, "
                                     f"{index.faiss.ntotal} in FAISS")
            row = rng.randrange(len(ids))
            text = index.items["text"].iloc[row]
            found = [r["id"] for r in query.search(index, space, text, k=5)["results"]]
            if int(ids[row]) not in found:
                raise AssertionError(f"searching '{text}' (id {ids[row]}) found {found}")
            searches += 1
            key = index.checksum
            entry = seen.setdefault(key, {"generation": getattr(index, "generation", None), "count": len(ids),
                                          "ids": ids_digest(ids), "opens": 0})
            entry["opens"] += 1
            if verify is not None and opens % task.get("verify_every", 10) == 0:
                verify(task["name"], task["dir"])
                verifies += 1
        except Exception as exc:  # noqa: BLE001 - every error is the finding
            errors.append(f"{type(exc).__name__}: {exc}"[:400])
    _write_json(task["out"], {"opens": opens, "searches": searches, "verifies": verifies, "seen": seen,
                              "errors": errors})
    return 0


# -- writers -------------------------------------------------------------------------------------
def _log_commits(on_commit):
    """Wrap the writer of generations: each commit is logged inside the lock, with what it holds."""
    from embedspace.index import build, store

    real = build.write_index

    def logged(path, items, *args, **kwargs):
        on_commit("before")
        manifest = real(path, items, *args, **kwargs)
        ids = items["id"].to_numpy()
        on_commit({"key": store.manifest_checksum(manifest), "generation": manifest.get("generation"),
                   "count": len(ids), "ids": ids_digest(ids), "pid": os.getpid()})
        return manifest

    build.write_index = logged


def writer(task: dict, _fd) -> int:
    """Run the plan's adds and removes until it ends or the deadline passes; every few commits,
    hold the lock until the contender has tried to write (and been refused)."""
    from embedspace.errors import IndexStateError
    from embedspace.index.build import build_index, remove_items

    sync = Path(task["sync"])
    commits, done, errors = [], [], []
    count = {"n": 0}

    def on_commit(event):
        if event != "before":
            commits.append(event)
            return
        count["n"] += 1
        every = task.get("handshake_every")
        if every and (count["n"] == 1 or (count["n"] % every == 0 and time.time() < task["until"] - 2)):
            _handshake(sync, count["n"])

    _log_commits(on_commit)
    refused = 0
    for op in task["plan"]:
        if done and time.time() >= task["until"]:  # at least one operation, however slow the machine
            break
        while True:
            try:
                if op["op"] == "add":
                    report = build_index(task["name"], [op["source"]], add=True, index_dir=task["dir"])
                    done.append({**op, "added": report.added})
                else:
                    removed = remove_items(task["name"], ids=op["ids"], index_dir=task["dir"])
                    done.append({**op, "removed": removed})
            except IndexStateError as exc:
                if "is being written by" not in str(exc):
                    errors.append(f"{op['op']}: {exc}"[:400])
                    break
                refused += 1  # the contender holds the lock: try again
                time.sleep(0.01)
                continue
            except Exception as exc:  # noqa: BLE001
                errors.append(f"{op['op']}: {type(exc).__name__}: {exc}"[:400])
            break
    (sync / "writer-done").write_text("done")
    _write_json(task["out"], {"commits": commits, "done": done, "errors": errors, "refused": refused,
                              "handshakes": sorted(int(p.name.split("-")[1]) for p in sync.glob("held-*"))})
    return 0


def _handshake(sync: Path, number: int) -> None:
    """Hold the lock (we are inside write_index) until the contender has tried to take it."""
    (sync / f"held-{number}").write_text(str(os.getpid()))
    deadline = time.time() + 60
    while not (sync / f"tried-{number}").exists() and time.time() < deadline:
        time.sleep(0.01)


def contender(task: dict, _fd) -> int:
    """A second writer: adds its own batches now and then, and tries each time the first writer
    says it holds the lock; those tries must be refused with IndexStateError."""
    from embedspace.errors import IndexStateError
    from embedspace.index.build import build_index

    sync = Path(task["sync"])
    commits, added, refused, free_tries, errors = [], [], [], 0, []
    _log_commits(lambda event: event == "before" or commits.append(event))
    batches = list(task["batches"])
    answered = set()
    next_free_try = time.time() + task.get("free_every", 0.4)
    hard_stop = task["until"] + 120
    while batches and not (sync / "writer-done").exists() and time.time() < hard_stop:
        held = [p for p in sync.glob("held-*") if p.name not in answered]
        free = time.time() >= next_free_try
        if not held and not free:
            time.sleep(0.005)
            continue
        batch = batches[0]
        try:
            report = build_index(task["name"], [batch["source"]], add=True, index_dir=task["dir"])
            added.append({**batch, "added": report.added, "while_held": bool(held)})
            batches.pop(0)
        except IndexStateError as exc:
            if held:
                refused.append({"message": str(exc), "holder": held[0].read_text()})
            else:
                free_tries += 1
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}"[:400])
        for p in held:
            answered.add(p.name)
            (sync / p.name.replace("held-", "tried-")).write_text("tried")
        if free:
            next_free_try = time.time() + task.get("free_every", 0.4)
    _write_json(task["out"], {"commits": commits, "added": added, "refused": refused, "refused_free": free_tries,
                              "errors": errors})
    return 0


# -- one operation, maybe killed -----------------------------------------------------------------
MUTATING = {"open", "os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree", "tempfile.mkstemp"}


def _count_changes(root: str, kill_at):
    """An audit hook counting changes under `root`; SIGKILLs this process just before change `kill_at`."""
    root = os.path.realpath(root) + os.sep
    count = [0]

    def inside(path) -> bool:
        if not isinstance(path, (str, bytes, os.PathLike)):
            return False
        return os.path.realpath(os.fsdecode(path)).startswith(root)

    def hook(event, args):
        if event not in MUTATING:
            return
        if event == "open":
            mode, flags = args[1], args[2] or 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or \
                flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
            if not writing or not inside(args[0]):
                return
        elif event in ("os.remove", "os.rmdir") and len(args) > 1 and args[1] not in (None, -1):
            pass  # shutil.rmtree removing a folder's entries relative to it: inside, as rmtree was
        elif not inside(args[0]):
            return
        count[0] += 1
        if kill_at is not None and count[0] >= kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)
    return count


def op(task: dict, report_fd) -> int:
    from embedspace.index.build import build_index, remove_items

    changes = _count_changes(task["dir"], task.get("kill_at"))
    os.write(report_fd, b"r")
    started = time.perf_counter()
    outcome = "ok"
    try:
        if task["op"] == "remove":
            remove_items(task["name"], ids=task["ids"], index_dir=task["dir"])
        else:
            add = task["op"] == "add"
            build_index(task["name"], task["sources"], space=None if add else SPACE, add=add,
                        resume=task.get("resume", False), restart=task.get("restart", False), index_dir=task["dir"])
    except Exception as exc:  # noqa: BLE001
        outcome = f"{type(exc).__name__}: {exc}"
    os.write(report_fd, json.dumps({"events": changes[0], "seconds": time.perf_counter() - started,
                                    "outcome": outcome}).encode())
    return 0 if outcome == "ok" else 3


def _write_json(path, data) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


TASKS = {"reader": reader, "writer": writer, "contender": contender, "op": op}

if __name__ == "__main__":
    if sys.argv[1:] != ["zygote"]:
        sys.exit("usage: child.py zygote")
    zygote()
