"""ConSE's cache of class-name embeddings: a damaged file is computed again, never used."""

import hashlib

import numpy as np
import pytest
from cache_damage import DAMAGES, damage

from embedspace.spaces.conse import ConseImageEncoder
from embedspace.spaces.space import Space


class HashedWords(Space):
    """A cheap text space: each text's vector comes from its sha256 (distinct texts, distinct vectors)."""

    dim, languages, canonical = 8, ("en",), "hashed-words"
    text_artifacts = {"hashed": "1"}

    def text_spec_key(self) -> str:
        return self.canonical

    def _embed_text_batch(self, texts, role):
        return np.array([np.frombuffer(hashlib.sha256(t.encode()).digest()[:8], np.uint8) for t in texts],
                        np.float32) - 127.5


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_class_vectors_are_computed_again(kind, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    expected = ConseImageEncoder(HashedWords()).class_vectors
    [path] = (tmp_path / "conse").iterdir()
    written = path.read_bytes()
    damage(path, kind, expected)
    again = ConseImageEncoder(HashedWords()).class_vectors
    np.testing.assert_array_equal(again, expected)
    assert path.read_bytes() == written
