"""An index on disk: `indexes/NAME/`, one folder per committed generation, and a pointer.

    indexes/NAME/
        CURRENT                 which generation readers open: its folder name and the sha256 of
                                its manifest.json, one per line (replaced atomically by a rename)
        gen-000007-3fa9c1/      the generation CURRENT names: every file of one version
            manifest.json       format version, space id, dim, metric, FAISS factory and search
                                parameters, the choice and tuning explained, counts, next_id, the
                                sha256 of each file and its stat when written (size, inode, mtime, ctime)
            index.faiss         the FAISS index (FAISS's own binary format), or with --partitions N
                                index-000.faiss ... one per range of item ids (listed in the manifest)
            items.parquet       one row per item, in the same order as the vectors
            vectors.npy         the raw vectors, float16, so the index can be rebuilt or projected
            skipped.jsonl       what the builds skipped, and why
            (extra files)       what layers above keep with one version of the index (e.g. the 2-D
                                layout, explore/layout.py): named in the manifest's extra_files,
                                checksummed like every file, written by write_index(extra_files=)
                                or replace_extra_files (a new generation with the same main files)
        gen-000006-0b17de/      the previous generation, kept so a reader that opened it can finish
    indexes/.NAME.lock          held by the one writer
    indexes/.NAME.build/        an interrupted build's embedded chunks (--resume)

No pickle anywhere. What a reader may assume:
- A generation folder never changes after CURRENT names it, and its name is never reused (a number
  and a random suffix). A reader reads CURRENT once and takes every file from that one folder, so
  it never mixes two versions. If a writer removes that folder while the reader opens it, the
  reader starts again from CURRENT; files it has already opened or memory-mapped stay readable.
- A reader never writes and never repairs. Only a writer, under the lock, removes what a dead
  writer left (unfinished `gen-*.tmp-*` folders, generations CURRENT never named) and old
  generations (all but CURRENT and the one before).
- Checksums are computed when a file is written. At open, a file is trusted without re-reading it
  only while its size, inode, mtime and ctime equal those recorded (ctime cannot be set back, unlike
  mtime); otherwise every byte is hashed. `embedspace verify NAME` always re-reads every byte.
- Ids are never reused: next_id only grows, also when the highest ids are removed.

Format 1 (before generations: the files directly in indexes/NAME/, no CURRENT) is still read; the
next write to such an index turns it into format 2.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout

from ..artifacts import atomic_write_bytes, file_checksum, file_stat, fsync_dir, hash_file, save_json, sha256_bytes
from ..errors import IndexStateError, InputError
from ..languages import normalize_lang
from ..paths import index_path, index_root
from ..spaces.registry import load_space
from .faiss_index import combine_partitions, memory_parts, read_into_memory, read_mmapped, set_search_param
from .layout_file import layout_status

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
TABLE_FILES = ("items.parquet", "vectors.npy")
V1_FILES = ("manifest.json", "index.faiss", "items.parquet", "vectors.npy", "skipped.jsonl")
POINTER = "CURRENT"
# How often a reader starts again when writers remove the generation it is opening. Each retry
# needs a writer to commit two generations while one open runs, so 20 is never reached in practice.
OPEN_ATTEMPTS = 20


def list_indexes(index_dir=None) -> list[str]:
    root = index_root(index_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if not p.name.startswith(".") and index_exists(p))


def index_exists(path: Path) -> bool:
    return (path / POINTER).is_file() or (path / "manifest.json").is_file()


class IndexLock:
    """Exclusive lock for writers of one index: a second writer is refused, not queued.

    filelock (flock on Unix, LockFileEx on Windows) holds `.NAME.lock` beside the index; the
    holder writes its process id into it, so a refused writer can say who holds it. The name is
    checked before anything is created, so a name can never point the lock outside the folder.
    """

    def __init__(self, name: str, index_dir=None):
        path = index_path(name, index_dir)  # refuses names that are paths
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path.parent / f".{name}.lock"
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
        try:
            self.path.write_text(f"process {os.getpid()}")
        except BaseException:  # e.g. a full disk: never keep the lock of a write that will not happen
            self.lock.release()
            raise
        return self

    def __exit__(self, *exc):
        self.lock.release()


def faiss_files(manifest: dict) -> list:
    """The FAISS files of an index: index.faiss, or one per partition."""
    return [p["file"] for p in manifest["index"].get("partitions") or []] or ["index.faiss"]


def partition_count(manifest: dict) -> int:
    return len(faiss_files(manifest))


# -- the pointer ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    """One committed version of an index: its folder and the sha256 of its manifest (None: format 1)."""

    folder: Path
    manifest_sha256: str | None

    @property
    def generation(self) -> str:
        return self.folder.name

    @property
    def index_folder(self) -> Path:
        return self.folder.parent if self.manifest_sha256 else self.folder


def current_snapshot(path: Path) -> Snapshot | None:
    """The generation CURRENT names (format 2), the folder itself (format 1), or None: no index."""
    try:
        lines = (path / POINTER).read_text().split()
    except FileNotFoundError:
        return Snapshot(path, None) if (path / "manifest.json").is_file() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexStateError(f"Index '{path.name}': {POINTER} cannot be read ({exc}). Run `embedspace verify "
                              f"{path.name}` for what is left, or rebuild the index.") from None
    if len(lines) != 2 or not lines[0].startswith("gen-") or "/" in lines[0]:
        raise IndexStateError(f"Index '{path.name}': {POINTER} is damaged (expected a generation and a sha256). "
                              "Rebuild the index.")
    return Snapshot(path / lines[0], lines[1])


def index_version(name: str, index_dir=None) -> str | None:
    """A token that changes whenever a writer commits (for caches keyed on an index), None if absent."""
    path = index_path(name, index_dir)
    snapshot = current_snapshot(path)
    if snapshot is None:
        return None
    if snapshot.manifest_sha256:
        return snapshot.manifest_sha256
    return str((path / "manifest.json").stat().st_mtime_ns)


def read_manifest(name: str, index_dir=None) -> dict | None:
    """The manifest of the current generation (no other file is read or checked), None if absent."""
    path = index_path(name, index_dir)
    return _on_snapshot(path, lambda snapshot: snapshot and _read_manifest(name, snapshot))


def _on_snapshot(path: Path, read):
    """read(snapshot) on the current generation (None if there is no index), starting again from
    CURRENT when a writer removed that generation meanwhile."""
    for _ in range(OPEN_ATTEMPTS):
        try:
            return read(current_snapshot(path))
        except _Superseded:  # raised only when CURRENT names another generation now
            continue
    raise _busy(path.name)


class _Superseded(Exception):
    """The generation being read was removed by a writer: read CURRENT again."""


def _busy(name: str) -> IndexStateError:
    return IndexStateError(f"Index '{name}' changed {OPEN_ATTEMPTS} times while it was being opened; "
                           "writers are committing faster than it can be read. Try again.")


def _moved_on(snapshot: Snapshot) -> bool:
    """Whether CURRENT names another generation now. A writer never removes the current one, so a
    file of a snapshot that is still current and cannot be read means damage, not a race."""
    try:
        return current_snapshot(snapshot.index_folder) != snapshot
    except IndexStateError:
        return False


def _unreadable(snapshot: Snapshot, message: str) -> Exception:
    """Start again from CURRENT if a writer moved on meanwhile; else the index is damaged."""
    if _moved_on(snapshot):
        return _Superseded()
    return IndexStateError(f"Index '{snapshot.index_folder.name}' {message}. Rebuild the index.")


def _missing(snapshot: Snapshot, file: str, exc: OSError) -> Exception:
    return _unreadable(snapshot, f"is missing {file} ({exc.strerror})")


def _read_manifest(name: str, snapshot: Snapshot) -> dict:
    try:
        raw = (snapshot.folder / "manifest.json").read_bytes()
    except OSError as exc:
        raise _missing(snapshot, "manifest.json", exc) from None
    if snapshot.manifest_sha256 is not None and hashlib.sha256(raw).hexdigest() != snapshot.manifest_sha256:
        raise IndexStateError(f"Index '{name}': manifest.json of {snapshot.generation} does not match its checksum "
                              f"in {POINTER}, so it was changed or damaged after the build. Rebuild the index.")
    try:
        manifest = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise IndexStateError(f"Index '{name}': manifest.json is corrupt ({exc}). Rebuild the index.") from None
    if manifest.get("format_version") not in READABLE_FORMATS:
        raise IndexStateError(f"Index '{name}' has format {manifest.get('format_version')}; this embedspace reads "
                              f"formats {', '.join(map(str, READABLE_FORMATS))}. Rebuild it with this version.")
    return manifest


# -- writing -------------------------------------------------------------------------------------
def write_index(path: Path, items, vectors: np.ndarray, faiss_parts: list, manifest: dict, skipped: list,
                extra_files: dict | None = None) -> dict:
    """Write a new generation of the index at `path` and commit it. The caller holds IndexLock.

    The files go to a `gen-*.tmp-PID` folder, are fsynced, the folder is renamed to its generation
    name, and replacing CURRENT (an atomic rename) commits it. A crash at any point leaves the
    previous generation current and whole. Returns the manifest written.
    faiss_parts: the FAISS index, or its partitions in the order of `manifest["index"]["partitions"]`.
    extra_files: {file name: bytes} kept with this generation (see the module docstring).
    """
    parts = faiss_parts if isinstance(faiss_parts, (list, tuple)) else [faiss_parts]
    files = faiss_files(manifest)
    if len(files) != len(parts):
        raise ValueError(f"{len(parts)} FAISS partitions for {len(files)} files in the manifest")
    extra_files = _checked_extra_names(extra_files or {}, files)

    def fill(staging: Path, manifest: dict) -> dict:
        return _write_files(staging, files, parts, items, vectors, skipped, extra_files, manifest)

    return _commit_generation(path, manifest, fill)


def replace_extra_files(name: str, changes: dict, index_dir=None, computed_from: str | None = None) -> dict:
    """A new generation of index NAME with the same main files (copied) and its extra files changed:
    {file name: bytes, or None to drop it}. Takes the writer's lock. Returns the manifest written.

    computed_from: the checksum of the version the changes were computed from (a layout takes minutes,
    without the lock); if another writer committed meanwhile (an `add`), nothing is written and the
    error says so, rather than storing a layout of rows the index no longer has."""
    path = index_path(name, index_dir)
    with IndexLock(name, index_dir):
        tidy(path)
        index = Index.open(name, index_dir)  # checks every file it copies
        if computed_from is not None and index.checksum != computed_from:
            raise IndexStateError(f"Index '{name}' changed while this was computed (another command added, removed "
                                  "or changed its files meanwhile), so nothing was written; the index is as that "
                                  "command left it. Run this command again: it starts from the index as it is now.")
        kept = {n: index.read_extra(n) for n in index.manifest.get("extra_files", []) if n not in changes}
        extra_files = _checked_extra_names({**kept, **{n: d for n, d in changes.items() if d is not None}},
                                           faiss_files(index.manifest))
        main_files = [n for n in index.manifest["files"] if n not in index.manifest.get("extra_files", [])]

        def fill(staging: Path, manifest: dict) -> dict:
            for file in main_files:
                shutil.copyfile(index.folder / file, staging / file)
            _write_extra_files(staging, extra_files)
            return _seal(staging, [*main_files, *extra_files], manifest, list(extra_files))

        base = {k: v for k, v in index.manifest.items() if k not in ("files", "file_stats", "extra_files")}
        return _commit_generation(path, base, fill)


def _checked_extra_names(extra_files: dict, faiss_names) -> dict:
    """Extra files are plain names of this folder that never shadow one of the index's own files."""
    reserved = {*faiss_names, *TABLE_FILES, *V1_FILES}
    for file in extra_files:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,80}", file) or file in reserved or file.startswith("index-"):
            raise ValueError(f"extra file name {file!r}: a plain lower-case file name, not one of the index's own")
    return dict(sorted(extra_files.items()))


