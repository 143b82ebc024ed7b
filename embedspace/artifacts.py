"""Files embedspace writes or trusts: checksums, the cache folder, atomic writes."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from .paths import cache_dir


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_stat(path) -> dict:
    """What changes when a file's bytes change: size, inode, mtime and ctime (which cannot be set back)."""
    stat = os.stat(path)
    return {"size": stat.st_size, "inode": stat.st_ino, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}


def hash_file(path) -> str:
    """sha256 of every byte of a file, read now (no memo)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_checksum(path, expected: str | None = None) -> str:
    """sha256 of a file, remembered in the cache by (path, size, inode, mtime, ctime) so big files are hashed once.

    The memo can only save work, never decide: one that is unreadable, malformed, or (given
    `expected`) disagrees is ignored and the file is hashed again, so a damaged memo never makes a
    good file look bad. It cannot make a changed file look good: any write changes ctime.
    """
    path = Path(path).resolve()
    stat = file_stat(path)
    key = sha256_bytes(f"{path}|{stat['size']}|{stat['inode']}|{stat['mtime_ns']}|{stat['ctime_ns']}".encode())[:32]
    memo = cache_dir("checksums") / f"{key}.txt"
    try:
        remembered = memo.read_text().strip()
    except (OSError, UnicodeDecodeError):
        remembered = None
    if remembered and re.fullmatch(r"[0-9a-f]{64}", remembered) and (expected is None or remembered == expected):
        return remembered
    value = hash_file(path)
    try:
        atomic_write_bytes(memo, value.encode())
    except OSError:  # a read-only or full cache costs time, not correctness
        pass
    return value


def fsync_dir(path) -> None:
    """Make a folder's entries (renames, new files) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def tree_checksum(folder, patterns=("*",)) -> str:
    """One sha256 over the files of a model folder (relative names and contents)."""
    folder = Path(folder)
    files = sorted({p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()})
    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.relative_to(folder)}={file_checksum(p)}\n".encode())
    return digest.hexdigest()


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_array(path, array: np.ndarray) -> None:
    """Save a .npy atomically (no pickle)."""

    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buffer.getvalue())


def load_array(path) -> np.ndarray | None:
    """Load a cached .npy, or None if it is missing or unreadable (then it is recomputed)."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None


def save_json(path, obj) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


# What reading a damaged .npz can raise: a caller turns these into its own message.
NPZ_ERRORS = (OSError, ValueError, KeyError, zipfile.BadZipFile, UnicodeDecodeError, EOFError)


def save_headed_npz(path, header: dict, arrays: dict) -> None:
    """Arrays and a JSON header in one .npz (no pickle), written atomically: the format of maps."""

    buffer = io.BytesIO()
    np.savez(buffer, header=np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8), **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_headed_npz(path, names) -> tuple[dict, dict]:
    """(header, {name: float32 array}) of a save_headed_npz file; raises one of NPZ_ERRORS if damaged."""
    with np.load(path, allow_pickle=False) as data:
        header = json.loads(bytes(data["header"]).decode())
        return header, {name: np.asarray(data[name], np.float32) for name in names}
