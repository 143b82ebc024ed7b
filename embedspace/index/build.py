"""Building and changing indexes: reader -> embed -> writer over chunks, then assemble.

The reader (sources.read_chunks) yields numbered chunks of items; `embed_chunk` turns one
chunk into vectors (skipping what cannot be embedded, with the reason); a ChunkStore writes
each finished chunk to a staging folder. A runner drives the loop: SequentialRunner here, and
a distributed runner can replace it without touching the rest, because a chunk's result
depends only on the chunk and the space: its items and skips exactly, its vectors up to float
rounding (a model's sums round differently with another thread count or CPU: use-m3's float32
values move by up to ~3e-7 between 1 and 2 OpenBLAS threads, tests/index/test_ray.py has the
figures and the tolerances). Once every chunk is written, `assemble` builds the FAISS index,
tunes it and swaps the new index folder in.

An interrupted build leaves its staging folder; `resume=True` reads the same sources again
and skips every chunk that was already written, so nothing is embedded twice.
"""

from __future__ import annotations

import io
import json
import secrets
import shutil
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ..artifacts import atomic_write_bytes, save_json
from ..errors import IndexStateError, InputError, is_disk_full
from ..images import load_images
from ..paths import index_path
from ..progress import Tracker
from ..spaces.registry import DEFAULT_SPACE, load_space
from ..spaces.space import check_text
from ..text import EXCERPT_CHARS, excerpt
from .faiss_index import (
    build_partitions,
    check_partitions,
    combine_partitions,
    partition_bounds,
    plan_index,
    tune,
)
from .layout_file import layout_after_add, layout_after_remove
from .sources import (
    DEFAULT_CHUNK_SIZE,
    INLINE_SOURCE,
    REASON_CHARS,
    ReadOptions,
    check_sources,
    chunk_items,
    describe_source,
    inline_item_stream,
    read_chunks,
)
from .store import Index, IndexLock, index_exists, partition_count, read_manifest, tidy, write_index

SUMMARY_REASONS = 10  # reasons listed in a build summary: GloVe gives each unknown word a reason of its own
STORED_COLUMNS = ("id", "kind", "text", "lang", "label", "concept", "path", "source", "meta", "key")


@dataclass
class BuildReport:
    name: str
    added: int
    skipped: list
    seconds: float
    items_per_second: float
    resumed_chunks: int
    total_items: int
    index: dict = field(default_factory=dict)
    runner_note: str = ""  # what a distributed runner did (workers, restarts)
    ids: list = field(default_factory=list)  # the ids given to the items added
    unchanged: bool = False  # an add with nothing new: no generation was written

    def summary(self) -> str:
        reasons = Counter(s["reason"] for s in self.skipped)
        lines = [
            f"Index '{self.name}': {self.added:,} items added in {self.seconds:.1f} s "
            f"({self.items_per_second:,.1f} items/s); {self.total_items:,} items in all.",
        ]
        if self.resumed_chunks:
            lines.append(f"Resumed: {self.resumed_chunks} chunk(s) were already done and were not embedded again.")
        if self.runner_note:
            lines.append(self.runner_note)
        if self.unchanged:
            lines.append("Nothing new to add: the index is unchanged (no new version was written).")
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped):,}" + (":" if self.unchanged else " (listed in skipped.jsonl):"))
            lines += [f"  {count:,} x {reason}" for reason, count in reasons.most_common(SUMMARY_REASONS)]
            if len(reasons) > SUMMARY_REASONS:
                rest = sum(count for _, count in reasons.most_common()[SUMMARY_REASONS:])
                lines.append(f"  {rest:,} more, for {len(reasons) - SUMMARY_REASONS:,} other reasons (see skipped.jsonl)")
        if self.index:
            lines.append(f"Index: {self.index['reason']}.")
            tuning = self.index.get("tuning") or {}
            if tuning.get("note"):
                lines.append(f"Tuning: {tuning['note']}.")
        return "\n".join(lines)


