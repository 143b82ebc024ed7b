"""The on-disk format (embedspace/index/store.py): generations, what a reader may assume, checksums.

Each test here names the defect it guards against (issue 15); the process-level checks (readers
beside a writer, SIGKILL, a full disk) are in tests/test_faults.py.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import rewrite_manifest

from embedspace import query
from embedspace.errors import IndexStateError, InputError
from embedspace.index import store as store_module
from embedspace.index import verify_index
from embedspace.index.build import build_index, remove_items
from embedspace.index.sources import ReadOptions
from embedspace.index.store import POINTER, Index, IndexLock, current_snapshot

WORDS = ["dog", "cat", "house", "tree", "river", "bread", "water", "king", "queen", "city", "moon", "sun"]
FIXTURE_V1 = Path(__file__).parents[1] / "fixtures" / "v1" / "indexes"


def _words(folder: Path, words, name="words.txt") -> Path:
    path = folder / name
    path.write_text("\n".join(words) + "\n")
    return path


def _build(root: Path, name: str, source: Path, add=False):
    return build_index(name, [source], space="glove-6b-50d", read_options=ReadOptions(lang="en"), index_dir=root,
                       add=add, index_type="flat")


@pytest.fixture
def built(tmp_path):
    root = tmp_path / "indexes"
    _build(root, "w", _words(tmp_path, WORDS))
    return root


def _tree(folder: Path) -> dict:
    """Every file under a folder with its bytes: to show that something wrote nothing."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# -- the layout -----------------------------------------------------------------------------------
def test_a_write_commits_a_new_generation_and_keeps_only_the_one_before(built, tmp_path):
    first = Index.open("w", built)
    assert first.folder.parent == built / "w" and first.folder.name.startswith("gen-000001-")
    assert (built / "w" / POINTER).read_text().split()[0] == first.folder.name
    for batch in (["apple"], ["pear"], ["plum"]):
        _build(built, "w", _words(tmp_path, batch, f"{batch[0]}.txt"), add=True)
    latest = Index.open("w", built)
    assert latest.folder.name.startswith("gen-000004-") and len(latest) == len(WORDS) + 3
    generations = sorted(p.name for p in (built / "w").iterdir() if p.is_dir())
    assert len(generations) == 2 and generations[-1] == latest.folder.name  # CURRENT and the one before


def test_an_open_reader_keeps_its_snapshot_while_writers_replace_it(built, tmp_path):
    """Issue 15 item 2: a reader reads one generation; files it mapped stay readable when removed."""
    reader = Index.open("w", built)
    space = reader.load_space()
    before = query.search(reader, space, "dog", k=3)
    for batch in (["apple"], ["pear"], ["plum"]):  # three commits: the reader's generation is removed
        _build(built, "w", _words(tmp_path, batch, f"{batch[0]}.txt"), add=True)
    assert not reader.folder.exists()
    assert len(reader) == len(WORDS) and np.asarray(reader.vectors).shape == (len(WORDS), 50)
    assert query.search(reader, space, "dog", k=3)["results"] == before["results"]
    assert len(Index.open("w", built)) == len(WORDS) + 3


def test_a_reader_never_repairs_or_writes(built, tmp_path):
    """Issue 15 item 2: readers called recover() without the lock and renamed folders under a writer."""
    index_folder = built / "w"
    dead = index_folder / "gen-000009-abcdef.tmp-99999"  # a killed writer's unfinished generation
    dead.mkdir()
    (dead / "vectors.npy").write_bytes(b"half")
    (built / ".w.writing-99999").mkdir()  # format 1's leftovers
    (built / ".w.old-99999-1").mkdir()
    before = _tree(built)
    Index.open("w", built)
    verify_index("w", built)
    assert _tree(built) == before
    _build(built, "w", _words(tmp_path, ["apple"], "a.txt"), add=True)  # the next writer tidies
    assert not dead.exists() and not (built / ".w.writing-99999").exists() and not (built / ".w.old-99999-1").exists()


def test_opening_a_small_index_reads_its_mapped_files_ahead_in_a_background_thread(built, tmp_path, monkeypatch):
    """The mapped files of a small index are read once at open, so that its first searches do not
    each read their rows from disk; a large one's are not; a file that cannot be read is skipped."""
    read, threads = [], []
    real_prefetch = store_module.prefetch_mapped
    monkeypatch.setattr(store_module, "_read_through", lambda paths: read.extend(Path(p).name for p in paths))
    monkeypatch.setattr(store_module, "prefetch_mapped", lambda paths: threads.append(real_prefetch(paths)) or threads[-1])
    index = Index.open("w", built)
    threads[-1].join(10)
    assert read == ["vectors.npy", *store_module.faiss_files(index.manifest)]
    monkeypatch.setattr(store_module, "PREFETCH_MAX_BYTES", 0)
    read.clear()
    Index.open("w", built)
    assert threads[-1] is None and read == []
    monkeypatch.undo()
    (tmp_path / "some.bin").write_bytes(os.urandom(3 << 20))
    store_module._read_through([tmp_path / "missing.bin", tmp_path / "some.bin"])  # no error


