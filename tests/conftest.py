"""Tests run offline, on CPU, with a cache folder of their own."""

import hashlib
import json
import os
import tempfile
from pathlib import Path

# Set before anything imports huggingface_hub or embedspace: no test may reach a hub, and
# cached class-name embeddings from a user's runs must not hide a bug in computing them.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("EMBEDSPACE_CACHE_DIR", tempfile.mkdtemp(prefix="embedspace-test-cache-"))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# How two builds are compared lives in reproducibility.py (benchmarks/ray_multinode.py uses it too)
from reproducibility import assert_same_ranking, assert_same_results  # noqa: E402, F401


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
    from embedspace.index.ray_runner import _init, require_ray

    ray = require_ray()
    _init(ray, address=None, workers=2, cpus_per_worker=1)  # as a build starts its own: no dashboard, quiet
    yield ray
    ray.shutdown()


# A small demo index for the app's tests (AppTest and the real browser): emoji images and names,
# countries, languages and frequent words in three languages, built once per test session.
APP_EMOJI = (
    "\U0001F436", "\U0001F415", "\U0001F431", "\U0001F408", "\U0001F434", "\U0001F42E", "\U0001F697",
    "\U0001F6B2", "\U0001F680", "\U0001F34E", "\U0001F355", "\U00002615", "\U0001F3E0", "\U0001F333",
    "\U0001F451", "\U0001F478", "\U0001F934", "\U00002602\U0000FE0F", "\U0001F1EA\U0001F1F8",
)
APP_LANGS = ("en", "es", "de")


@pytest.fixture(scope="session")
def app_index_dir(tmp_path_factory):
    """A folder holding index 'demo': a small demo (~2,000 items) built with use-m3."""
    from embedspace.demo import DemoOptions, build_demo
    from embedspace.explore.layout import layout_for_build

    root = tmp_path_factory.mktemp("app-indexes")
    # ConSE images, not the demo's emoji map: the app's tests upload a photo, which a map fitted on
    # emoji drawings cannot place (docs/demo.md); test_demo covers the map demo.
    options = DemoOptions(languages=APP_LANGS, emoji=APP_EMOJI, countries=("ES", "DE", "FR", "IT", "JP", "US"),
                          words=150, images="conse")
    build_demo(options, index_dir=root, layout=layout_for_build)  # as `embedspace demo`: the map stored
    return root


def rewrite_manifest(index_folder, change) -> dict:
    """Edit the manifest of an index's current generation as a person or another version might, and
    record its new sha256 in CURRENT so that the index still opens: change(manifest) edits in place."""
    from embedspace.index.store import POINTER, current_snapshot

    snapshot = current_snapshot(Path(index_folder))
    manifest_file = snapshot.folder / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    change(manifest)
    data = json.dumps(manifest).encode()
    manifest_file.write_bytes(data)
    if snapshot.manifest_sha256:
        (Path(index_folder) / POINTER).write_text(f"{snapshot.generation}\n{hashlib.sha256(data).hexdigest()}\n")
    return manifest
