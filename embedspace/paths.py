"""Where things live: every folder rule, and the list of every EMBEDSPACE_* variable.

Folders (read here, nowhere else):

    EMBEDSPACE_INDEX_DIR   the folder of indexes (default ./indexes; --index-dir wins)
    EMBEDSPACE_MAP_DIR     learned maps (default <index folder>/maps)
    EMBEDSPACE_CACHE_DIR   caches: embeddings, rendered emoji, features (default ~/.cache/embedspace)

Speed settings (read where they act; tests/test_paths.py keeps this list complete):

    EMBEDSPACE_THREADS          model threads (runtime.cpu_count; default: the usable cores)
    EMBEDSPACE_SEARCH_THREADS   FAISS threads for a search (index/faiss_index.search_threads_for)
    EMBEDSPACE_MAP_ASK_ABOVE    the app computes maps up to this many items without asking (app.py)

Secrets (read where they act):

    EMBEDSPACE_TOKEN            the token `embedspace serve` requires for writes (serve/settings.py; --token wins)

Index names are NAME_PATTERN: letters, digits, '.', '_' and '-', so a name is never a path.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .errors import InputError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def index_root(index_dir=None) -> Path:
    """--index-dir, else EMBEDSPACE_INDEX_DIR, else ./indexes."""
    return Path(index_dir or os.environ.get("EMBEDSPACE_INDEX_DIR") or "indexes")


def index_path(name: str, index_dir=None) -> Path:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise InputError(f"Index name {name!r}: use letters, digits, '.', '_' and '-' (up to 100), "
                         "starting with a letter or digit.")
    return index_root(index_dir) / name


def demo_images_dir(name: str, index_dir=None) -> Path:
    """Where the demo NAME keeps its pictures: `<index dir>/.demo-images/NAME`, beside the index.

    Not in the cache, which a user may clear (the index's image items would point at nothing); not
    inside the index's own folder, which belongs to the index store; and starting with '.', which
    no index name does, so it never clashes with an index.
    """
    return index_root(index_dir) / ".demo-images" / name


def map_dir(index_dir=None) -> Path:
    """EMBEDSPACE_MAP_DIR, else a `maps` folder inside the index folder (built artifacts, not code)."""
    if index_dir is None and os.environ.get("EMBEDSPACE_MAP_DIR"):
        return Path(os.environ["EMBEDSPACE_MAP_DIR"])
    return index_root(index_dir) / "maps"


def resolve_map_path(ref: str) -> Path:
    """'emoji' -> <map dir>/emoji.npz; a path (with a folder or .npz) is taken as it is."""
    if not ref:
        raise InputError("images=map: needs a map name or file, e.g. images=map:emoji.")
    path = Path(ref).expanduser()
    if path.suffix != ".npz" and len(path.parts) == 1:
        path = map_dir() / f"{ref}.npz"
    if not path.is_file():
        raise InputError(
            f"No image map at {path}. Fit one with `embedspace align {Path(ref).stem} --space SPEC --images SOURCE`, "
            "or give the path of a saved .npz map."
        )
    return path


def cache_dir(*parts: str) -> Path:
    """EMBEDSPACE_CACHE_DIR (default ~/.cache/embedspace), created on demand."""
    root = Path(os.environ.get("EMBEDSPACE_CACHE_DIR") or Path.home() / ".cache" / "embedspace")
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path
