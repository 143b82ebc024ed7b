"""artifacts.py: the checksum memo saves work and never decides."""

import pytest

from embedspace import artifacts

DAMAGES = ["", "garbage", "0" * 64, "0" * 64 + " 0123456789abcdef", "\x00\xff"]


@pytest.fixture
def weights(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "model"
    folder.mkdir()
    for number in range(3):
        (folder / f"part-{number}.bin").write_bytes(bytes([number]) * 10_000)
    return folder


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_memo_does_not_change_a_checksum(weights, tmp_path, damage):
    """A model's checksum is part of its space's id: a damaged memo that was believed gave the
    space another id for that user, and every index built with it was refused."""
    truth = artifacts.tree_checksum(weights)
    memos = sorted((tmp_path / "cache" / "checksums").glob("*.txt"))
    assert len(memos) == 3
    for memo in memos:
        memo.write_text(damage)
    assert artifacts.tree_checksum(weights) == truth
    assert all(memo.read_text() != damage for memo in memos)  # rewritten whole


def test_another_files_memo_is_not_believed(weights, tmp_path):
    first, second = sorted(weights.iterdir())[:2]
    artifacts.file_checksum(first), artifacts.file_checksum(second)
    memos = {p.name: p.read_text() for p in (tmp_path / "cache" / "checksums").glob("*.txt")}
    names = sorted(memos)
    (tmp_path / "cache" / "checksums" / names[0]).write_text(memos[names[1]])  # swapped: well formed, wrong key
    (tmp_path / "cache" / "checksums" / names[1]).write_text(memos[names[0]])
    assert artifacts.file_checksum(first) == artifacts.hash_file(first)
    assert artifacts.file_checksum(second) == artifacts.hash_file(second)


def test_a_memo_saves_reading_an_unchanged_file(weights, monkeypatch):
    path = next(weights.iterdir())
    artifacts.file_checksum(path)
    monkeypatch.setattr(artifacts, "hash_file", lambda p: pytest.fail("read again"))
    assert len(artifacts.file_checksum(path)) == 64