# -- embed: one chunk -> vectors ----------------------------------------------------------------
def embed_chunk(space, chunk) -> tuple[list, np.ndarray, list]:
    """(kept items, their vectors float32, skipped) for one chunk; never raises on bad items."""
    skipped = list(chunk.skipped)
    texts = [item for item in chunk.items if item["kind"] == "text"]
    images = [item for item in chunk.items if item["kind"] == "image"]
    kept_texts, text_vectors = _embed_texts_skipping(space, texts, skipped)
    kept_images, image_vectors = _embed_images_skipping(space, images, skipped)
    kept = kept_texts + kept_images
    vectors = np.concatenate([text_vectors, image_vectors]) if kept else np.zeros((0, space.dim), np.float32)
    order = np.argsort([item["id"] for item in kept], kind="stable")
    return [kept[i] for i in order], vectors[order], skipped


def _carried(record: dict) -> dict:
    """A skip record of an earlier build, shortened as new ones are (indexes written before that keep long ones)."""
    return {**record, **{key: excerpt(record[key], REASON_CHARS if key == "reason" else EXCERPT_CHARS)
                         for key in ("where", "reason") if isinstance(record.get(key), str)}}


def _skip(item, reason, skipped):
    """Record an item the embedder refused. Only an excerpt of its text: a rejected 5 MB line copied
    whole would live on in skipped.jsonl, which every later add writes again."""
    skipped.append({"source": item["source"], "where": excerpt(item.get("path") or item.get("text")),
                    "id": item["id"], "reason": excerpt(reason, REASON_CHARS)})


def _embed_texts_skipping(space, items, skipped):
    if not items:
        return [], np.zeros((0, space.dim), np.float32)
    payloads = [item["payload"] for item in items]
    try:
        return items, space.embed_texts(payloads, role="item")
    except InputError:
        pass  # find the bad ones one by one; the rest of the chunk is still embedded
    kept, rows = [], []
    for item in items:
        try:
            check_text(item["payload"])
        except InputError as exc:
            _skip(item, f"text {exc}", skipped)
            continue
        try:
            rows.append(space.embed_texts([item["payload"]], role="item")[0])
            kept.append(item)
        except InputError as exc:  # e.g. a word GloVe does not know
            _skip(item, str(exc), skipped)
    return kept, (np.stack(rows) if rows else np.zeros((0, space.dim), np.float32))


def _embed_images_skipping(space, items, skipped):
    if not items:
        return [], np.zeros((0, space.dim), np.float32)
    if not space.supports_images:
        for item in items:
            _skip(item, f"space {space.canonical} takes no images", skipped)
        return [], np.zeros((0, space.dim), np.float32)
    pil_images, bad = load_images([item["payload"] for item in items], skip_errors=True)
    bad_positions = {position for position, _, _ in bad}
    for position, _, reason in bad:
        _skip(items[position], reason, skipped)
    kept = [item for i, item in enumerate(items) if i not in bad_positions]
    if not kept:
        return [], np.zeros((0, space.dim), np.float32)
    return kept, space.embed_images(pil_images)


# -- writer: finished chunks in a staging folder ------------------------------------------------
class ChunkStore:
    """Finished chunks of one build: chunk-N.npy (float16 vectors) then chunk-N.json (items).

    The items file is written last and atomically, so a chunk counts as done only when both
    files are complete; a half-written chunk is simply embedded again.
    """

    def __init__(self, path: Path):
        self.path = path

    def done(self) -> set:
        return {int(p.stem.split("-")[1]) for p in self.path.glob("chunk-*.json")}

    def write(self, seq: int, items: list, vectors: np.ndarray, skipped: list) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(vectors, dtype=np.float16), allow_pickle=False)
        atomic_write_bytes(self.path / f"chunk-{seq:06d}.npy", buffer.getvalue())
        rows = [{c: item.get(c) for c in STORED_COLUMNS} for item in items]
        payload = json.dumps({"items": rows, "skipped": skipped}, ensure_ascii=False).encode()
        atomic_write_bytes(self.path / f"chunk-{seq:06d}.json", payload)

    def read_all(self, dim: int):
        blocks = []
        for seq in sorted(self.done()):
            data = json.loads((self.path / f"chunk-{seq:06d}.json").read_text())
            block = np.load(self.path / f"chunk-{seq:06d}.npy", allow_pickle=False)
            if len(block) != len(data["items"]):
                raise IndexStateError(f"Staged chunk {seq} in {self.path} is inconsistent; rerun without --resume.")
            blocks.append((data["items"], block, data["skipped"]))
        return merge_chunks(blocks, dim)


