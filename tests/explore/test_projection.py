"""Maps: the FAISS kNN graph, UMAP and PCA layouts, the disk cache, and placing new points."""

import numpy as np
import pytest
from cache_damage import DAMAGES, damage

import embedspace.vectors
from embedspace import InputError
from embedspace.explore import projection
from embedspace.explore.projection import MapParams, ProjectionMap


@pytest.fixture(scope="module")
def word_vectors(glove_space):
    """1,500 frequent GloVe words in clear groups (numbers, months, animals, ...) plus the rest."""
    words = [w for w in glove_space.words[:3000] if w.isalpha()][:1500]
    return words, glove_space.embed_texts(words)


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    """A real index (use-m3) of words in three languages, for the cached maps."""
    import pandas as pd

    from embedspace.index.build import build_index
    from embedspace.index.sources import ReadOptions
    from embedspace.index.store import Index

    words = {"en": "dog cat horse cow bird fish car bus train plane red blue green yellow one two three four".split(),
             "es": ("perro gato caballo vaca pájaro pez coche autobús tren avión rojo azul verde amarillo uno dos tres "
                    "cuatro").split(),
             "de": "Hund Katze Pferd Kuh Vogel Fisch Auto Bus Zug Flugzeug rot blau grün gelb eins zwei drei vier".split()}
    rows = [{"text": w, "lang": lang, "concept": i} for lang, ws in words.items() for i, w in enumerate(ws)]
    root = tmp_path_factory.mktemp("map-index")
    path = root / "words.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    build_index("words", [path], space="use-m3", read_options=ReadOptions(lang_column="lang", concept_column="concept"),
                index_dir=root)
    return Index.open("words", root)


# -- the neighbour graph -----------------------------------------------------------------------------------
def test_knn_graph_is_exact_below_the_threshold_and_puts_each_point_first(word_vectors):
    _, vectors = word_vectors
    indices, distances = projection.knn_graph(vectors, 10)
    assert indices.shape == distances.shape == (len(vectors), 10)
    assert (indices[:, 0] == np.arange(len(vectors))).all() and (distances[:, 0] == 0).all()
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    exact = np.argsort(-sims, axis=1)[:, :9]
    assert np.mean([set(a) == set(b) for a, b in zip(indices[:, 1:], exact)]) > 0.99  # ties may swap
    expected = 1 - np.take_along_axis(vectors @ vectors.T, indices[:, 1:], axis=1)
    assert np.allclose(distances[:, 1:], expected, atol=1e-5)
    assert (np.diff(distances, axis=1) >= -1e-6).all()


def test_knn_graph_with_hnsw_above_the_threshold(monkeypatch, word_vectors):
    _, vectors = word_vectors
    monkeypatch.setattr(projection, "EXACT_KNN_BELOW", 100)
    indices, _ = projection.knn_graph(vectors, 10)
    exact, _ = projection._self_first(*_exact_search(vectors, 11), 10)
    recall = np.mean([len(set(a) & set(b)) / 9 for a, b in zip(indices[:, 1:], exact[:, 1:])])
    assert recall > 0.95
    assert (indices[:, 0] == np.arange(len(vectors))).all()


def _exact_search(vectors, k):
    sims = vectors @ vectors.T
    found = np.argsort(-sims, axis=1)[:, :k]
    return found, np.take_along_axis(sims, found, axis=1)


def test_duplicates_still_list_each_point_first():
    """Two identical vectors tie at cosine 1: FAISS may list the twin first; the point must come first."""
    found = np.array([[1, 0, 2], [0, 1, 2], [2, 0, 1]])
    sims = np.array([[1.0, 1.0, 0.5], [1.0, 1.0, 0.5], [1.0, 0.5, 0.5]], dtype=np.float32)
    indices, distances = projection._self_first(found, sims, 3)
    assert indices.tolist() == [[0, 1, 2], [1, 0, 2], [2, 0, 1]]
    assert np.allclose(distances, [[0, 0, 0.5], [0, 0, 0.5], [0, 0.5, 0.5]])