def test_format_1_opens_and_the_next_write_upgrades_it(tmp_path):
    shutil.copytree(FIXTURE_V1 / "plain", tmp_path / "plain")
    old = Index.open("plain", tmp_path)
    assert old.folder == tmp_path / "plain" and old.generation is None
    remove_items("plain", ids=[int(old.items["id"].iloc[0])], index_dir=tmp_path)
    new = Index.open("plain", tmp_path)
    assert new.manifest["format_version"] == 2 and new.folder.name.startswith("gen-000001-")
    assert list(new.items["id"]) == list(old.items["id"])[1:]
    assert not (tmp_path / "plain" / "manifest.json").exists() and not (tmp_path / "plain" / "vectors.npy").exists()
    assert verify_index("plain", tmp_path)["items"] == len(old) - 1


# -- names ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["/../proj/poetry", "../x", "a/b", "", ".hidden"])
def test_a_name_that_is_a_path_is_refused_before_anything_is_written(tmp_path, name):
    """Issue 15 item 3: remove took the lock first, writing proj/poetry.lock outside the index folder."""
    root = tmp_path / "work" / "indexes"
    root.mkdir(parents=True)
    (tmp_path / "work" / "proj").mkdir()
    (tmp_path / "work" / "proj" / "poetry.lock").write_text("a file of the user's")
    before = _tree(tmp_path)
    with pytest.raises(InputError, match="Index name"):
        remove_items(name, ids=[1], index_dir=root)
    with pytest.raises(InputError, match="Index name"):
        IndexLock(name, root)
    assert _tree(tmp_path) == before and not list(root.iterdir())


@pytest.mark.parametrize("name", ["/../proj/poetry", "../x", "a/b"])
def test_the_cli_refuses_a_path_as_name_without_a_traceback(tmp_path, name):
    result = subprocess.run([sys.executable, "-m", "embedspace.cli", "remove", name, "--ids", "1", "--index-dir",
                             str(tmp_path / "indexes")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "Index name" in result.stderr
    assert not any(p.suffix == ".lock" for p in tmp_path.rglob("*"))


# -- ids ------------------------------------------------------------------------------------------
def test_a_removed_id_never_comes_back(built, tmp_path):
    """Issue 15 item 4: next_id was max(id)+1, so removing the highest id handed it out again."""
    index = Index.open("w", built)
    highest = int(index.items["id"].max())
    assert remove_items("w", ids=[highest], index_dir=built) == 1
    assert _build(built, "w", _words(tmp_path, WORDS[:3], "dups.txt"), add=True).added == 0  # all duplicates
    _build(built, "w", _words(tmp_path, ["lantern"], "new.txt"), add=True)
    items = Index.open("w", built).items
    assert int(items.loc[items["text"] == "lantern", "id"].iloc[0]) == highest + 1
    assert highest not in set(items.loc[items["text"] != "lantern", "id"])


def test_a_removed_id_is_not_reused_after_an_add_of_only_duplicates(built, tmp_path):
    highest = int(Index.open("w", built).items["id"].max())
    remove_items("w", ids=[highest], index_dir=built)
    _build(built, "w", _words(tmp_path, [*WORDS[:3], "lantern"], "mixed.txt"), add=True)
    items = Index.open("w", built).items
    assert highest not in set(items["id"]) and int(items["id"].max()) == highest + 1


# -- checksums ------------------------------------------------------------------------------------
def _swap_rows_keep_mtime(path: Path):
    """Swap two rows of vectors.npy in place and set its mtime back: what a size+mtime check misses."""
    stat = path.stat()
    data = np.load(path)
    data[[0, 1]] = data[[1, 0]]
    with open(path, "r+b") as f:  # same inode, same size
        f.seek(len(path.read_bytes()) - data.nbytes)
        f.write(data.tobytes())
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_swapped_rows_with_the_mtime_set_back_are_refused(built):
    """Issue 15 item 5: checksums were cached by (path, size, mtime), so this was searched silently."""
    Index.open("w", built)  # a first open: any memo of the good file exists
    _swap_rows_keep_mtime(Index.open("w", built).folder / "vectors.npy")
    with pytest.raises(IndexStateError, match="vectors.npy does not match its checksum"):
        Index.open("w", built)


def test_an_unchanged_index_opens_without_reading_its_files(built, tmp_path, monkeypatch):
    """A big index must open fast: files whose size, inode, mtime and ctime are as written are trusted."""
    hashed = []
    real = store_module.hash_file
    monkeypatch.setattr(store_module, "hash_file", lambda path: hashed.append(Path(path).name) or real(path))
    monkeypatch.setattr(store_module, "file_checksum", lambda path, expected=None: hashed.append(Path(path).name) or real(path))
    Index.open("w", built)
    assert hashed == []
    shutil.copytree(built / "w", tmp_path / "copy" / "w")  # a copy: new inodes, so every file is hashed once
    Index.open("w", tmp_path / "copy")
    assert sorted(hashed) == sorted(Index.open("w", built).manifest["files"])


def test_a_damaged_checksum_memo_never_refuses_a_healthy_index(built, tmp_path, monkeypatch):
    """Issue 15 item 5: a damaged memo in the cache made a healthy index refuse to open."""
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))  # the session's memos stay whole
    shutil.copytree(built / "w", tmp_path / "copy" / "w")  # a copy is checked through the memo
    Index.open("w", tmp_path / "copy")
    memos = sorted((tmp_path / "cache" / "checksums").glob("*.txt"))
    assert memos
    for number, memo in enumerate(memos):
        memo.write_text(["", "garbage", "0" * 64, "\x00\xff"][number % 4])
    assert len(Index.open("w", tmp_path / "copy")) == len(WORDS)