class MemoryChunkStore:
    """Finished chunks kept in memory, for items given in memory: no rerun could read them again,
    so there is nothing to resume and nothing to stage on disk."""

    def __init__(self):
        self.chunks = {}

    def done(self) -> set:
        return set(self.chunks)

    def write(self, seq: int, items: list, vectors: np.ndarray, skipped: list) -> None:
        rows = [{c: item.get(c) for c in STORED_COLUMNS} for item in items]
        self.chunks[seq] = (rows, np.asarray(vectors, dtype=np.float16), skipped)

    def read_all(self, dim: int):
        return merge_chunks([self.chunks[seq] for seq in sorted(self.chunks)], dim)


def merge_chunks(blocks, dim: int):
    """(items frame, float16 vectors, skipped) of finished chunks given as (item rows, vectors, skipped)."""
    import pandas as pd

    rows, vectors, skipped = [], [], []
    for block_rows, block_vectors, block_skipped in blocks:
        rows += block_rows
        vectors.append(block_vectors)
        skipped += block_skipped
    frame = pd.DataFrame(rows, columns=list(STORED_COLUMNS))
    frame["id"] = frame["id"].astype("int64")
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, dim), np.float16)
    return frame, matrix, skipped


# -- runner: drives reader -> embed -> writer ---------------------------------------------------
class SequentialRunner:
    """Embeds chunks one after another in this process.

    The runner interface: `run(chunks, space, store, progress) -> chunks resumed` writes every
    chunk not yet in the store; `describe()` (for the manifest) and `summary()` (a line for the
    report, may be empty) say what it did. embedspace.index.ray_runner.RayRunner is the other one.
    """

    name = "sequential"

    def describe(self) -> dict:
        return {"runner": self.name}

    def summary(self) -> str:
        return ""

    def run(self, chunks, space, store: ChunkStore, progress: bool = False) -> int:
        done = store.done()
        resumed = 0
        with Tracker(progress, None, "Embedding") as bar:
            for chunk in chunks:
                if chunk.seq in done:
                    resumed += 1
                else:
                    store.write(chunk.seq, *embed_chunk(space, chunk))
                bar.update(len(chunk.items))
        return resumed


# -- the public operations ----------------------------------------------------------------------
def build_index(
    name: str, sources, space: str | None = None, read_options: ReadOptions | None = None,
    index_type: str = "auto", max_memory: int | None = None, resume: bool = False, restart: bool = False,
    overwrite: bool = False, add: bool = False, index_dir=None, progress: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE, runner=None, partitions: int | None = None, layout=None,
) -> BuildReport:
    """Build index NAME from sources (or, with add=True, append to it).

    runner: SequentialRunner (default) or ray_runner.RayRunner; both write the same chunks, so a
    build interrupted under one resumes under the other. partitions: split the FAISS index into
    this many memory-mapped files (None: one file, or as many as the index being added to has).
    layout: layout(items, vectors, progress) -> {file: bytes}, extra files of a new index (explore/
    layout.py's layout_for_build: the 2-D map); an `add` never computes one, it places the new
    items into the stored layout (layout_file.py).
    """
    started = time.perf_counter()
    read_options = read_options or ReadOptions()
    path = index_path(name, index_dir)
    if partitions is not None:
        check_partitions(partitions)  # before minutes of embedding, not after
    sources = check_sources(sources)
    with _disk_full_explained(path, "run the same command with --resume (what was embedded is kept)"), \
            IndexLock(name, index_dir):
        tidy(path)
        base = Index.open(name, index_dir) if add else None
        if not add and index_exists(path) and not overwrite and not resume:
            raise IndexStateError(
                f"Index '{name}' exists. Use `embedspace add {name} ...` to append, or --overwrite to rebuild it."
            )
        space_obj = _space_for(base, space)
        staging = path.parent / f".{name}.build"
        state = _build_state(add, space_obj, sources, read_options, chunk_size, base, index_type, max_memory)
        current = base.manifest if base is not None else read_manifest(name, index_dir)
        build_id = _prepare_staging(staging, state, resume, restart, name, _committed_builds(current))
        store = ChunkStore(staging)
        first_id = base.manifest["next_id"] if base else 0
        known = set(base.items["key"]) if base is not None else set()
        chunks = read_chunks(sources, read_options, first_id=first_id, known_keys=known, chunk_size=chunk_size)
        runner = runner or SequentialRunner()
        resumed = runner.run(chunks, space_obj, store, progress=progress)
        try:
            report = assemble(name, path, space_obj, store, base, [describe_source(s) for s in sources], read_options,
                              index_type, max_memory, add, started, resumed, progress, runner=runner.describe(),
                              partitions=partitions, build_id=build_id, layout=layout)
        except InputError:  # nothing to index, or a bad option: the staged chunks cannot help a rerun
            shutil.rmtree(staging, ignore_errors=True)
            raise
        shutil.rmtree(staging, ignore_errors=True)
        report.runner_note = runner.summary()
        return report


