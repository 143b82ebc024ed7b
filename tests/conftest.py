"""Tests run offline, on CPU, with a cache folder of their own."""

import os
import tempfile

# Set before anything imports huggingface_hub or embedspace: no test may reach a hub, and
# cached class-name embeddings from a user's runs must not hide a bug in computing them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("EMBEDSPACE_CACHE_DIR", tempfile.mkdtemp(prefix="embedspace-test-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def use_space():
    from embedspace import load_space

    return load_space("use-m3")


@pytest.fixture(scope="session")
def e5_space():
    from embedspace import load_space

    return load_space("e5-small")


@pytest.fixture(scope="session")
def glove_space():
    from embedspace import load_space

    return load_space("glove-6b-50d")


@pytest.fixture(scope="session")
def cat_photo():
    import skimage.data

    return skimage.data.chelsea()  # a tabby cat, 451x300 RGB


def cos(a, b) -> float:
    return float(np.dot(a, b))


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster with 2 CPUs for every Ray test (starting one takes ~5 s); builds
    with the Ray runner use it because this process has already called ray.init."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    from embedspace.ray_runner import _init, require_ray

    ray = require_ray()
    _init(ray, address=None, workers=2, cpus_per_worker=1)  # as a build starts its own: no dashboard, quiet
    yield ray
    ray.shutdown()
