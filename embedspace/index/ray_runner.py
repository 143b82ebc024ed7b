"""The Ray runner: a build's embedding spread over a Ray cluster, same chunks, same ChunkStore.

This process (the driver) reads the sources into chunks exactly as the sequential runner does
(ids, duplicates and skips are decided here, once), hands the chunks that are not yet done to
Ray Data, whose `map_batches` runs them through a pool of actors, and writes each result to
the build's ChunkStore as it arrives. Every actor loads the space once, from its spec text,
and refuses to start if its space id differs from the driver's (other weights or package
versions on that node). `build.assemble` then merges the chunks as after a sequential build,
so both runners give the same items, ids, order and skips, and an interrupted build resumes
with either. The vectors are the same up to float rounding only: an actor embeds with one model
thread per CPU it holds (one by default), the sequential runner with one per core, and BLAS sums
round differently with the thread count (float32 within 1e-6, near-tied results may swap ranks;
tests/test_ray.py).

Failures: each chunk is a block of its own and so a Ray task of its own. Ray Data restarts an
actor that dies (max_restarts=-1) and re-runs the chunks it held (up to TASK_RETRIES times),
so a dead worker costs only its chunk. A lost node can use up those retries before Ray declares
it dead (its actor is only "temporarily unavailable" meanwhile), and Ray Data then aborts the
whole run: the chunks not yet written go to a new dataset on the nodes left, up to
LOST_WORK_RETRIES times (benchmarks/ray_multinode.py kills a node mid-build). The driver writes
each chunk once, by its sequence number, and checks at the end that every chunk came back:
nothing lost, nothing twice.

Where data travels: texts go to the workers inside the chunks; images are read by the workers
from their paths, so image sources must be on a filesystem every node mounts at the same path.
Results come back through Ray's object store and are staged on the driver's disk.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import socket as sockets
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field

import numpy as np

from .. import errors
from ..errors import EmbedspaceError, InputError, MissingDependencyError, SpaceUnavailableError, require
from ..progress import Tracker
from ..runtime import cpu_count
from ..spaces.registry import load_space
from .build import STORED_COLUMNS, embed_chunk
from .sources import Chunk

RAY_PACKAGE = "ray[data]==2.60.0"
TASK_RETRIES = 3  # re-runs of one chunk after its worker died; a chunk that kills every worker fails the build
LOST_WORK_RETRIES = 3  # new datasets for the chunks not yet written, after Ray gave up on lost workers or a node


@dataclass
class RayStats:
    """What a Ray run did, for the build summary and benchmarks/scale.py."""

    address: str  # "local" (a cluster started for this build), "session" (ray.init done by the caller), or the address
    workers: int
    cpus_per_worker: int
    startup_seconds: float = 0.0  # ray.init (local: starting the cluster)
    run_seconds: float = 0.0  # from submitting the chunks to the last result written
    read_seconds: float = 0.0  # driver: reading the sources into chunks and encoding them
    write_seconds: float = 0.0  # driver: decoding results and writing them to the ChunkStore
    chunks: int = 0
    items: int = 0
    worker_seconds: dict = field(default_factory=dict)  # worker process -> seconds spent embedding
    worker_items: dict = field(default_factory=dict)
    restarts: int = 0  # worker processes that replaced a dead one and went on working
    lost: int = 0  # times Ray gave up on lost workers or a node and the unwritten chunks went to a new dataset

    def per_worker_items_per_second(self) -> float:
        busy = sum(self.worker_seconds.values())
        return sum(self.worker_items.values()) / busy if busy else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "per_worker_items_per_second": round(self.per_worker_items_per_second(), 2)}


class RayRunner:
    """Embeds chunks with a pool of Ray actors; the cluster is local unless `address` is given.

    address: None starts a local cluster for the build (num_cpus = workers x cpus_per_worker)
    and stops it afterwards; "auto" joins the cluster started on this machine with `ray start`;
    "ray://host:10001" joins through Ray Client; "host:6379" joins a cluster's head. If this
    process already called ray.init, that session is used as it is.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None, cpus_per_worker: int = 1):
        for label, value in (("--workers", workers), ("--cpus-per-worker", cpus_per_worker)):
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InputError(f"{label} {value!r}: give a whole number of at least 1.")
        self.address, self.workers, self.cpus_per_worker = address, workers, cpus_per_worker
        self.stats: RayStats | None = None
        require_ray()  # before the sources are read, not after
        if address:
            _check_reachable(address)

    # -- the runner interface (see build.SequentialRunner) ---------------------------------------
    def run(self, chunks, space, store, progress: bool = False) -> int:
        done = store.done()
        pending, resumed = [], 0
        started = time.perf_counter()
        for chunk in chunks:
            if chunk.seq in done:
                resumed += 1
            else:
                pending.append({"seq": chunk.seq, "chunk": encode_chunk(chunk), "items": len(chunk.items)})
        read_seconds = time.perf_counter() - started
        ray = require_ray()
        with self._session(ray) as stats:
            self.stats = stats
            stats.read_seconds = read_seconds
            if pending:
                self._embed(ray, pending, space, store, progress, stats)
        return resumed

    def describe(self) -> dict:
        return {"runner": self.name, **(self.stats.as_dict() if self.stats else {})}

    def summary(self) -> str:
        s = self.stats
        if s is None:
            return ""
        where = {"local": "a local Ray cluster", "session": "the Ray session of this process"}.get(
            s.address, f"Ray at {s.address}")
        line = (f"Ray: {s.workers} worker(s) x {s.cpus_per_worker} CPU on {where} (ready in {s.startup_seconds:.1f} s); "
                f"{s.chunks} chunk(s) in {s.run_seconds:.1f} s, {s.per_worker_items_per_second():,.1f} items/s per worker")
        if s.restarts:
            line += f"; {s.restarts} worker(s) died and were replaced, only their chunks were embedded again"
        if s.lost:
            times = "once" if s.lost == 1 else f"{s.lost} times"
            line += f"; Ray lost workers or a node {times}, only the chunks not yet written were embedded again"
        return line + "."

    # -- cluster ---------------------------------------------------------------------------------
    @contextmanager
    def _session(self, ray):
        """ray.init for this build (and ray.shutdown after it), unless this process already has one."""
        started = time.perf_counter()
        owned = not ray.is_initialized()
        if owned:
            _init(ray, self.address, self.workers, self.cpus_per_worker)
        try:
            total_cpus = int(ray.cluster_resources().get("CPU", 0))
            workers = self.workers or max(1, total_cpus // self.cpus_per_worker)
            if workers * self.cpus_per_worker > total_cpus:
                raise InputError(
                    f"--workers {workers} x --cpus-per-worker {self.cpus_per_worker} needs {workers * self.cpus_per_worker} "
                    f"CPUs; the Ray cluster has {total_cpus}. Ask for fewer workers or add nodes."
                )
            address = ("local" if self.address is None else self.address) if owned else "session"
            yield RayStats(address, workers, self.cpus_per_worker, startup_seconds=time.perf_counter() - started)
        finally:
            if owned:
                ray.shutdown()

    # -- the embedding itself --------------------------------------------------------------------
    def _embed(self, ray, pending, space, store, progress, stats: RayStats) -> None:
        """Every pending chunk through Ray Data; when Ray loses work beyond its own retries (a node
        gone), the chunks not yet written go through a new dataset, up to LOST_WORK_RETRIES times."""
        started = time.perf_counter()
        written: set = set()
        processes_of_actor: dict = {}
        bar = Tracker(progress, sum(row["items"] for row in pending), "Embedding")
        try:
            while True:
                try:
                    self._embed_dataset(ray, [row for row in pending if row["seq"] not in written], space, store,
                                        stats, written, processes_of_actor, bar)
                    break
                except _lost_work_errors(ray) as exc:
                    if _readable(exc) is not exc or getattr(exc, "actor_init_failed", False):
                        raise  # an actor that cannot start: a setup problem, which another dataset would repeat
                    stats.lost += 1
                    if stats.lost > LOST_WORK_RETRIES:
                        raise EmbedspaceError(
                            f"Ray lost workers or a node {stats.lost} times ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:300]}). {len(written)} of {len(pending)} chunks are staged: "
                            "check the cluster (`ray status`), then run the same command with --resume."
                        ) from None
        except Exception as exc:  # Ray wraps errors raised in the workers: give back ours, readable
            readable = _readable(exc)
            if readable is exc:
                raise
            raise readable from None
        finally:
            bar.close()
        missing = sorted({row["seq"] for row in pending} - written)
        if missing:
            raise EmbedspaceError(f"Ray returned {len(written)} of {len(pending)} chunks (missing: {missing[:10]}). "
                                  "The finished ones are staged: run the same command with --resume.")
        stats.chunks = len(written)
        stats.restarts = sum(len(p) - 1 for p in processes_of_actor.values())
        stats.run_seconds = time.perf_counter() - started

    def _embed_dataset(self, ray, pending, space, store, stats: RayStats, written: set, processes_of_actor: dict,
                       bar) -> None:
        """One Ray Data run over `pending`; each result is written as it arrives and added to `written`."""
        dataset = ray.data.from_items(pending, override_num_blocks=len(pending))  # a chunk per block = a task per chunk
        with warnings.catch_warnings():
            # Ray 2.60 has no named parameter for these two yet and warns about passing them as remote
            # args; without them a chunk that kills every worker would be retried forever (Ray Data's -1).
            warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
            results = dataset.map_batches(
                ChunkEmbedder, batch_size=1, compute=ray.data.ActorPoolStrategy(size=stats.workers),
                fn_constructor_kwargs={"spec": space.canonical, "expected_id": space.id,
                                       "threads": stats.cpus_per_worker},
                num_cpus=stats.cpus_per_worker, max_restarts=-1, max_task_retries=TASK_RETRIES,
            )
        expected = {row["seq"] for row in pending}
        for row in results.iter_rows():
            if row["error"]:
                raise worker_error(row["error"])
            seq = int(row["seq"])
            if seq in written or seq not in expected:
                continue  # a chunk delivered twice by a retry: the first copy is already written
            writing = time.perf_counter()
            items, vectors, skipped = decode_result(row["result"])
            store.write(seq, items, vectors, skipped)
            stats.write_seconds += time.perf_counter() - writing
            written.add(seq)
            worker = str(row["worker"])
            processes_of_actor.setdefault(str(row["actor"]), set()).add(worker)
            stats.worker_seconds[worker] = stats.worker_seconds.get(worker, 0.0) + float(row["seconds"])
            stats.worker_items[worker] = stats.worker_items.get(worker, 0) + len(items)
            stats.items += len(items)
            bar.update(int(row["items"]))


def _lost_work_errors(ray) -> tuple:
    """What Ray raises to the driver when processes or a node are gone and its own retries are spent.
    Losing a node gave ActorUnavailableError (benchmarks/ray_multinode.py): the dead node's chunks
    used up their TASK_RETRIES while Ray still called the node "temporarily unavailable"."""
    x = ray.exceptions
    return x.RayActorError, x.ObjectLostError, x.NodeDiedError, x.WorkerCrashedError


def require_ray():
    ray = require("ray", RAY_PACKAGE, "--runner ray")
    require("ray.data", RAY_PACKAGE, "--runner ray")
    _quiet_ray_data()
    return ray


def _init(ray, address, workers, cpus_per_worker) -> None:
    """Start a local cluster (address None) or join one, with no dashboard and no usage stats."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # token authentication stays on (Ray's default); only its notice about it is kept off the console
    logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
    common = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if address is None:

            cpus = (workers or cpu_count()) * cpus_per_worker
            # Ray starts workers at nice 15, below every other job; a cluster started for this
            # build runs them at the build's own priority, as the sequential runner embeds.
            # (benchmarks/scale.py measures both; at load 9-11 on 2 cores the noise was larger
            # than the difference: 219-260 vs 186-188 items/s in one run, 162-176 vs 184-185 in another)
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, **common)
        else:
            ray.init(address=address, **common)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        target = "a local Ray cluster" if address is None else f"the Ray cluster at {address}"
        raise EmbedspaceError(
            f"Could not start or join {target}: {exc}. For --address auto, start one first with `ray start --head`."
        ) from None


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Ray retries an address where nothing listens for many minutes: knock first."""

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not host or not port.isdigit():
        return  # "auto" is found through this machine's running cluster; other forms are Ray's to parse
    try:
        sockets.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise EmbedspaceError(
            f"Could not start or join the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}). "
            "Start its head with `ray start --head` (port 6379; Ray Client listens on 10001), or check the address."
        ) from None


def _quiet_ray_data() -> None:
    """Ray Data logs each dataset's plan, progress and warnings (an actor replaced, ...) to the
    console; keep them in its log file (ray-data.log in the session folder). The build summary
    says what matters: workers, chunks, restarts."""
    import ray.data

    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    context.enable_auto_log_stats = False
    for handler in logging.getLogger("ray.data").handlers:
        if not isinstance(handler, logging.FileHandler) and "File" not in type(handler).__name__:
            handler.setLevel(logging.ERROR)


def worker_error(text: str) -> EmbedspaceError:
    """The error a worker returned (see ChunkEmbedder), raised again here as the same class."""

    data = json.loads(text)
    cls = getattr(errors, data["type"], EmbedspaceError)
    if not (isinstance(cls, type) and issubclass(cls, EmbedspaceError)):
        cls = EmbedspaceError
    return cls(data["message"])


def _readable(exc: BaseException) -> BaseException:
    """Ray reports a worker's crash as text; a module missing on a worker becomes our message."""

    missing = re.search(r"No module named '([^']+)'", str(exc))
    if missing:
        return MissingDependencyError(
            f"A Ray worker cannot import {missing.group(1)!r}: every node needs the same packages as this one "
            "(pip install -r requirements.txt and embedspace itself; see docs/scale-out.md)."
        )
    return exc


# -- what travels: chunks out, results back (no pickle of our own: JSON and .npy bytes) ---------
def encode_chunk(chunk) -> bytes:
    return json.dumps({"items": chunk.items, "skipped": chunk.skipped}, ensure_ascii=False).encode()


def decode_chunk(seq: int, payload: bytes):
    data = json.loads(payload)
    return Chunk(int(seq), data["items"], data["skipped"])


def encode_result(items, vectors, skipped) -> bytes:
    """Items (stored columns), float16 vectors (as the ChunkStore keeps them) and skips, in one blob."""

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(vectors, dtype=np.float16), allow_pickle=False)
    header = json.dumps({"items": [{c: item.get(c) for c in STORED_COLUMNS} for item in items],
                         "skipped": skipped}, ensure_ascii=False).encode()
    return len(header).to_bytes(8, "little") + header + buffer.getvalue()


