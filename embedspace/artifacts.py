"""Files embedspace writes or trusts: checksums, the cache folder, atomic writes."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import math
import os
import re
import sys
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

    The memo can only save work, never decide. It holds the sha256 and a check of it tied to its
    key, so a memo that is damaged (truncated, zeroed, garbage, another file's) fails the check and
    the file is hashed again; with `expected`, a memo that disagrees is not believed either. So a
    damaged memo never makes a good file look bad, or a model's weights look like other weights
    (their checksum is part of a space's id). It cannot make a changed file look good: any write
    changes ctime, so the key.
    """
    path = Path(path).resolve()
    stat = file_stat(path)
    key = f"{path}|{stat['size']}|{stat['inode']}|{stat['mtime_ns']}|{stat['ctime_ns']}"
    memo = cache_dir("checksums") / f"{sha256_bytes(key.encode())[:32]}.txt"
    remembered = _read_memo(memo, key)
    if remembered and (expected is None or remembered == expected):
        return remembered
    value = hash_file(path)
    try:
        atomic_write_bytes(memo, f"{value} {_memo_check(key, value)}".encode())
    except OSError:  # a read-only or full cache costs time, not correctness
        pass
    return value


def _memo_check(key: str, value: str) -> str:
    return sha256_bytes(f"checksum memo|{key}|{value}".encode())[:16]


def _read_memo(memo: Path, key: str) -> str | None:
    """The sha256 a memo remembers, if it is whole and was written for this key; else None."""
    try:
        value, check = memo.read_text().split()
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if re.fullmatch(r"[0-9a-f]{64}", value) and check == _memo_check(key, value):
        return value
    return None


