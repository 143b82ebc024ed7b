"""Composite spaces (concat:...): vectors by hand, ids, backoff, images, indexes and the eval's cache."""

from pathlib import Path

import numpy as np
import pytest

from embedspace import InputError, SpecError, UnsupportedError, load_space, query
from embedspace.errors import IndexStateError
from embedspace.index.build import build_index
from embedspace.index.store import Index

WORDS = ["king", "queen", "dog", "paris", "running"]
GLOVE_USE = "concat:glove-6b-50d+use-m3*0.7"
CENTRED = "concat:glove-6b-50d[center=glove:500]+use-m3[center=glove:500]*0.5"


def unit(rows):
    rows = np.asarray(rows, np.float64)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def test_composite_equals_the_hand_computed_concatenation(glove_space, use_space):
    space = load_space(GLOVE_USE)
    expected = unit(np.hstack([glove_space.embed_texts(WORDS), 0.7 * use_space.embed_texts(WORDS)]))
    got = space.embed_texts(WORDS)
    assert got.shape == (len(WORDS), 50 + 512) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # the cosine of two items is the weighted mean of the parts' cosines
    g, u = glove_space.embed_texts(WORDS[:2]), use_space.embed_texts(WORDS[:2])
    mean = (g[0] @ g[1] + 0.49 * u[0] @ u[1]) / 1.49
    assert got[0] @ got[1] == pytest.approx(mean, abs=1e-6)


def test_centred_parts_subtract_the_mean_of_the_reference_words(glove_space, use_space):
    space = load_space(CENTRED)
    reference = list(glove_space.words[:500])
    g_mean = glove_space.embed_texts(reference).astype(np.float64).mean(axis=0)
    u_mean = use_space.embed_texts(reference).astype(np.float64).mean(axis=0)
    g = unit(glove_space.embed_texts(WORDS) - g_mean)
    u = unit(use_space.embed_texts(WORDS) - u_mean)
    np.testing.assert_allclose(space.embed_texts(WORDS), unit(np.hstack([g, 0.5 * u])), atol=1e-5)
    # the means are .npy files in the cache, named by their checksums in the id's artifacts
    means = {k: v for k, v in space.artifacts.items() if "mean-" in k}
    assert sorted(means) == ["part1/mean-glove:500.npy", "part2/mean-glove:500.npy"]
    from embedspace.artifacts import file_checksum
    from embedspace.paths import cache_dir

    stored = {file_checksum(p) for p in Path(cache_dir("composite")).glob("mean-*.npy")}
    assert set(means.values()) <= stored
    assert any("Centre of glove-6b-50d: mean of its vectors of the 500 most frequent GloVe" in n
               for n in space.info().notes)


def test_pcs_removes_the_top_principal_directions_of_the_reference(glove_space, e5_space):
    """All-but-the-top: centre, then project out the top principal directions (here from numpy's SVD)."""
    space = load_space("concat:glove-6b-50d[center=glove:300,pcs=2]+e5-small")
    reference = glove_space.embed_texts(list(glove_space.words[:300])).astype(np.float64)
    centred = reference - reference.mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[2][:2]
    g = glove_space.embed_texts(WORDS) - reference.mean(axis=0)
    g = unit(g - (g @ top.T) @ top)
    np.testing.assert_allclose(space.embed_texts(WORDS), unit(np.hstack([g, e5_space.embed_texts(WORDS)])), atol=1e-5)
    assert "pcs=2" in space.canonical and space.id != load_space("concat:glove-6b-50d[center=glove:300]+e5-small").id
    with pytest.raises(SpecError, match="needs a reference"):
        load_space("concat:glove-6b-50d[pcs=2]+e5-small")
    with pytest.raises(SpecError, match="whole number"):
        load_space("concat:glove-6b-50d[center=glove:300,pcs=x]+e5-small")


def test_the_id_records_parts_weights_and_centring():
    base = load_space(GLOVE_USE)
    assert base.canonical == "concat:glove-6b-50d[center=none]+use-m3[center=none,images=conse,topk=10]*0.7"
    # the same space written otherwise has the same id
    assert load_space("concat:glove-6b-50d[center=none]+use-m3[topk=10]*0.70").id == base.id
    others = [
        "concat:glove-6b-50d+use-m3*0.5",  # a weight
        "concat:glove-6b-50d+use-m3",  # no weight
        "concat:glove-6b-50d+e5-small*0.7",  # a part
        "concat:use-m3*0.7+glove-6b-50d",  # the order of the blocks
        "concat:glove-6b-50d[center=glove:500]+use-m3*0.7",  # centring
        CENTRED,
        "concat:glove-6b-50d+use-m3[topk=5]*0.7",  # a part's option
    ]
    ids = {load_space(spec).id for spec in others}
    assert len(ids) == len(others) and base.id not in ids
    assert base.id not in {load_space(s).id for s in ("glove-6b-50d", "use-m3")}


