"""Checked array files (artifacts.save_checked_array / load_checked_array): the one format of every
array cache. A file that is not exactly what was written for these inputs reads as None."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cache_damage import DAMAGES, damage

from embedspace.artifacts import load_checked_array, save_checked_array

KEY = {"what": "test", "inputs": ["a", 1]}


@pytest.fixture
def vectors():
    return np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)


def test_round_trip_keeps_values_shape_and_dtype(tmp_path, vectors):
    for array in (vectors, vectors[0], np.array(["perro", "dog"]), np.arange(5, dtype=np.int64),
                  np.zeros((0, 8), np.float32)):
        save_checked_array(tmp_path / "a.array", array, KEY)
        loaded = load_checked_array(tmp_path / "a.array", KEY)
        assert loaded.dtype == array.dtype and loaded.shape == array.shape
        np.testing.assert_array_equal(loaded, array)
        loaded[...] = array  # writable, like np.load's arrays
    mapped = load_checked_array(tmp_path / "a.array", KEY, mmap=True)
    np.testing.assert_array_equal(mapped, array)


def test_mmap_reads_a_checked_file(tmp_path, vectors):
    save_checked_array(tmp_path / "a.array", vectors, KEY)
    mapped = load_checked_array(tmp_path / "a.array", KEY, mmap=True)
    assert isinstance(mapped, np.memmap)
    np.testing.assert_array_equal(mapped, vectors)


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("mmap", (False, True))
def test_damaged_data_reads_as_none_with_one_line_saying_where(tmp_path, vectors, kind, mmap, capsys):
    path = tmp_path / "a.array"
    save_checked_array(path, vectors, KEY)
    damage(path, kind, vectors)
    assert load_checked_array(path, KEY, mmap=mmap) is None
    [line] = capsys.readouterr().err.splitlines()
    assert str(path) in line and "computed again" in line


def test_nan_written_with_its_own_checksum_reads_as_none(tmp_path, vectors):
    """Values that were never finite (a bad computation that was saved) are not trusted either."""
    vectors[3, 2] = np.inf
    save_checked_array(tmp_path / "a.array", vectors, KEY)
    assert load_checked_array(tmp_path / "a.array", KEY) is None


def test_another_key_missing_file_or_folder_reads_as_none(tmp_path, vectors, capsys):
    save_checked_array(tmp_path / "a.array", vectors, KEY)
    assert load_checked_array(tmp_path / "a.array", {**KEY, "inputs": ["b", 1]}) is None
    assert "other inputs" in capsys.readouterr().err
    assert load_checked_array(tmp_path / "missing.array", KEY) is None
    assert capsys.readouterr().err == ""  # not computed yet is not damage
    (tmp_path / "folder.array").mkdir()
    assert load_checked_array(tmp_path / "folder.array", KEY) is None


def test_old_npy_files_read_as_none(tmp_path, vectors):
    np.save(tmp_path / "old.npy", vectors)
    assert load_checked_array(tmp_path / "old.npy", KEY) is None


def test_a_huge_declared_header_or_shape_reads_as_none_without_allocating(tmp_path, vectors):
    path = tmp_path / "a.array"
    save_checked_array(path, vectors, KEY)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"shape": [50, 8]', b'"shape": [5000000000000, 8]'))
    assert load_checked_array(path, KEY) is None


WRITER = """
import sys, numpy as np
from embedspace.artifacts import load_checked_array, save_checked_array
path, key = sys.argv[1], {"what": "race"}
expected = np.arange(200_000, dtype=np.float32).reshape(1000, 200)
for _ in range(40):
    found = load_checked_array(path, key)
    if found is None:
        save_checked_array(path, expected, key)  # both processes recompute and write the same entry
    elif not np.array_equal(found, expected):
        sys.exit("read a mixed or damaged file")
"""


def test_two_processes_computing_the_same_entry_both_succeed(tmp_path):
    path = tmp_path / "race.array"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    runs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env, stderr=subprocess.PIPE)
            for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=60)
        assert run.returncode == 0, err.decode()
    assert load_checked_array(path, {"what": "race"}) is not None
    assert [p.name for p in tmp_path.iterdir()] == ["race.array"]  # no temporary file left behind


def test_a_cache_that_cannot_be_written_is_said_not_raised(tmp_path, vectors, capsys):
    """A full disk or a read-only cache costs a recomputation next time, not the query at hand."""
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "a.array"  # its folder is a file: writing fails as on a full disk
    save_checked_array(path, vectors, KEY)
    assert str(path) in capsys.readouterr().err
    assert load_checked_array(path, KEY) is None
