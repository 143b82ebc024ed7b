"""Ways a cache file on disk gets damaged, for the tests of every array cache.

Each damage keeps what a reader checks first (a file at the right name, and for most of them its
header): only the data is wrong. The data of an array file is its last `array.nbytes` bytes (in a
.npy and in embedspace's checked arrays alike), so the damage needs only the values the file holds.
"""

import numpy as np

DAMAGES = ("flip", "truncate", "empty", "nan", "swap", "garbage")


def damage(path, kind: str, array: np.ndarray) -> None:
    """Damage the cache file at `path`, which holds `array`, in the way `kind` names."""
    raw = bytearray(path.read_bytes())
    array = np.ascontiguousarray(array)
    start = len(raw) - array.nbytes
    assert start >= 0 and array.nbytes > 0, "the file does not end with this array's data"
    if kind == "flip":  # bytes flipped in the middle of the data
        middle = start + array.nbytes // 2
        raw[middle:middle + 4] = bytes(b ^ 0xFF for b in raw[middle:middle + 4])
    elif kind == "truncate":  # a write cut short
        raw = raw[:start + array.nbytes // 2]
    elif kind == "empty":  # 0 bytes: a disk that filled up
        raw = bytearray()
    elif kind == "nan":  # NaN values, under the header that was written for the good ones
        assert array.dtype.kind == "f"
        raw[start:] = np.full(array.shape, np.nan, array.dtype).tobytes()
    elif kind == "swap":  # two different rows trade places
        rows = array.reshape(len(array), -1)
        other = next(i for i in range(1, len(rows)) if not np.array_equal(rows[i], rows[0]))
        size = rows[0].nbytes
        first, second = raw[start:start + size], raw[start + other * size:start + (other + 1) * size]
        raw[start:start + size], raw[start + other * size:start + (other + 1) * size] = second, first
    elif kind == "garbage":  # not an array file at all
        raw = bytearray(b"PK\x03\x04 this is not a zip, an npy or a checked array" * 3)
    else:
        raise ValueError(kind)
    path.write_bytes(bytes(raw))
