"""Indexes on disk: the format (`store`), choosing and tuning FAISS (`faiss_index`), reading
sources (`sources`), the chunked build (`build`), the build on Ray (`ray_runner`) and `export`.

`from embedspace.index import Index` keeps working: the names below are this package's API.
"""

from ..paths import index_path, index_root
from .build import BuildReport, build_index, remove_items
from .store import FORMAT_VERSION, Index, describe_index, list_indexes

__all__ = ["FORMAT_VERSION", "BuildReport", "Index", "build_index", "describe_index", "index_path", "index_root",
           "list_indexes", "remove_items"]
