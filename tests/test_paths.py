"""embedspace.paths: the folder rules, and the one list of EMBEDSPACE_* variables."""

import re
from pathlib import Path

import pytest

from embedspace import paths
from embedspace.errors import InputError

ROOT = Path(__file__).resolve().parents[1]


def test_every_variable_the_code_reads_is_listed():
    """A new EMBEDSPACE_* variable anywhere in the package or the app must be named in paths.py's list."""
    sources = [*ROOT.joinpath("embedspace").rglob("*.py"), ROOT / "app.py"]
    used = {name for path in sources for name in re.findall(r"EMBEDSPACE_[A-Z_]+[A-Z]", path.read_text())}
    listed = set(re.findall(r"^\s+(EMBEDSPACE_[A-Z_]+)", paths.__doc__, re.M))
    assert used and used <= listed, f"not in paths.py's list: {sorted(used - listed)}"


def test_folders_follow_the_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path / "idx"))
    monkeypatch.delenv("EMBEDSPACE_MAP_DIR", raising=False)
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    assert paths.index_path("demo") == tmp_path / "idx" / "demo"
    assert paths.index_path("demo", tmp_path / "other") == tmp_path / "other" / "demo"  # --index-dir wins
    assert paths.map_dir() == tmp_path / "idx" / "maps"
    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path / "maps"))
    assert paths.map_dir() == tmp_path / "maps"
    assert paths.cache_dir("a", "b") == tmp_path / "cache" / "a" / "b" and (tmp_path / "cache" / "a" / "b").is_dir()


@pytest.mark.parametrize("name", ["../x", "a/b", "/../proj/poetry", ".hidden", "", "x" * 101])
def test_a_name_is_never_a_path(name):
    with pytest.raises(InputError, match="Index name"):
        paths.index_path(name)
