"""An index on disk: `indexes/NAME/` with a manifest, the FAISS index, items and vectors.

    manifest.json   format version, space id, dim, metric, FAISS factory and search
                    parameters, the choice and tuning explained, counts, sha256 of each file
    index.faiss     the FAISS index (FAISS's own binary format), or with --partitions N
                    index-000.faiss ... one per range of item ids (listed in the manifest)
    items.parquet   one row per item, in the same order as the vectors
    vectors.npy     the raw vectors, float16, so the index can be rebuilt or projected
    skipped.jsonl   what the builds skipped, and why

No pickle anywhere. A writer holds a lock, writes a complete new folder next to the old one
and swaps it in with renames, so readers never see a half-written index. Opening an index
checks every file against its checksum; FAISS files and vectors are memory-mapped.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ..artifacts import atomic_write_bytes, file_checksum, save_json
from ..errors import IndexStateError, InputError
from ..languages import normalize_lang
from ..paths import index_path, index_root
from ..spaces.registry import load_space
from .faiss_index import combine_partitions, read_mmapped, set_search_param

FORMAT_VERSION = 1
TABLE_FILES = ("items.parquet", "vectors.npy")


def list_indexes(index_dir=None) -> list[str]:
    root = index_root(index_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "manifest.json").is_file() and not p.name.startswith("."))


class IndexLock:
    """Exclusive lock for writers of one index: a second writer is refused, not queued.

    filelock (flock on Unix, LockFileEx on Windows) holds `.NAME.lock` beside the index; the
    holder writes its process id into it, so a refused writer can say who holds it.
    """

    def __init__(self, name: str, index_dir=None):
        root = index_root(index_dir)
        root.mkdir(parents=True, exist_ok=True)
        self.path = root / f".{name}.lock"
        self.name = name
        self.lock = FileLock(self.path, timeout=0)

    def __enter__(self):
        try:
            self.lock.acquire()
        except Timeout:
            try:
                holder = self.path.read_text().strip() or "another process"
            except OSError:
                holder = "another process"
            raise IndexStateError(f"Index '{self.name}' is being written by {holder}; wait for it to finish.") from None
        self.path.write_text(f"process {os.getpid()}")
        return self

    def __exit__(self, *exc):
        self.lock.release()


def faiss_files(manifest: dict) -> list:
    """The FAISS files of an index: index.faiss, or one per partition."""
    return [p["file"] for p in manifest["index"].get("partitions") or []] or ["index.faiss"]


def partition_count(manifest: dict) -> int:
    return len(faiss_files(manifest))


def write_index(path: Path, items, vectors: np.ndarray, faiss_parts: list, manifest: dict, skipped: list) -> dict:
    """Write a complete index folder next to `path`, then swap it in. Returns the manifest.

    faiss_parts: the FAISS index, or its partitions in the order of `manifest["index"]["partitions"]`.
    """
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    staging = path.parent / f".{path.name}.writing-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    parts = faiss_parts if isinstance(faiss_parts, (list, tuple)) else [faiss_parts]
    files = faiss_files(manifest)
    if len(files) != len(parts):
        raise ValueError(f"{len(parts)} FAISS partitions for {len(files)} files in the manifest")
    try:
        for file, part in zip(files, parts):
            faiss.write_index(part, str(staging / file))
        pq.write_table(pa.Table.from_pandas(items, preserve_index=False), staging / "items.parquet")
        np.save(staging / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
        atomic_write_bytes(staging / "skipped.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped).encode())
        manifest = {**manifest, "format_version": FORMAT_VERSION, "name": path.name,
                    "files": {f: file_checksum(staging / f) for f in (*files, *TABLE_FILES)}}
        save_json(staging / "manifest.json", manifest)
        _fsync_dir(staging)
        _swap_in(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _fsync_dir(path: Path) -> None:
    for f in path.iterdir():
        with open(f, "rb") as handle:
            os.fsync(handle.fileno())


def _swap_in(staging: Path, path: Path) -> None:
    """Replace `path` by `staging`: the old folder is renamed away first, then removed."""
    old = path.parent / f".{path.name}.old-{os.getpid()}-{int(time.time())}"
    if path.exists():
        os.rename(path, old)
    os.rename(staging, path)
    shutil.rmtree(old, ignore_errors=True)


def recover(path: Path) -> None:
    """A crash between the two renames of _swap_in leaves only .NAME.old-*: put it back."""
    if path.exists():
        return
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if olds:
        os.rename(olds[-1], path)


def manifest_checksum(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:16]


class Index:
    """An opened index: manifest, items (pandas), vectors (float16, memory-mapped), FAISS index
    (memory-mapped; a partitioned one is a faiss_index.PartitionedIndex over its partitions)."""

    def __init__(self, path: Path, manifest: dict, items, vectors, faiss_index):
        self.path, self.manifest, self.items, self.vectors, self.faiss = path, manifest, items, vectors, faiss_index
        self.name = path.name
        self.space_id = manifest["space_id"]
        self.dim = manifest["dim"]
        self.kind = manifest["index"]["kind"]
        self.checksum = manifest_checksum(manifest)
        self.row_of_id = {int(i): r for r, i in enumerate(items["id"].to_numpy())}

    def __len__(self):
        return len(self.items)

    def __repr__(self):
        return f"<Index {self.name}: {len(self):,} items, {self.kind}, space {self.space_id}>"

    @classmethod
    def open(cls, name: str, index_dir=None, verify: bool = True) -> Index:
        import pandas as pd

        path = index_path(name, index_dir)
        recover(path)
        manifest_file = path / "manifest.json"
        if not manifest_file.is_file():
            known = ", ".join(list_indexes(index_dir)) or "none yet"
            raise IndexStateError(
                f"No index '{name}' in {index_root(index_dir)} (indexes there: {known}). "
                f"Build one with: embedspace build {name} SOURCE..."
            )
        try:
            manifest = json.loads(manifest_file.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IndexStateError(f"Index '{name}': manifest.json is corrupt ({exc}). Rebuild the index.") from None
        if manifest.get("format_version") != FORMAT_VERSION:
            raise IndexStateError(f"Index '{name}' has format {manifest.get('format_version')}; this embedspace reads "
                              f"format {FORMAT_VERSION}. Rebuild it with this version.")
        if verify:
            for file, expected in manifest.get("files", {}).items():
                if not (path / file).is_file():
                    raise IndexStateError(f"Index '{name}' is missing {file}. Rebuild the index.")
                if file_checksum(path / file) != expected:
                    raise IndexStateError(
                        f"Index '{name}': {file} does not match its checksum in manifest.json, so it was changed "
                        "or damaged after the build. Rebuild the index (embedspace build ... ) rather than trust it."
                    )
        try:
            items = pd.read_parquet(path / "items.parquet")
            vectors = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
            faiss_index = combine_partitions([read_mmapped(path / file) for file in faiss_files(manifest)])
        except Exception as exc:  # unreadable files that still matched (verify=False)
            raise IndexStateError(f"Index '{name}' cannot be read ({exc}). Rebuild the index.") from None
        if not (len(items) == len(vectors) == faiss_index.ntotal) or vectors.shape[1:] != (manifest["dim"],):
            raise IndexStateError(f"Index '{name}' is inconsistent: {len(items)} items, {vectors.shape} vectors, "
                              f"{faiss_index.ntotal} in FAISS. Rebuild the index.")

        params = manifest["index"].get("search_params") or {}
        for param, value in params.items():
            set_search_param(faiss_index, param, value)
        return cls(path, manifest, items, vectors, faiss_index)

    # -- space -----------------------------------------------------------------------------
    def check_space(self, space) -> None:
        """Refuse a query embedded by any other space than the one the index was built with."""
        if space.id != self.space_id:
            raise IndexStateError(
                f"Index '{self.name}' was built with space {self.space_id}, not {space.id}: their vectors "
                f"are not comparable. Query it with --space '{self.manifest['space_spec']}' (the same weights), "
                "or build an index with the space you want."
            )

    def load_space(self):
        """The index's own space, checked to be the exact one it was built with."""

        space = load_space(self.manifest["space_spec"])
        self.check_space(space)
        return space

    def vectors_f32(self, rows) -> np.ndarray:
        return np.asarray(self.vectors[rows], dtype=np.float32)

    # -- items -----------------------------------------------------------------------------
    def mask(self, kind: str | None = None, lang: str | None = None, **equals) -> np.ndarray | None:
        """Boolean row mask for the filters given (None when there is none)."""

        conditions = dict(equals)
        if kind:
            if kind not in ("text", "image"):
                raise InputError(f"--kind {kind}: use text or image.")
            conditions["kind"] = kind
        if lang:
            conditions["lang"] = normalize_lang(lang)
        conditions = {k: v for k, v in conditions.items() if v is not None}
        if not conditions:
            return None
        mask = np.ones(len(self.items), dtype=bool)
        for column, value in conditions.items():
            if column not in self.items.columns:
                raise InputError(f"Items have no column '{column}'; columns: {', '.join(self.items.columns)}.")
            if column == "id":
                mask &= self.items["id"].to_numpy() == int(value)
            else:
                mask &= (self.items[column] == value).to_numpy()
        return mask

    def result_row(self, row: int) -> dict:
        item = self.items.iloc[int(row)]

        def clean(value):
            return None if value is None or (isinstance(value, float) and value != value) else value

        return {"id": int(item["id"]), **{c: clean(item[c]) for c in ("kind", "text", "lang", "label", "concept", "path")}}


