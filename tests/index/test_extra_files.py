"""Extra files of a generation (store.write_index(extra_files=), replace_extra_files): checksummed
like every file, carried by a replacement that keeps the main files, and never one of the index's own."""

import pandas as pd
import pytest

from embedspace.errors import IndexStateError
from embedspace.index import build_index
from embedspace.index.store import Index, _checked_extra_names, replace_extra_files, verify_index


@pytest.fixture()
def words(tmp_path):
    pd.DataFrame({"text": ["dog", "cat", "red", "blue"]}).to_csv(tmp_path / "w.csv", index=False)
    build_index("w", [tmp_path / "w.csv"], space="use-m3", index_dir=tmp_path,
                layout=lambda items, vectors, progress: {"note.txt": b"one"})
    return tmp_path


def test_an_extra_file_is_read_back_and_checked(words):
    index = Index.open("w", words)
    assert index.read_extra("note.txt") == b"one" and index.read_extra("other") is None
    assert "note.txt" in index.manifest["files"] and verify_index("w", words)["items"] == 4
    (index.folder / "note.txt").write_bytes(b"two")
    with pytest.raises(IndexStateError, match="note.txt does not match its checksum"):
        Index.open("w", words, verify=False).read_extra("note.txt")


def test_replacing_extra_files_keeps_the_main_files_in_a_new_generation(words):
    before = Index.open("w", words)
    replace_extra_files("w", {"note.txt": None, "more.json": b"{}"}, words)
    after = Index.open("w", words)
    assert after.generation != before.generation and len(after) == 4
    assert after.read_extra("more.json") == b"{}" and after.read_extra("note.txt") is None
    assert {f: h for f, h in after.manifest["files"].items() if f != "more.json"} == \
        {f: h for f, h in before.manifest["files"].items() if f != "note.txt"}
    assert verify_index("w", words)["items"] == 4


@pytest.mark.parametrize("name", ["items.parquet", "index.faiss", "index-000.faiss", "../x", "A.txt", ""])
def test_an_extra_file_never_takes_an_index_files_name(name):
    with pytest.raises(ValueError):
        _checked_extra_names({name: b""}, ["index.faiss"])