def fsync_dir(path) -> None:
    """Make a folder's entries (renames, new files) durable; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):  # filesystems without folder fsync
            raise  # EIO and the like: the commit must not go ahead as if durable
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


# -- checked arrays: the one format of every array cache ---------------------------------------------
# A cache file is trusted only if it is exactly what was written for these inputs. The file is
#   CHECKED_MAGIC, a 4-byte little-endian header length, a JSON header {"dtype", "shape", "sha256"
#   of the data, "key": the inputs it was computed for} padded with spaces, then the raw C-order data
# (at a multiple of 64 bytes, so it can be memory-mapped). Reading re-hashes the data: a cache is
# only ever computed from inputs that take far longer to process than hashing its bytes.
CHECKED_MAGIC = b"\x93EMBEDSPACE-ARRAY-1\n"
CHECKED_ALIGN = 64
CHECKED_HEADER_MAX = 1 << 20  # a longer declared header is damage, not something to allocate
CHECKED_KINDS = "biufcUS"  # numbers, booleans and fixed-width strings: no objects, no pickles
HASH_BLOCK = 1 << 24  # bytes hashed (and checked for NaN) at a time


class _DamagedCache(Exception):
    """Why a checked array file cannot be trusted (said on stderr, then the cache is recomputed)."""


def save_checked_array(path, array: np.ndarray, key: dict) -> None:
    """Write `array` atomically as a checked array file for the inputs `key` (JSON values).

    Two processes writing the same entry both succeed: each writes its own temporary file and
    renames it into place, so a reader sees one whole file or the other. A file that cannot be
    written (a full disk, a read-only cache) is said on stderr, not raised: it is computed again
    next time.
    """
    array = np.ascontiguousarray(array)
    if array.dtype.kind not in CHECKED_KINDS:
        raise TypeError(f"A checked array holds numbers or fixed-width strings, not {array.dtype}.")
    header = {"dtype": array.dtype.str, "shape": list(array.shape), "sha256": sha256_bytes(array.tobytes()),
              "key": key}
    text = json.dumps(header, sort_keys=True).encode()
    start = len(CHECKED_MAGIC) + 4 + len(text)
    text += b" " * (-start % CHECKED_ALIGN)
    try:
        atomic_write_bytes(path, CHECKED_MAGIC + len(text).to_bytes(4, "little") + text + array.tobytes())
    except OSError as exc:
        print(f"embedspace: could not write the cache file {path} ({exc}); it is computed again next time.",
              file=sys.stderr, flush=True)


def load_checked_array(path, key: dict, mmap: bool = False) -> np.ndarray | None:
    """The array saved at `path` for the inputs `key`, or None: missing, or not to be trusted.

    Not trusted (one line on stderr says which file and why; the caller computes it again and
    saves it over the bad one): unreadable, truncated, empty, not a checked array, written for
    other inputs, data that does not match its sha256, or NaN or infinite values. Never raises.
    mmap=True maps the file read-only instead of reading it into memory (after hashing it).
    """
    try:
        return _read_checked_array(Path(path), key, mmap)
    except FileNotFoundError:
        return None
    except (_DamagedCache, OSError, ValueError, TypeError, KeyError, OverflowError) as exc:
        reason = exc if isinstance(exc, _DamagedCache) else f"{type(exc).__name__}: {exc}"
        print(f"embedspace: ignoring the damaged cache file {path} ({reason}); it is computed again.",
              file=sys.stderr, flush=True)
        return None


def _read_checked_array(path: Path, key: dict, mmap: bool) -> np.ndarray:
    with open(path, "rb") as f:
        header, offset = _read_checked_header(f)
        if header.get("key") != json.loads(json.dumps(key, sort_keys=True)):
            raise _DamagedCache("written for other inputs")
        dtype, shape = np.dtype(header["dtype"]), tuple(int(n) for n in header["shape"])
        if dtype.kind not in CHECKED_KINDS or any(n < 0 for n in shape):
            raise _DamagedCache(f"not a cached array: dtype {dtype}, shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        found = os.fstat(f.fileno()).st_size - offset
        if found != nbytes:
            raise _DamagedCache(f"{found:,} bytes of data where {nbytes:,} were written")
        if mmap and nbytes:
            step = _hash_step(dtype)
            _check_data(iter(lambda: f.read(step), b""), dtype, header["sha256"])
            return np.memmap(f, dtype=dtype, mode="r", offset=offset, shape=shape)
        data = bytearray(nbytes)
        if f.readinto(data) != nbytes:
            raise _DamagedCache("shorter than its header says")
    view, step = memoryview(data), _hash_step(dtype)
    _check_data((view[i:i + step] for i in range(0, nbytes, step)), dtype, header["sha256"])
    return np.frombuffer(data, dtype).reshape(shape)  # writable: it is our own bytearray


def _read_checked_header(f) -> tuple[dict, int]:
    """(header, offset of the data) of a checked array file open at its start."""
    if f.read(len(CHECKED_MAGIC)) != CHECKED_MAGIC:
        raise _DamagedCache("not a checked array file (empty, cut short or another format)")
    length = int.from_bytes(f.read(4), "little")
    if length > CHECKED_HEADER_MAX:
        raise _DamagedCache(f"a header of {length:,} bytes")
    text = f.read(length)
    if len(text) != length:
        raise _DamagedCache("its header is cut short")
    header = json.loads(text.decode())
    if not isinstance(header, dict):
        raise _DamagedCache("its header is not a JSON object")
    return header, len(CHECKED_MAGIC) + 4 + length


def _hash_step(dtype: np.dtype) -> int:
    """HASH_BLOCK rounded down to whole values, so each block can be checked for NaN on its own."""
    return max(HASH_BLOCK // max(dtype.itemsize, 1), 1) * max(dtype.itemsize, 1)


def _check_data(blocks, dtype: np.dtype, sha256: str) -> None:
    """Hash the data block by block (each a whole number of values); raise if it is not what was written."""
    digest, finite = hashlib.sha256(), True
    for block in blocks:
        digest.update(block)
        if dtype.kind in "fc" and finite:
            finite = bool(np.isfinite(np.frombuffer(block, dtype)).all())
    if digest.hexdigest() != sha256:
        raise _DamagedCache("its data does not match its sha256")
    if not finite:
        raise _DamagedCache("NaN or infinite values")
