"""The embedding cache: each distinct text (and image) embedded once per space and role, ever.

Shared by the evaluation suites, composite spaces (their centring words) and the image maps.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np

from ..artifacts import file_checksum, load_checked_array, save_checked_array
from ..paths import cache_dir
from ..progress import Tracker

TEXT_CHUNK = 5_000  # texts embedded and saved together (what an interrupted run loses at most)
IMAGE_CHUNK = 256


def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


def embed_texts_cached(space, texts, role: str = "item", progress: bool = False) -> np.ndarray:
    """space.embed_texts(texts), each distinct text embedded once per space and role, ever.

    Vectors live in a TextVectorStore on disk, shared by every suite (the translation suite's names
    serve the image-text suite), and written in blocks, so an interrupted run keeps its finished blocks.
    Lookup spaces (GloVe) are not cached: looking up is faster than reading a file.
    """
    texts = list(texts)
    if hasattr(space, "embed_texts_with"):  # a composite: combine its parts' cached vectors
        return space.embed_texts_with(lambda part, part_texts: embed_texts_cached(part, part_texts, role, progress),
                                      texts)
    if space.embeds_by_lookup:
        return space.embed_texts(texts, role=role)
    role = role if space.roles_differ else "item"  # the same vectors either way: one cache
    store = TextVectorStore.open(cache_dir("eval", _digest(space.id)[:16], f"texts-{role}"), space.dim,
                                 {"space": space.id, "role": role})
    missing = list(dict.fromkeys(t for t in texts if t not in store))
    with Tracker(progress if missing else None, len(missing), "Embedding texts") as bar:
        for start in range(0, len(missing), TEXT_CHUNK):
            block = missing[start:start + TEXT_CHUNK]
            store.add(block, space.embed_texts(block, role=role))
            bar.update(len(block))
    return store.get(texts)


class TextVectorStore:
    """Append-only segments of (texts, vectors) in one folder: never rewritten, safe for parallel writers.

    A segment is `seg-ID.vectors.array` then `seg-ID.texts.array`, checked arrays (artifacts.py)
    each written atomically; the texts file is written last and marks the segment complete. Reading
    checks both files, then maps the vectors (mmap), so a 300,000-word vocabulary costs little memory
    until its rows are used. A damaged segment is deleted: its texts are embedded again.
    """

    _open = {}  # folder -> store, so a process reads each segment once

    @classmethod
    def open(cls, folder, dim: int, key: dict) -> TextVectorStore:
        """The store in `folder` of vectors computed for `key` (the space and role)."""
        store = cls._open.get(str(folder))
        if store is None or store.dim != dim or store.key != key:
            store = cls._open[str(folder)] = cls(folder, dim, key)
        store.refresh()
        return store

    def __init__(self, folder, dim: int, key: dict):
        self.folder, self.dim, self.key = folder, dim, key
        self.where = {}  # text -> (segment vectors, row)
        self.seen = set()  # segment files read

    def refresh(self) -> None:
        """Read the segments written since the last look (by this process or another)."""
        for texts_file in sorted(self.folder.glob("seg-*.texts.array")):
            if texts_file.name in self.seen:
                continue
            self.seen.add(texts_file.name)
            segment = texts_file.name.split(".")[0]
            vectors_file = self.folder / f"{segment}.vectors.array"
            vectors = load_checked_array(vectors_file, self._segment_key(segment, "vectors"), mmap=True)
            texts = load_checked_array(texts_file, self._segment_key(segment, "texts"))
            if vectors is None or texts is None or vectors.shape != (len(texts), self.dim):
                vectors_file.unlink(missing_ok=True)  # damaged: its texts are embedded again, into a new segment
                texts_file.unlink(missing_ok=True)
                continue
            for row, text in enumerate(texts.tolist()):
                self.where.setdefault(text, (vectors, row))

    def _segment_key(self, segment: str, part: str) -> dict:
        return {**self.key, "segment": segment, "part": part}

    def __contains__(self, text) -> bool:
        return text in self.where

    def add(self, texts: list, vectors: np.ndarray) -> None:
        segment = f"seg-{uuid.uuid4().hex}"
        save_checked_array(self.folder / f"{segment}.vectors.array", np.asarray(vectors, dtype=np.float32),
                           self._segment_key(segment, "vectors"))
        save_checked_array(self.folder / f"{segment}.texts.array", np.array(texts, dtype=str),
                           self._segment_key(segment, "texts"))
        self.seen.add(f"{segment}.texts.array")
        for row, text in enumerate(texts):
            self.where[text] = (vectors, row)

    def get(self, texts) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            vectors, row = self.where[text]
            out[i] = vectors[row]
        return out


def embed_images_cached(space, paths, progress: bool = False) -> np.ndarray:
    """space.embed_images(paths), cached in blocks under the space id and the files' checksums."""
    paths = [str(p) for p in paths]
    if hasattr(space, "embed_images_with"):  # a composite: combine its parts' cached vectors
        return space.embed_images_with(lambda part, part_paths: embed_images_cached(part, part_paths, progress), paths)
    out = np.empty((len(paths), space.dim), np.float32)
    folder = cache_dir("eval", _digest(space.id)[:16])
    with Tracker(progress if paths else None, len(paths), "Embedding images") as bar:
        for start in range(0, len(paths), IMAGE_CHUNK):
            chunk = paths[start:start + IMAGE_CHUNK]
            inputs = {"space": space.id, "files": [file_checksum(p) for p in chunk]}
            path = folder / f"images-{_digest(inputs['space'], inputs['files'])}.array"
            vectors = load_checked_array(path, inputs)
            if vectors is None or vectors.shape != (len(chunk), space.dim):
                vectors = space.embed_images(chunk)
                save_checked_array(path, vectors, inputs)
            out[start:start + len(chunk)] = vectors
            bar.update(len(chunk))
    return out