@contextmanager
def _disk_full_explained(path: Path, retry: str):
    """A full disk while writing says so in one sentence, not a traceback. Nothing was changed: a
    write fails only before CURRENT is replaced, and write_index removes its unfinished generation."""
    try:
        yield
    except Exception as exc:
        if not is_disk_full(exc):
            raise
        raise IndexStateError(f"Disk full while writing index '{path.name}' in {path.parent}: nothing was changed, "
                              f"the index is as it was. Free some space, then {retry}.") from None


def add_items(name: str, items, index_dir=None, allow_duplicates: bool = False,
              source: str = INLINE_SOURCE) -> BuildReport:
    """Append items given in memory (sources.InlineItem: texts with their fields, images as bytes)
    to index NAME, in the index's own space; no file is read for them.

    Every item is checked before the index is locked: a bad text or image raises InputError naming
    it. Exact duplicates are skipped and reported as `add` does; the report's `ids` are the new ids.
    """
    started = time.perf_counter()
    stream = inline_item_stream(items, source)
    read_options = ReadOptions(allow_duplicates=allow_duplicates)
    path = index_path(name, index_dir)
    with _disk_full_explained(path, "send the items again"), IndexLock(name, index_dir):
        tidy(path)
        base = Index.open(name, index_dir)
        space = _space_for(base, None)
        skipped: list = []  # the stream checked everything up front, so it skips nothing itself
        chunks = chunk_items(stream, skipped, first_id=base.manifest["next_id"], known_keys=set(base.items["key"]),
                             allow_duplicates=allow_duplicates)
        store = MemoryChunkStore()
        runner = SequentialRunner()
        runner.run(chunks, space, store)
        return assemble(name, path, space, store, base, [source], read_options, "auto", None, True, started, 0,
                        runner=runner.describe())


def _space_for(base: Index | None, spec: str | None):
    if base is None:
        return load_space(spec or DEFAULT_SPACE)
    space = load_space(spec or base.manifest["space_spec"])
    base.check_space(space)
    return space


def _build_state(add, space, sources, read_options, chunk_size, base, index_type, max_memory) -> dict:
    """What a resumed build must match: same space, inputs, options and base index."""
    return {
        "mode": "add" if add else "build", "space_id": space.id, "chunk_size": chunk_size,
        "sources": [{"path": str(p.resolve()), **_fingerprint(p)} for p in sources],
        "read_options": asdict(read_options), "base": base.checksum if base else None,
        "index_type": index_type, "max_memory": max_memory,
    }


def _fingerprint(path: Path) -> dict:
    if path.is_file():
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    files = [p for p in path.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "mtime_ns": max((p.stat().st_mtime_ns for p in files), default=0)}


def _prepare_staging(staging: Path, state: dict, resume: bool, restart: bool, name: str, committed: set) -> str:
    """Make or check the staging folder of a build; returns the build's id (kept in the folder)."""
    state_file, id_file = staging / "state.json", staging / "build-id"
    if staging.exists() and (restart or _never_started(staging) or _read_text(id_file) in committed):
        shutil.rmtree(staging)  # discarded, never started, or killed after its commit: nothing to resume
    if staging.exists():
        previous = json.loads(state_file.read_text()) if state_file.exists() else None
        done = len(list(staging.glob("chunk-*.json")))
        if not resume:
            raise IndexStateError(
                f"An interrupted build of '{name}' is in {staging} ({done} chunk(s) done). Run the same command "
                "with --resume to continue it, or with --restart to discard it."
            )
        if previous != state:
            changed = sorted(k for k in state if (previous or {}).get(k) != state[k])
            raise IndexStateError(
                f"Cannot resume '{name}': the interrupted build used other {', '.join(changed)}. Run the same "
                "command as before, or use --restart to discard the interrupted build."
            )
        return _read_text(id_file) or secrets.token_hex(8)
    staging.mkdir(parents=True)
    build_id = secrets.token_hex(8)
    atomic_write_bytes(id_file, build_id.encode())
    save_json(state_file, state)
    return build_id