# -- layouts ------------------------------------------------------------------------------------------------
def test_umap_on_the_faiss_graph_keeps_neighbourhoods(word_vectors):
    from sklearn.manifold import trustworthiness

    _, vectors = word_vectors
    coords = projection.umap_layout(vectors, 2)
    assert coords.shape == (len(vectors), 2) and np.isfinite(coords).all()
    score = trustworthiness(vectors, coords, n_neighbors=10, metric="cosine")
    shuffled = trustworthiness(vectors, np.random.default_rng(0).permutation(coords), n_neighbors=10, metric="cosine")
    assert score > 0.8 > shuffled + 0.2


def test_umap_refuses_too_few_items():
    with pytest.raises(InputError, match="needs more than 16 items"):
        projection.umap_layout(np.eye(10, 8, dtype=np.float32), 2)


def test_pca_equals_sklearn(word_vectors):
    from sklearn.decomposition import PCA

    _, vectors = word_vectors
    coords, explained = projection.pca_layout(vectors, 3)
    reference = PCA(n_components=3, svd_solver="full").fit(vectors)
    expected = reference.transform(vectors)
    signs = np.sign(np.sum(coords * expected, axis=0))  # components are defined up to sign
    assert np.allclose(coords * signs, expected, atol=1e-4)
    assert np.allclose(explained, reference.explained_variance_ratio_, atol=1e-5)


