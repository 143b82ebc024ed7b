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


def test_multilevel_features_start_with_the_pooled_ones_and_fill_their_cache(pictures, tmp_path, monkeypatch):
    """'lite0-multi': Lite0's pooled features, then the final map max-pooled and three stage outputs
    average-pooled (one forward pass); it also writes the plain cache, so the demo's other Lite0 users
    (ConSE, image search) run no second pass."""
    from embedspace.spaces import image_map

    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    multi = image_features(pictures, ("lite0-multi",))
    assert multi.shape == (len(pictures), image_map.feature_dim("lite0-multi")) == (2, 1280 + 1280 + 320 + 192 + 112)
    assert np.isfinite(multi).all() and (multi[:, :2560] >= 0).all()  # post-activation pooled parts
    model = image_map.classifier("lite0")
    monkeypatch.setattr(type(model), "__call__", lambda self, images: pytest.fail("plain features not cached"))
    np.testing.assert_allclose(image_features(pictures, ("lite0",)), multi[:, :1280], rtol=0, atol=1e-5)
    np.testing.assert_allclose(image_features(pictures, ("lite0-multi",)), multi, rtol=0, atol=0)