def decode_result(blob: bytes):
    size = int.from_bytes(blob[:8], "little")
    data = json.loads(blob[8:8 + size])
    vectors = np.load(io.BytesIO(blob[8 + size:]), allow_pickle=False)
    return data["items"], vectors, data["skipped"]


class ChunkEmbedder:
    """A Ray Data actor: one space, loaded once, embeds one chunk per call.

    Errors meant for a person (EmbedspaceError) are returned as data, not raised: Ray Data
    would hand the driver only their traceback as text. The driver raises them again.
    """

    def __init__(self, spec: str, expected_id: str, threads: int = 1):
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self.error = None
        previous = os.environ.get("EMBEDSPACE_THREADS")
        os.environ["EMBEDSPACE_THREADS"] = str(threads)  # the actor's CPUs, read when the model loads
        try:
            self.space = self._load(spec, expected_id)
        except EmbedspaceError as exc:  # reported with the first chunk this actor gets
            self.error = exc
        finally:
            if previous is None:
                os.environ.pop("EMBEDSPACE_THREADS", None)
            else:
                os.environ["EMBEDSPACE_THREADS"] = previous
        try:
            import ray

            self.actor = ray.get_runtime_context().get_actor_id() or self.worker
        except Exception:  # used outside Ray (tests of this class)
            self.actor = self.worker

    @staticmethod
    def _load(spec: str, expected_id: str):
        space = load_space(spec)
        if space.id != expected_id:
            raise SpaceUnavailableError(
                f"Ray worker on {socket.gethostname()} has space {space.id}, the driver {expected_id}: other "
                "weights or package versions. Install the same requirements (and model files) on every node."
            )
        return space

    def __call__(self, batch: dict) -> dict:
        out = {"seq": [], "result": [], "worker": [], "actor": [], "seconds": [], "items": [], "error": []}
        for seq, payload in zip(batch["seq"], batch["chunk"]):
            started = time.perf_counter()
            try:
                result, items = self._embed(int(seq), payload), len(json.loads(payload)["items"])
                error = ""
            except EmbedspaceError as exc:
                result, items, error = b"", 0, json.dumps({"type": type(exc).__name__, "message": str(exc)})
            for key, value in (("seq", int(seq)), ("result", result), ("worker", self.worker), ("actor", self.actor),
                               ("seconds", time.perf_counter() - started), ("items", items), ("error", error)):
                out[key].append(value)
        return {key: np.array(values, dtype=object if key == "result" else None) for key, values in out.items()}

    def _embed(self, seq: int, payload: bytes) -> bytes:
        if self.error is not None:
            raise self.error
        chunk = decode_chunk(seq, payload)
        check_images_reachable(chunk)
        return encode_result(*embed_chunk(self.space, chunk))


def check_images_reachable(chunk) -> None:
    """An image the driver read but this node cannot see is a setup problem, not a bad item:
    stop rather than list every image as skipped."""
    for item in chunk.items:
        if item["kind"] == "image" and not item["key"].startswith("missing:") and not os.path.exists(item["payload"]):
            raise InputError(
                f"Image {item['payload']} exists where the build was started but not on Ray node {socket.gethostname()}. "
                "Put image sources on a filesystem that every node mounts at the same path."
            )