# -- placing new points -------------------------------------------------------------------------------------
def test_place_is_the_softmax_weighted_mean_of_the_nearest_mapped_items():
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((50, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    coords = rng.standard_normal((50, 2)).astype(np.float32)
    pmap = ProjectionMap(np.arange(50), coords, MapParams(method="pca"), 50, vectors)
    query = vectors[7] + 0.3 * vectors[8]
    query /= np.linalg.norm(query)
    placed = pmap.place(query, k=4)
    sims = vectors @ query
    top = np.argsort(-sims)[:4]
    weights = np.exp((sims[top] - sims[top].max()) / projection.PLACE_TEMPERATURE)
    weights /= weights.sum()
    assert placed.neighbours[0].tolist() == top.tolist()
    assert np.allclose(placed.similarities[0], sims[top], atol=1e-6)
    assert np.allclose(placed.coords[0], weights @ coords[top], atol=1e-5)
    # An item's own vector lands on itself: its own cosine 1 outweighs every other.
    assert np.allclose(pmap.place(vectors[:5]).coords, coords[:5], atol=1e-3)


def test_placement_weights_favour_the_most_similar():
    weights = projection.placement_weights(np.array([[0.80, 0.78, 0.60], [-0.2, -0.2, -0.2]]))
    assert np.allclose(weights.sum(axis=1), 1)
    assert weights[0, 0] > weights[0, 1] > 100 * weights[0, 2]  # 0.2 lower: e^(-0.2 / temperature)
    assert np.allclose(weights[1], 1 / 3)  # equal cosines, even negative ones: a plain mean


def test_place_many_at_once_equals_one_at_a_time(monkeypatch):
    rng = np.random.default_rng(4)
    vectors = rng.standard_normal((30, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    pmap = ProjectionMap(np.arange(30), rng.standard_normal((30, 3)).astype(np.float32), MapParams(method="pca", dims=3),
                         30, vectors)
    monkeypatch.setattr(embedspace.vectors, "PLACE_BLOCK", 4)  # several blocks (the placement rule lives there)
    queries = rng.standard_normal((10, 8)).astype(np.float32)
    together = pmap.place(queries).coords
    alone = np.concatenate([pmap.place(q).coords for q in queries])
    assert together.shape == (10, 3) and np.allclose(together, alone, atol=1e-6)


# -- which items, and the cache -----------------------------------------------------------------------------
def test_eligible_rows_keep_images_unless_kinds_leave_them_out(small_index):
    items = small_index.items
    assert len(projection.eligible_rows(small_index)) == len(items)
    spanish = projection.eligible_rows(small_index, langs=("es",))
    assert set(items["lang"].iloc[spanish]) == {"es"}
    assert len(projection.eligible_rows(small_index, kinds=("image",))) == 0
    with pytest.raises(InputError, match="Map kind 'sound'"):
        projection.eligible_rows(small_index, kinds=("sound",))


def test_sample_is_fixed_and_sorted():
    rows = np.arange(1000) * 2
    first, second = projection.sample_rows(rows, 100), projection.sample_rows(rows, 100)
    assert np.array_equal(first, second) and (np.diff(first) > 0).all() and set(first) <= set(rows)
    assert np.array_equal(projection.sample_rows(rows, None), rows)


def test_projection_is_cached_on_disk_as_arrays(small_index, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    params = MapParams(method="umap", dims=2, sample=40, n_neighbors=5)
    assert projection.load_projection(small_index, params) is None
    steps = []
    first = projection.project(small_index, params, progress=lambda *event: steps.append(event))  # (stage, done, total)
    assert not first.from_cache and len(first) == 40 and first.eligible == 54 and first.sampled
    assert "knn" in first.seconds and "umap" in first.seconds and len(steps) == 2
    files = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert sorted(f.split(".", 1)[1] for f in files) == ["coords.array", "json"]  # no pickle
    assert files[0].startswith(f"words-{small_index.checksum}-umap2d-")
    second = projection.project(small_index, params)
    assert second.from_cache and np.array_equal(second.coords, first.coords) and np.array_equal(second.rows, first.rows)
    assert np.allclose(second.vectors, small_index.vectors_f32(first.rows))
    other = projection.project(small_index, MapParams(method="umap", dims=3, sample=40, n_neighbors=5))
    assert not other.from_cache and other.coords.shape == (40, 3)


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_cached_map_is_computed_again_not_shown(small_index, tmp_path, monkeypatch, kind):
    """Issue 15 item 5: a cache file with a valid header and damaged data was used as it was."""
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    params = MapParams(method="pca", dims=2, sample=40)
    first = projection.project(small_index, params)
    coords_file = next((tmp_path / "maps").glob("*.coords.*"))
    damage(coords_file, kind, first.coords)
    assert projection.load_projection(small_index, params) is None
    again = projection.project(small_index, params)
    assert not again.from_cache and np.allclose(again.coords, first.coords, atol=1e-5)
    assert projection.load_projection(small_index, params) is not None  # rewritten whole


def test_pca_map_notes_its_explained_variance(small_index, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    pmap = projection.project(small_index, MapParams(method="pca", sample=None, langs=("en", "de")))
    assert len(pmap) == 36 and not pmap.sampled
    assert pmap.note.startswith("The 2 axes explain")
    again = projection.load_projection(small_index, MapParams(method="pca", sample=None, langs=("en", "de")))
    assert again.note == pmap.note


def test_map_params_are_checked():
    with pytest.raises(InputError, match="umap or pca"):
        MapParams(method="tsne")
    with pytest.raises(InputError, match="2 or 3"):
        MapParams(dims=4)
    with pytest.raises(InputError, match="at least 3"):
        MapParams(sample=1)


def test_position_of_rows(small_index, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    pmap = projection.project(small_index, MapParams(method="pca", sample=10))
    positions = pmap.position_of_rows(np.concatenate([pmap.rows[[3, 0]], [10_000]]))
    assert positions.tolist() == [3, 0, -1]


def test_umap_builds_its_own_graph_from_the_threshold(monkeypatch, word_vectors):
    """From OWN_NN_DESCENT_FROM points umap-learn's NN-descent replaces the FAISS graph (measured faster)."""
    monkeypatch.setattr(projection, "OWN_NN_DESCENT_FROM", 100)
    monkeypatch.setattr(projection, "knn_graph", lambda *args, **kwargs: pytest.fail("FAISS graph above the threshold"))
    coords = projection.umap_layout(word_vectors[1][:300], 2)
    assert coords.shape == (300, 2) and np.isfinite(coords).all()