def _commit_generation(path: Path, manifest: dict, fill) -> dict:
    """Stage a generation with fill(staging folder, manifest) -> manifest written, then commit it."""
    path.mkdir(parents=True, exist_ok=True)
    tidy(path)
    previous = current_snapshot(path)
    generation = _next_generation(previous)
    staging, final = path / f"{generation}.tmp-{os.getpid()}", path / generation
    staging.mkdir()
    try:
        manifest = fill(staging, {**manifest, "format_version": FORMAT_VERSION, "name": path.name,
                                  "generation": generation})
        raw = (staging / "manifest.json").read_bytes()
        os.rename(staging, final)
        fsync_dir(path)
        atomic_write_bytes(path / POINTER, f"{generation}\n{hashlib.sha256(raw).hexdigest()}\n".encode())  # the commit
    except BaseException:
        committed = current_snapshot(path)
        if committed is None or committed.folder != final:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(final, ignore_errors=True)
        raise
    try:
        fsync_dir(path)  # committed already, readers see it: a failure now must not be reported as "nothing changed"
    except OSError:
        pass
    if previous is not None and previous.manifest_sha256 is None:
        _remove_format1_files(path)
    tidy(path)
    return manifest


def _write_files(folder: Path, files, parts, items, vectors, skipped, extra_files: dict, manifest: dict) -> dict:
    import faiss
    import pyarrow as pa
    import pyarrow.parquet as pq

    for file, part in zip(files, parts):
        faiss.write_index(part, str(folder / file))
    pq.write_table(pa.Table.from_pandas(items, preserve_index=False), folder / "items.parquet")
    np.save(folder / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float16), allow_pickle=False)
    (folder / "skipped.jsonl").write_bytes("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in skipped).encode())
    _write_extra_files(folder, extra_files)
    return _seal(folder, [*files, *TABLE_FILES, "skipped.jsonl", *extra_files], manifest, list(extra_files))


def _write_extra_files(folder: Path, extra_files: dict) -> None:
    for file, data in extra_files.items():
        (folder / file).write_bytes(data)


def _seal(folder: Path, names: list, manifest: dict, extra_names: list) -> dict:
    """fsync the files, then write the manifest with their checksums and stats."""
    for name in names:
        with open(folder / name, "rb") as handle:
            os.fsync(handle.fileno())
    manifest = {**manifest, "files": {n: hash_file(folder / n) for n in names},
                "file_stats": {n: file_stat(folder / n) for n in names},
                **({"extra_files": extra_names} if extra_names else {})}
    save_json(folder / "manifest.json", manifest)
    fsync_dir(folder)
    return manifest


def _generation_number(name: str) -> int:
    try:
        return int(name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return -1


def _next_generation(previous: Snapshot | None) -> str:
    number = _generation_number(previous.generation) + 1 if previous and previous.manifest_sha256 else 1
    return f"gen-{number:06d}-{secrets.token_hex(3)}"


def tidy(path: Path) -> None:
    """Remove what dead writers left, and old generations. Only a writer, holding the lock, calls this."""
    _recover_format1(path)
    root = path.parent
    for leftover in [*root.glob(f".{path.name}.writing-*"), *root.glob(f".{path.name}.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)
    if not path.is_dir():
        return
    current = current_snapshot(path)
    keep = set()
    if current is not None and current.manifest_sha256:
        number = _generation_number(current.generation)
        older = sorted((p.name for p in path.glob("gen-*") if ".tmp-" not in p.name
                        and _generation_number(p.name) < number), key=_generation_number)
        keep = {current.generation, *older[-1:]}
    for folder in path.glob("gen-*"):
        if folder.name not in keep:  # unfinished (.tmp-), never committed, or older than the one before
            shutil.rmtree(folder, ignore_errors=True)
    for stray in path.glob(f".{POINTER}.*.tmp"):  # a CURRENT a killed writer did not finish replacing
        stray.unlink(missing_ok=True)


def _recover_format1(path: Path) -> None:
    """Format 1 swapped folders with two renames; a crash between them left only .NAME.old-*."""
    olds = sorted(path.parent.glob(f".{path.name}.old-*"))
    if olds and not path.exists():
        os.rename(olds[-1], path)


def _remove_format1_files(path: Path) -> None:
    (path / "manifest.json").unlink(missing_ok=True)  # first: from here on, format 1 readers find no index
    for name in V1_FILES:
        (path / name).unlink(missing_ok=True)
    for partition in path.glob("index-*.faiss"):
        partition.unlink(missing_ok=True)


# The memory-mapped files of an index of at most PREFETCH_MAX_BYTES in all are read through once at
# open by a background thread, so that they are in the page cache before the searches need them.
# Without it, once other work had pushed the demo's files out of the page cache, each search read its
# rows from disk as it went: 200 searches by vector right after opening took 4.72 ms p50 (8.6 ms for
# the first 50) against 0.24 ms cached, and the demo benchmark's text / embed read 1.38-1.39 instead
# of 1.2-1.27 (2026-12-02, its files evicted first). The kernel's own read-ahead hint
# (posix_fadvise WILLNEED) did not do it here: 3.49 ms p50 three seconds after it. Larger indexes
# are read as queries need them: a million vectors' 2 GB would compete with whatever else the
# machine holds.
PREFETCH_MAX_BYTES = 256 * 2**20


def prefetch_mapped(paths: list):
    """Start a background thread that reads these files once (into the page cache, nothing kept) if
    they are PREFETCH_MAX_BYTES or less in all; the thread, or None. Only reads: a file that cannot
    be read is left to the open itself to report."""
    try:
        if sum(Path(path).stat().st_size for path in paths) > PREFETCH_MAX_BYTES:
            return None
    except OSError:
        return None
    thread = threading.Thread(target=_read_through, args=(list(paths),), name="embedspace-prefetch", daemon=True)
    thread.start()
    return thread


def _read_through(paths: list) -> None:
    buffer = bytearray(1 << 20)
    for path in paths:
        try:
            with open(path, "rb", buffering=0) as file:
                while file.readinto(buffer):
                    pass
        except OSError:
            pass


def manifest_checksum(manifest: dict) -> str:
    return hashlib.sha256(json.dumps(manifest["files"], sort_keys=True).encode()).hexdigest()[:16]


# -- reading -------------------------------------------------------------------------------------
def _check_files(name: str, snapshot: Snapshot, manifest: dict, every_byte: bool) -> list:
    """[(file, bytes, re-read?)] for the files of a snapshot; raises if one was changed or damaged."""
    recorded = manifest.get("file_stats", {})
    checked = []
    for file, expected in manifest.get("files", {}).items():
        try:
            stat = file_stat(snapshot.folder / file)
        except OSError as exc:
            raise _missing(snapshot, file, exc) from None
        unchanged = recorded.get(file) == stat
        if every_byte or not unchanged:
            try:
                actual = hash_file(snapshot.folder / file) if every_byte else file_checksum(snapshot.folder / file, expected)
            except OSError as exc:
                raise _missing(snapshot, file, exc) from None
            if actual != expected:
                raise IndexStateError(
                    f"Index '{name}': {file} does not match its checksum in manifest.json, so it was changed "
                    "or damaged after the build. Rebuild the index (embedspace build ... ) rather than trust it."
                )
        checked.append((file, stat["size"], every_byte or not unchanged))
    return checked



def verify_index(name: str, index_dir=None) -> dict:
    """`embedspace verify`: re-read every byte of the current generation and check what ties the files.

    Returns what was checked; raises IndexStateError naming the first problem found.
    """
    import time

    path = index_path(name, index_dir)
    started = time.perf_counter()

    def read(snapshot):
        if snapshot is None:
            raise IndexStateError(f"No index '{name}' in {index_root(index_dir)}.")
        manifest = _read_manifest(name, snapshot)
        checked = _check_files(name, snapshot, manifest, every_byte=True)
        return snapshot, manifest, checked, Index._open_snapshot(path, snapshot, verify=False)

    snapshot, manifest, checked, index = _on_snapshot(path, read)
    ids = index.items["id"].to_numpy()
    if len(set(ids.tolist())) != len(ids):
        raise IndexStateError(f"Index '{name}': some item ids appear twice. Rebuild the index.")
    if len(ids) and int(ids.max()) >= int(manifest.get("next_id", 0)):
        raise IndexStateError(f"Index '{name}': item id {int(ids.max())} is not below next_id "
                              f"{manifest.get('next_id')}. Rebuild the index.")
    leftovers = sorted(p.name for p in path.glob("gen-*") if p != snapshot.folder) if snapshot.manifest_sha256 else []
    return {"name": name, "format_version": manifest["format_version"], "generation": manifest.get("generation"),
            "items": len(index), "next_id": manifest.get("next_id"),
            "files": [{"file": f, "bytes": size} for f, size, _ in checked],
            "bytes": sum(size for _, size, _ in checked), "seconds": round(time.perf_counter() - started, 3),
            "other_generations": leftovers}


class Index:
    """An opened index: one generation's manifest, items (pandas), vectors (float16, memory-mapped)
    and FAISS index (memory-mapped; a partitioned one is a faiss_index.PartitionedIndex).

    path: the index folder (indexes/NAME); folder: the generation its files were read from.
    """

    def __init__(self, path: Path, manifest: dict, items, vectors, faiss_index, folder: Path | None = None):
        self.path, self.manifest, self.items, self.vectors, self.faiss = path, manifest, items, vectors, faiss_index
        self.folder = folder or path
        self.name = path.name
        self.generation = manifest.get("generation")
        self.space_id = manifest["space_id"]
        self.dim = manifest["dim"]
        self.kind = manifest["index"]["kind"]
        self.checksum = manifest_checksum(manifest)
        self.open_seconds = None  # set by Index.open
        self._vectors_view = np.asarray(vectors)  # the same memory (mapped), without np.memmap's indexing overhead
        self.row_of_id = {int(i): r for r, i in enumerate(items["id"].to_numpy())}

    def __len__(self):
        return len(self.items)

    def __repr__(self):
        return f"<Index {self.name}: {len(self):,} items, {self.kind}, space {self.space_id}>"

    @classmethod
    def open(cls, name: str, index_dir=None, verify: bool = True) -> Index:
        """Open the current generation. verify: check each file (re-hashing only files whose stat changed)."""
        path = index_path(name, index_dir)

        def read(snapshot):
            if snapshot is None:
                known = ", ".join(list_indexes(index_dir)) or "none yet"
                raise IndexStateError(
                    f"No index '{name}' in {index_root(index_dir)} (indexes there: {known}). "
                    f"Build one with: embedspace build {name} SOURCE..."
                )
            return cls._open_snapshot(path, snapshot, verify)

        started = time.perf_counter()
        index = _on_snapshot(path, read)
        index.open_seconds = time.perf_counter() - started  # `info` reports it
        return index

    @classmethod
    def _open_snapshot(cls, path: Path, snapshot: Snapshot, verify: bool) -> Index:
        import pandas as pd

        name = path.name
        manifest = _read_manifest(name, snapshot)
        if verify:
            _check_files(name, snapshot, manifest, every_byte=False)
        file = "items.parquet"
        try:
            items = pd.read_parquet(snapshot.folder / file)
            prefetch_mapped([snapshot.folder / f for f in ("vectors.npy", *faiss_files(manifest))])
            file = "vectors.npy"
            vectors = np.load(snapshot.folder / file, mmap_mode="r", allow_pickle=False)
            parts = []
            for file in faiss_files(manifest):
                parts.append(read_mmapped(snapshot.folder / file))
            faiss_index = combine_partitions(parts)
        except FileNotFoundError as exc:
            raise _missing(snapshot, file, exc) from None
        except Exception as exc:  # unreadable files that still matched (verify=False), or a race
            raise _unreadable(snapshot, f"cannot be read ({file}: {exc})") from None
        if not (len(items) == len(vectors) == faiss_index.ntotal) or vectors.shape[1:] != (manifest["dim"],):
            raise IndexStateError(f"Index '{name}' is inconsistent: {len(items)} items, {vectors.shape} vectors, "
                                  f"{faiss_index.ntotal} in FAISS. Rebuild the index.")
        params = manifest["index"].get("search_params") or {}
        for param, value in params.items():
            set_search_param(faiss_index, param, value)
        return cls(path, manifest, items, vectors, faiss_index, folder=snapshot.folder)

    def read_extra(self, file: str) -> bytes | None:
        """An extra file of this generation (write_index(extra_files=)), None if it has none of that
        name. Its bytes are checked against the manifest's sha256 as they are read."""
        if file not in self.manifest.get("extra_files", []):
            return None
        try:
            data = (self.folder / file).read_bytes()
        except OSError as exc:
            raise IndexStateError(f"Index '{self.name}' is missing {file} ({exc.strerror}). Rebuild the index.") from None
        if sha256_bytes(data) != self.manifest["files"].get(file):
            raise IndexStateError(f"Index '{self.name}': {file} does not match its checksum in manifest.json, so it "
                                  "was changed or damaged after the build. Rebuild the index.")
        return data

    def skipped(self) -> list:
        """What the builds of this index skipped (skipped.jsonl of its generation)."""
        file = self.folder / "skipped.jsonl"
        if not file.exists():
            return []
        return [json.loads(line) for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]

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
        # through a plain ndarray view of the memory map: np.memmap's own indexing cost 0.02 ms a query
        return np.asarray(self._vectors_view[rows], dtype=np.float32)

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
        f"Index '{index.name}' at {index.path}" + (f" (generation {index.generation})" if index.generation else ""),
        f"  space: {m['space_id']} ({m['dim']}-d); metric: {m.get('metric')}",
        f"  items: {counts.get('items', len(index)):,}  by kind: "
        + ", ".join(f"{k} {v:,}" for k, v in counts.get("by_kind", {}).items()),
        "  text items by language: " + (", ".join(f"{k} {v:,}" for k, v in counts.get("by_lang", {}).items()) or "none"),
        f"  concepts: {counts.get('concepts', 0):,}; ids up to {m.get('next_id', 0) - 1:,} (ids never change)",
        f"  FAISS index: {ix['factory']} ({ix['kind']}), asked for: {ix.get('requested')}"
        + (f", memory budget {ix['max_memory'] / 2**20:,.0f} MiB" if ix.get("max_memory") else ""),
        f"  why: {ix['reason']}",
        describe_memory(index),
        "  memory-mapped (read from disk as queries need them, not loaded): "
        + (f"{partition_count(m)} FAISS partition files" if partition_count(m) > 1 else "index.faiss (FAISS)")
        + ", vectors.npy (float16); items.parquet is read into memory"
        + (f", and so is {loaded}" if (loaded := read_into_memory(ix["factory"])) else ""),
    ]
    if index.open_seconds is not None:
        lines.append(f"  opened in {index.open_seconds * 1000:,.0f} ms (each file's size and times checked, "
                     "not re-hashed; embedspace verify re-hashes)")
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
    lines.append("  map: " + layout_status(index).message)
    lines.append("  files: " + ", ".join(f"{f} sha256 {h[:12]}" for f, h in m.get("files", {}).items()))
    return "\n".join(lines)


def describe_memory(index: Index) -> str:
    """Bytes a vector that a query reads, every part named (codes, ids, centroids, re-ranking vectors)."""
    parts = memory_parts(index.manifest["index"]["factory"], len(index), index.dim)
    total = sum(parts.values())
    return (f"  memory a query reads: ~{total:,.0f} bytes per vector ("
            + ", ".join(f"{name} {value:,.1f}" for name, value in parts.items())
            + f"), ~{total * len(index) / 2**20:,.1f} MiB in all")


def describe_partitions(index: Index, shown: int = 8) -> str:
    parts = index.manifest["index"]["partitions"]
    lines = [f"  partitions: {len(parts)} FAISS files by item id, memory-mapped, searched in parallel "
             "(results merged by score)"]
    for part in parts[:shown]:
        size = (index.folder / part["file"]).stat().st_size / 2**20
        lines.append(f"    {part['file']}: ids {part['ids'][0]:,}-{part['ids'][1]:,} "
                     f"({part['rows'][1] - part['rows'][0]:,} vectors, {size:,.1f} MiB)")
    if len(parts) > shown:
        lines.append(f"    ... and {len(parts) - shown} more")
    return "\n".join(lines)