def test_verify_rereads_every_byte_and_finds_what_open_trusts(built):
    """Bit rot with the stat unchanged passes the fast check at open; `verify` re-reads and finds it."""
    folder = Index.open("w", built).folder
    report = verify_index("w", built)
    assert report["bytes"] == sum((folder / f).stat().st_size for f in report_files(report))
    vectors = folder / "vectors.npy"
    _swap_rows_keep_mtime(vectors)
    rewrite_manifest(built / "w", lambda m: m["file_stats"].update({"vectors.npy": store_module.file_stat(vectors)}))
    Index.open("w", built)  # trusted: the documented limit of the fast check
    with pytest.raises(IndexStateError, match="vectors.npy does not match its checksum"):
        verify_index("w", built)
    result = subprocess.run([sys.executable, "-m", "embedspace.cli", "verify", "w", "--index-dir", str(built)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "vectors.npy does not match" in result.stderr and "Traceback" not in result.stderr


def report_files(report) -> list:
    return [f["file"] for f in report["files"]]


def test_verify_from_the_cli_says_what_it_read(built):
    result = subprocess.run([sys.executable, "-m", "embedspace.cli", "verify", "w", "--index-dir", str(built), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["items"] == len(WORDS) and set(report_files(report)) == {
        "index.faiss", "items.parquet", "vectors.npy", "skipped.jsonl"}


@pytest.mark.parametrize("damage", ["garbage", "empty", "missing generation", "manifest edited"])
def test_a_damaged_pointer_or_manifest_is_refused(built, damage):
    pointer = built / "w" / POINTER
    folder = current_snapshot(built / "w").folder
    if damage == "garbage":
        pointer.write_bytes(b"\x00\xffnot a pointer")
    elif damage == "empty":
        pointer.write_bytes(b"")
    elif damage == "missing generation":
        pointer.write_text(f"gen-000099-000000\n{'0' * 64}\n")
    else:
        manifest = folder / "manifest.json"
        manifest.write_text(manifest.read_text().replace('"dim": 50', '"dim": 51'))
    with pytest.raises(IndexStateError, match="Index 'w'"):
        Index.open("w", built)


def test_long_skip_records_of_an_older_build_are_shortened_when_carried(built, tmp_path):
    """Skip records written before excerpts (a 5 MB line kept whole) are not carried whole into every add."""
    folder = Index.open("w", built).folder
    huge = {"source": "old.txt", "where": "x" * 5_000_000, "id": 7, "reason": "y" * 100_000}
    raw = (folder / "skipped.jsonl").read_text() + json.dumps(huge) + "\n"
    (folder / "skipped.jsonl").write_text(raw)  # as an older embedspace wrote it (checksums aside)
    skipped = folder / "skipped.jsonl"
    rewrite_manifest(built / "w", lambda m: (m["files"].update({"skipped.jsonl": store_module.hash_file(skipped)}),
                                             m["file_stats"].update({"skipped.jsonl": store_module.file_stat(skipped)})))
    _build(built, "w", _words(tmp_path, ["lantern"], "new.txt"), add=True)
    carried = [s for s in Index.open("w", built).skipped() if s["source"] == "old.txt"]
    assert len(carried) == 1 and len(carried[0]["where"]) < 300 and "5,000,000 characters" in carried[0]["where"]
    assert len(carried[0]["reason"]) < 600


def test_info_names_the_bytes_a_query_reads_what_is_memory_mapped_and_the_open_time(built):
    """Issue 16: `info` names every part of the bytes a vector and says which files are mapped."""
    from embedspace.index.store import describe_index

    index = Index.open("w", built)
    text = describe_index(index)
    assert "memory a query reads: ~200 bytes per vector (vectors (float32, in FAISS) 200.0)" in text  # 50-d, flat
    assert "memory-mapped (read from disk as queries need them, not loaded): index.faiss (FAISS), vectors.npy" in text
    assert index.open_seconds > 0 and f"opened in {index.open_seconds * 1000:,.0f} ms" in text