def _committed_builds(manifest: dict | None) -> set:
    """Ids of the builds an index's current generation holds: a staging folder with one of these was committed."""
    return {b["build_id"] for b in (manifest or {}).get("builds", []) if b.get("build_id")}


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _never_started(staging: Path) -> bool:
    """A build killed between creating its staging folder and writing state.json: nothing to resume."""
    return not (staging / "state.json").exists() and not any(staging.glob("chunk-*"))


def assemble(name, path, space, store, base, sources, read_options, index_type, max_memory, add,
             started, resumed, progress=False, runner=None, partitions=None, build_id=None, layout=None) -> BuildReport:
    new_items, new_vectors, new_skipped = store.read_all(space.dim)
    if base is not None and len(new_items) == 0:  # e.g. only duplicates: a new version would only
        return _unchanged_report(name, base, new_skipped, started, resumed)  # invalidate caches
    skipped = new_skipped
    if base is not None:
        import pandas as pd

        items = pd.concat([base.items[list(STORED_COLUMNS)], new_items], ignore_index=True)
        vectors = np.concatenate([np.asarray(base.vectors), new_vectors])
        skipped = [_carried(s) for s in base.skipped()] + new_skipped
        index_type = index_type if index_type != "auto" or not base else base.manifest["index"]["requested"]
        max_memory = max_memory or base.manifest["index"].get("max_memory")
        partitions = partitions or partition_count(base.manifest)
    else:
        items, vectors = new_items, new_vectors
    if len(items) == 0:
        reasons = Counter(s["reason"] for s in skipped).most_common(3)
        raise InputError(f"Nothing to index: every item was skipped ({reasons or 'the sources are empty'}).")
    seconds = time.perf_counter() - started
    builds = (base.manifest.get("builds", []) if base else []) + [{
        "mode": "add" if add else "build", "at": _now(), "added": len(new_items), "skipped": len(new_skipped),
        "seconds": round(seconds, 2), "items_per_second": round(len(new_items) / max(seconds, 1e-9), 1),
        "sources": list(sources), "resumed_chunks": resumed, "build_id": build_id,
        **({"runner": runner} if runner else {}),
    }]
    manifest = {
        "space_id": space.id, "space_spec": space.canonical, "dim": space.dim,
        "created": base.manifest["created"] if base else _now(), "updated": _now(),
        "next_id": _next_id(items, base), "read_options": asdict(read_options), "builds": builds,
    }
    if base is not None:
        extra_files = layout_after_add(base, new_vectors)
    else:
        extra_files = layout(items, vectors, progress) if layout is not None else {}
    manifest = rebuild_and_write(path, items, vectors, manifest, index_type, max_memory, skipped, progress, partitions,
                                 extra_files)
    return BuildReport(name, len(new_items), new_skipped, seconds, len(new_items) / max(seconds, 1e-9), resumed, len(items),
                       manifest["index"], ids=new_items["id"].tolist())


def _unchanged_report(name, base, skipped, started, resumed) -> BuildReport:
    return BuildReport(name, 0, skipped, time.perf_counter() - started, 0.0, resumed, len(base.items),
                       base.manifest["index"], unchanged=True)


def rebuild_and_write(path, items, vectors, manifest, index_type, max_memory, skipped, progress=False,
                      partitions=None, extra_files=None) -> dict:
    """Choose, build and tune the FAISS index for these vectors (split into `partitions` by item
    id when more than 1), then write the whole index."""
    dense = np.asarray(vectors, dtype=np.float32)
    partitions = min(check_partitions(partitions or 1), len(dense))
    plan = plan_index(len(dense), dense.shape[1], index_type, max_memory)
    if progress:
        print(f"Building the FAISS index: {plan.reason}" + (f", in {partitions} partitions" if partitions > 1 else "")
              + " ...", flush=True)
    parts = build_partitions(plan, dense, partitions)
    tuning = tune(combine_partitions(parts), plan, dense, beat_exact=index_type == "auto")
    if plan.kind != "flat" and tuning.param is None:  # no setting beat exact search
        reason = f"exact search, because {plan.kind} could not: {tuning.note.removeprefix('FALLBACK: ')}"
        fallback = plan_index(len(dense), dense.shape[1], "flat")
        plan, parts = fallback, build_partitions(fallback, dense, partitions)
        plan.reason = reason
    manifest = index_manifest(manifest, items, plan, tuning, index_type, max_memory, partitions)
    return write_index(path, items, vectors, parts, manifest, skipped, extra_files)