def describe_index(index: Index) -> str:
    """`embedspace info`: the index in plain words, choices and their reasons included."""
    m, ix = index.manifest, index.manifest["index"]
    counts = m.get("counts", {})
    tuning = ix.get("tuning") or {}
    lines = [
        f"Index '{index.name}' at {index.path}",
        f"  space: {m['space_id']} ({m['dim']}-d); metric: {m.get('metric')}",
        f"  items: {counts.get('items', len(index)):,}  by kind: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.get("by_kind", {}).items()),
        "  text items by language: " + (", ".join(f"{k} {v:,}" for k, v in counts.get("by_lang", {}).items()) or "none"),
        f"  concepts: {counts.get('concepts', 0):,}; ids up to {m.get('next_id', 0) - 1:,} (ids never change)",
        f"  FAISS index: {ix['factory']} ({ix['kind']}), asked for: {ix.get('requested')}"
        + (f", memory budget {ix['max_memory'] / 2**20:,.0f} MiB" if ix.get("max_memory") else ""),
        f"  why: {ix['reason']}",
        f"  memory: ~{ix['bytes_per_vector']:,.0f} bytes per vector, "
        f"~{ix['bytes_per_vector'] * len(index) / 2**20:,.1f} MiB in all; raw vectors kept as float16 in vectors.npy",
    ]
    if ix.get("partitions"):
        lines.append(describe_partitions(index))
    if ix.get("search_params"):
        lines.append("  search parameters: " + ", ".join(f"{k}={v}" for k, v in ix["search_params"].items()))
    if tuning:
        lines.append(f"  tuning: {tuning.get('note')}")
        if tuning.get("tried"):
            lines.append("    tried: " + "; ".join(
                f"{tuning['param'] or 'param'}={t['value']} recall {t['recall_at_10']:.3f} {t['latency_ms']:.2f} ms"
                for t in tuning["tried"]))
    for build in m.get("builds", [])[-5:]:
        if build["mode"] == "remove":
            lines.append(f"  {build['at']}: removed {build['removed']:,} items")
        else:
            lines.append(f"  {build['at']}: {build['mode']} +{build['added']:,} items, {build['skipped']:,} skipped, "
                         f"{build['seconds']:.1f} s ({build['items_per_second']:,.1f} items/s)")
    lines.append("  files: " + ", ".join(f"{f} sha256 {h[:12]}" for f, h in m.get("files", {}).items()))
    return "\n".join(lines)


def describe_partitions(index: Index, shown: int = 8) -> str:
    parts = index.manifest["index"]["partitions"]
    lines = [f"  partitions: {len(parts)} FAISS files by item id, memory-mapped, searched in parallel "
             "(results merged by score)"]
    for part in parts[:shown]:
        size = (index.path / part["file"]).stat().st_size / 2**20
        lines.append(f"    {part['file']}: ids {part['ids'][0]:,}-{part['ids'][1]:,} "
                     f"({part['rows'][1] - part['rows'][0]:,} vectors, {size:,.1f} MiB)")
    if len(parts) > shown:
        lines.append(f"    ... and {len(parts) - shown} more")
    return "\n".join(lines)
