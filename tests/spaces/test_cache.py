"""The embedding cache (embedspace.spaces.cache): shared by the suites, composites and image maps."""

import numpy as np

from embedspace.spaces import cache
from embedspace.spaces.space import Space


def test_embedding_cache_embeds_each_text_once_and_survives_damage(tmp_path, monkeypatch):
    class Counting(Space):
        dim, languages, canonical = 4, ("en",), "counting"
        calls = []

        def _embed_text_batch(self, texts, role):
            self.calls.append(list(texts))
            return np.array([[len(t), 1, 0, 0] for t in texts], np.float32)

    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    space = Counting()
    first = cache.embed_texts_cached(space, ["a", "bb", "a"])
    assert sum(len(c) for c in Counting.calls) == 2  # "a" once
    cache.TextVectorStore._open.clear()  # as a new process would
    again = cache.embed_texts_cached(space, ["bb", "ccc", "a"], role="query")  # symmetric: the item cache
    assert Counting.calls[-1] == ["ccc"] and np.allclose(again[[0, 2]], first[[1, 0]])
    for damaged in tmp_path.rglob("seg-*.vectors.npy"):
        damaged.write_bytes(b"not numpy")
    cache.TextVectorStore._open.clear()
    cache.embed_texts_cached(space, ["a"])
    assert Counting.calls[-1] == ["a"]  # a damaged segment is embedded again, not trusted