def index_manifest(manifest, items, plan, tuning, index_type, max_memory, partitions=1) -> dict:
    """The manifest with what was chosen and tuned for these items (also benchmarks/search.py's
    way to write an index it built on disk)."""
    return {**manifest, "metric": "inner product on unit vectors (= cosine)", "vectors_dtype": "float16",
            "index": {
                "kind": plan.kind, "factory": plan.factory, "reason": plan.reason, "requested": index_type,
                "max_memory": max_memory, "bytes_per_vector": plan.bytes_per_vector, "rerank": plan.rerank,
                "search_params": {tuning.param: tuning.value} if tuning.param else {},
                "tuning": tuning.as_dict(),
                **({"partitions": _partition_table(items, partitions)} if partitions > 1 else {}),
            },
            "counts": _counts(items)}


def _partition_table(items, partitions: int) -> list:
    """Which rows and item ids each partition file holds (rows are in id order)."""
    ids = items["id"].to_numpy()
    return [{"file": f"index-{number:03d}.faiss", "rows": [start, stop], "ids": [int(ids[start]), int(ids[stop - 1])]}
            for number, (start, stop) in enumerate(partition_bounds(len(items), partitions))]


def _next_id(items, base: Index | None) -> int:
    """Ids are never reused: next_id only grows, also when the highest ids were removed."""
    return max(int(items["id"].max()) + 1, int(base.manifest.get("next_id", 0)) if base is not None else 0)


def _counts(items) -> dict:
    langs = items.loc[items["kind"] == "text", "lang"].fillna("unknown")
    return {
        "items": int(len(items)),
        "by_kind": {k: int(v) for k, v in items["kind"].value_counts().items()},
        "by_lang": {k: int(v) for k, v in langs.value_counts().items()},
        "concepts": int(items["concept"].nunique()),
        "sources": {k: int(v) for k, v in items["source"].value_counts().items()},
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def remove_items(name: str, ids=None, source: str | None = None, filters: dict | None = None, index_dir=None) -> int:
    """Remove items by ids, source and/or column filters; returns how many were removed."""
    if not ids and not source and not filters:
        raise InputError("Say what to remove: --ids, --source or --where COLUMN=VALUE.")
    with _disk_full_explained(index_path(name, index_dir), "run the command again"), IndexLock(name, index_dir):
        tidy(index_path(name, index_dir))
        index = Index.open(name, index_dir)
        mask = np.zeros(len(index), dtype=bool)
        if ids:
            missing = [i for i in ids if int(i) not in index.row_of_id]
            if missing:
                raise InputError(f"No items with ids {missing[:10]} in '{name}'.")
            mask[[index.row_of_id[int(i)] for i in ids]] = True
        if source:
            sources = index.items["source"]
            mask |= (sources == str(Path(source).resolve())).to_numpy() | (sources == source).to_numpy()
        if filters:
            mask |= index.mask(**filters)
        removed = int(mask.sum())
        if removed == 0:
            return 0
        if removed == len(index):
            raise InputError(f"That would remove all {removed:,} items of '{name}'; delete the folder {index.path} instead.")
        keep = ~mask
        manifest = {k: v for k, v in index.manifest.items() if k not in ("files", "index", "counts")}
        manifest["updated"] = _now()
        manifest["builds"] = manifest.get("builds", []) + [{"mode": "remove", "at": _now(), "removed": removed}]
        rebuild_and_write(index.path, index.items[keep].reset_index(drop=True), np.asarray(index.vectors)[keep],
                          manifest, index.manifest["index"]["requested"], index.manifest["index"].get("max_memory"),
                          [_carried(s) for s in index.skipped()], partitions=partition_count(index.manifest),
                          extra_files=layout_after_remove(index, keep))
        return removed