def test_bad_composites_are_refused_with_what_to_write():
    with pytest.raises(SpecError, match="center=glove:N"):
        load_space("concat:glove-6b-50d[center=middle]+use-m3")
    with pytest.raises(SpecError, match="same space twice"):
        load_space("concat:use-m3+use-m3[topk=10]*2")
    with pytest.raises(SpecError, match="no options of its own"):
        load_space("concat:glove-6b-50d+use-m3*1[center=glove:500]")
    with pytest.raises(SpecError, match="no option"):
        load_space("concat:glove-6b-50d+use-m3[colour=red]")


def test_a_phrase_backs_off_to_the_parts_that_can_embed_it(glove_space, use_space):
    space = load_space(GLOVE_USE)
    phrases = ["hot dog", "zzqxv unknownword", "dog"]
    got = space.embed_texts(phrases)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)
    # GloVe has neither a phrase nor an unknown word: its block is zero, the rest is use-m3's vector
    assert not got[:2, :50].any()
    np.testing.assert_allclose(got[:2, 50:], use_space.embed_texts(phrases[:2]), atol=1e-6)
    assert got[2, :50].any()
    assert "cannot embed it" in space.tokenize("hot dog").note
    assert any("Backoff" in note for note in space.info().notes)
    # a combination no part can embed is refused, naming it
    with pytest.raises(InputError, match="none of the parts"):
        space.combine([np.zeros((1, 50)), np.zeros((1, 512))], [np.zeros(1, bool), np.zeros(1, bool)])


def test_languages_report_the_union_and_the_intersection():
    space = load_space("concat:glove-6b-50d+use-m3")
    assert "es" in space.languages and "en" in space.languages
    assert space.languages_every_part == ("en",)
    assert any("Languages of every part: en" in note for note in space.info().notes)


@pytest.mark.slow
def test_images_go_through_the_parts_that_take_them(use_space, cat_photo):
    space = load_space("concat:glove-6b-50d+use-m3*0.7")
    assert space.modalities == ("text", "image")
    vector = space.embed_images([cat_photo])
    assert not vector[0, :50].any()
    np.testing.assert_allclose(vector[0, 50:], use_space.embed_images([cat_photo])[0], atol=1e-5)
    nearest = space.compare(texts=["cat", "rocket"], images=[cat_photo])[1][2, :2]
    assert nearest[0] > nearest[1]
    with pytest.raises(UnsupportedError, match="takes no images"):
        load_space("concat:glove-6b-50d+use-m3[images=none]").embed_images([cat_photo])


def test_an_index_built_with_a_composite_refuses_its_parts(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("\n".join(["king", "queen", "man", "woman", "dog", "cat", "hot dog", "paris", "france"]))
    build_index("comp", [words], space=GLOVE_USE, index_dir=tmp_path)
    index = Index.open("comp", tmp_path)
    space = load_space(GLOVE_USE)
    assert index.space_id == space.id
    hits = query.search(index, space, "kitten", k=1)
    assert hits["results"][0]["text"] == "cat"
    for part in ("use-m3", "glove-6b-50d", "concat:glove-6b-50d+use-m3*0.5"):
        with pytest.raises(IndexStateError, match="built with space concat:"):
            query.search(index, load_space(part), "dog")


def test_the_eval_combines_the_parts_cached_vectors(monkeypatch):
    """The analogy suite's vectors for a composite come from its parts' caches and equal embed_texts."""
    from embedspace.evaluation import analogy
    from embedspace.spaces.cache import embed_texts_cached

    space = load_space(CENTRED)
    words = analogy.frequency_vocabulary(500).words
    cached = embed_texts_cached(space, words)
    np.testing.assert_allclose(cached, space.embed_texts(words), atol=1e-6)
    calls = []
    original = type(load_space("use-m3")).embed_texts
    monkeypatch.setattr(type(load_space("use-m3")), "embed_texts",
                        lambda self, texts, **kw: calls.append(len(texts)) or original(self, texts, **kw))
    result = analogy.run(space, restrict_vocab=500, half="dev")
    assert calls == []  # every word came from use-m3's cache, filled by the mean above
    assert result["space_id"] == space.id and result["counts"]["answered"] > 0
    assert "--half dev" in result["command"] and "concat:" in result["command"]


def test_the_image_text_suite_runs_on_a_composite(use_space):
    """Images through use-m3's cached ConSE vectors, names through both parts (GloVe backs off on phrases)."""
    from embedspace.evaluation import image_text

    space = load_space(GLOVE_USE)
    result = image_text.run(space, languages=["en"], emoji_limit=30)
    assert result["space_id"] == space.id and result["counts"]["images"] == 30
    assert result["figures"]["languages"]["en"]["name->image"]["queries"] == 30
