"""The image feature cache of image_map.image_features: a damaged file is computed again, never used."""

import numpy as np
import pytest
from cache_damage import DAMAGES, damage
from PIL import Image

from embedspace.spaces.image_map import image_features


@pytest.fixture(scope="module")
def pictures():
    rng = np.random.default_rng(1)
    return [Image.fromarray(rng.integers(0, 255, (40, 60, 3), np.uint8)) for _ in range(2)]


@pytest.mark.parametrize("kind", DAMAGES)
def test_damaged_image_features_are_computed_again(pictures, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    expected = image_features(pictures, ("lite0",))
    files = sorted((tmp_path / "features").rglob("*.*"))
    assert len(files) == len(pictures)
    row = next(r for r in expected if files[0].read_bytes().endswith(r.tobytes()))
    damage(files[0], kind, row)
    np.testing.assert_allclose(image_features(pictures, ("lite0",)), expected, rtol=0, atol=1e-5)
    # rewritten (a batch of one image may round the last bits differently from a batch of two)
    rewritten = np.frombuffer(files[0].read_bytes()[-row.nbytes:], row.dtype)
    np.testing.assert_allclose(rewritten, row, rtol=0, atol=1e-5)
