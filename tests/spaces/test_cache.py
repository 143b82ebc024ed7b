"""The embedding cache (embedspace.spaces.cache): shared by the suites, composites and image maps."""

import numpy as np
import pytest
from cache_damage import DAMAGES, damage

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
    for damaged in tmp_path.rglob("seg-*.vectors.*"):
        damaged.write_bytes(b"not numpy")
    cache.TextVectorStore._open.clear()
    cache.embed_texts_cached(space, ["a"])
    assert Counting.calls[-1] == ["a"]  # a damaged segment is embedded again, not trusted


class Lengths(Space):
    """A cheap space that counts what it embeds: a text's vector from its length and letters,
    an image's from its mean colour."""

    dim, languages, canonical = 4, ("en",), "lengths"
    supports_images, options = True, {}

    def __init__(self):
        self.texts_embedded, self.images_embedded = [], 0

    def _embed_text_batch(self, texts, role):
        self.texts_embedded += texts
        return np.array([[len(t), ord(t[0]), ord(t[-1]), 1] for t in texts], np.float32)

    def _embed_image_batch(self, images):
        self.images_embedded += len(images)
        return np.array([[*np.asarray(image, np.float32).mean(axis=(0, 1)), 1] for image in images], np.float32)


WORDS = ["perro", "dog", "Hund", "gato", "cat", "Katze"]


@pytest.mark.parametrize("kind", DAMAGES)
@pytest.mark.parametrize("part", ("vectors", "texts"))
def test_a_damaged_text_segment_is_embedded_again_and_replaced(kind, part, tmp_path, monkeypatch):
    if kind == "nan" and part == "texts":
        pytest.skip("texts are strings: no NaN to write")
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    expected = cache.embed_texts_cached(Lengths(), WORDS)
    [path] = tmp_path.rglob(f"seg-*.{part}.*")
    stored = expected if part == "vectors" else np.array(WORDS)
    damage(path, kind, stored)
    cache.TextVectorStore._open.clear()  # as a new process would
    space = Lengths()
    np.testing.assert_array_equal(cache.embed_texts_cached(space, WORDS), expected)
    assert sorted(space.texts_embedded) == sorted(WORDS)  # embedded again, not read from the damaged segment
    assert not path.exists()  # the damaged segment is gone: the next process does not meet it again
    cache.TextVectorStore._open.clear()
    again = Lengths()
    np.testing.assert_array_equal(cache.embed_texts_cached(again, WORDS), expected)
    assert again.texts_embedded == []


@pytest.fixture
def picture_files(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(2)
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"picture-{i}.png")
        Image.fromarray(rng.integers(0, 255, (8, 8, 3), np.uint8)).save(paths[-1])
    return paths


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_image_vectors_are_embedded_again(kind, picture_files, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    expected = cache.embed_images_cached(Lengths(), picture_files)
    [path] = (tmp_path / "cache").rglob("images-*")
    written = path.read_bytes()
    damage(path, kind, expected)
    space = Lengths()
    np.testing.assert_array_equal(cache.embed_images_cached(space, picture_files), expected)
    assert space.images_embedded == len(picture_files) and path.read_bytes() == written
