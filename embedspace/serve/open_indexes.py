"""The indexes a server has open, each with its space, reopened when another process commits.

Each request asks `get(name)`, which reads the index's version token (`index_version`: CURRENT's
manifest checksum, one small file) and reopens the index when a writer (a CLI `add`, or this server)
committed a new generation. An Index object stays whole while writers replace the index on disk (its
generation folder is never changed), so a request keeps the object it got; while one request opens
the new version, the others go on answering from the old one instead of waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from ..errors import EmbedspaceError, InputError
from ..index import Index, index_version, list_indexes
from .errors import IndexNotFound

log = logging.getLogger("embedspace.serve")


@dataclass(frozen=True)
class Opened:
    index: Index
    space: object  # the index's own Space
    version: str  # the version token read before the index was opened (so never newer than it)


class OpenIndexes:
    def __init__(self, index_dir=None):
        self.index_dir = index_dir
        self._open: dict[str, Opened] = {}
        self._opening: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._warm: set = set()

    def names(self) -> list[str]:
        return list_indexes(self.index_dir)

    def get(self, name: str) -> Opened:
        version = self._version(name)
        current = self._open.get(name)
        if current is not None and current.version == version:
            return current
        lock = self._lock_for(name)
        if current is not None and not lock.acquire(blocking=False):
            return current  # another request is opening the new version; this one answers from the old
        if current is None:
            lock.acquire()
        try:
            current = self._open.get(name)
            if current is not None and current.version == version:
                return current
            opened = self._open_now(name, version)
            self._open[name] = opened
            return opened
        finally:
            lock.release()

    def check(self, name: str) -> None:
        """IndexNotFound unless the folder holds an index of that name (nothing is opened)."""
        self._version(name)

    def preload(self) -> list[tuple[str, str]]:
        """Open every index of the folder now (so the first request is not the slow one):
        [(name, what happened)]."""
        report = []
        for name in self.names():
            started = time.perf_counter()
            try:
                opened = self.get(name)
                report.append((name, f"{len(opened.index):,} items, space {opened.index.space_id} "
                                     f"({time.perf_counter() - started:.1f} s)"))
            except Exception as exc:  # noqa: BLE001 - one bad index must not stop the server; said at start
                report.append((name, f"not opened: {exc}"))
        return report

    def _version(self, name: str) -> str:
        try:
            version = index_version(name, self.index_dir)
        except InputError:  # a name that is not an index name
            version = None
        if version is None:
            self._open.pop(name, None)
            known = ", ".join(self.names()) or "none"
            raise IndexNotFound(f"No index '{name}' on this server (indexes: {known}).")
        return version

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._opening.setdefault(name, threading.Lock())

    def _open_now(self, name: str, version: str) -> Opened:
        started = time.perf_counter()
        index = Index.open(name, self.index_dir)
        space = index.load_space()
        if space.id not in self._warm:  # the model's lazy parts load once, before requests run in parallel
            try:
                space.embed_texts(["the"], role="query")
            except EmbedspaceError:
                pass  # a space that cannot embed this word still answers vector and id queries
            self._warm.add(space.id)
        log.info("opened index %s generation %s: %d items (%.2f s)", name, index.generation, len(index),
                 time.perf_counter() - started)
        return Opened(index, space, version)
