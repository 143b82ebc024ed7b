"""Indexes on disk: the format (`store`), choosing and tuning FAISS (`faiss_index`), reading
sources (`sources`), the chunked build (`build`), the build on Ray (`ray_runner`) and `export`.

`from embedspace.index import Index` keeps working: the names below are this package's API.
"""

from ..paths import index_path, index_root
from .build import BuildReport, add_items, build_index, remove_items
from .sources import InlineItem
from .store import FORMAT_VERSION, Index, describe_index, index_exists, index_version, list_indexes, read_manifest, verify_index

__all__ = ["FORMAT_VERSION", "BuildReport", "Index", "InlineItem", "add_items", "build_index", "describe_index",
           "index_path", "index_root", "index_exists", "index_version", "list_indexes", "read_manifest", "remove_items",
           "verify_index"]
