"""The modality gap's pinned slice: a small demo in all 12 demo languages, its names searched with no filter.

With twelve languages a name has eleven translations among the texts, all nearer to it by cosine
than its own image (which comes in through a map fitted on drawings): the slice reproduces the
gap the full suite measures on the demo (benchmarks/mixed_search.py)."""

import pytest

from embedspace import query
from embedspace.demo import DemoOptions, build_demo
from embedspace.evaluation.image_text import mixed_search
from embedspace.index.store import Index

DOGS = ("\U0001F436", "\U0001F415")  # dog face, dog
EMOJI = DOGS + tuple(
    "\U0001F431 \U0001F408 \U0001F42D \U0001F434 \U0001F437 \U0001F42E \U0001F414 \U0001F41F \U0001F98A "
    "\U0001F981 \U0001F697 \U0001F6B2 \U00002708\U0000FE0F \U0001F680 \U0001F34E \U0001F34C \U0001F355 "
    "\U00002615 \U0001F3E0 \U0001F333 \U0001F31E \U0001F319 \U0001F4D6 \U0001F3B8 \U000026BD \U0001F451 "
    "\U0001F600 \U0001F622 \U00002764\U0000FE0F \U0001F3C3 \U0001F9D1\U0000200D\U0001F4BB".split()
)
SLICE = 15  # names a language


@pytest.fixture(scope="module")
def demo12(tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    build_demo(DemoOptions(emoji=EMOJI, words=200), index_dir=root)  # the demo's own 12 languages
    index = Index.open("demo", root)
    return index, index.load_space()


@pytest.mark.slow
def test_unfiltered_search_for_perro_lists_the_dog_image(demo12):
    """Texts and images each rank by cosine and the two lists alternate (rank fusion): the best
    image stands second, whatever the gap between the kinds' cosines."""
    index, space = demo12
    results = query.search(index, space, text="perro", k=10)["results"]
    assert [r["kind"] for r in results] == ["text", "image"] * 5, [(r["kind"], r["text"]) for r in results]
    assert results[0]["text"] == "perro" and results[1]["concept"] in DOGS
    for kind in ("text", "image"):
        alone = query.search(index, space, text="perro", k=5, kind=kind)["results"]
        assert [r["id"] for r in results if r["kind"] == kind] == [r["id"] for r in alone]
    assert all(r["score"] == r["cosine"] for r in results)  # a score is its plain cosine, as before


@pytest.mark.slow
def test_mixed_suite_slice_ranks_as_the_search_does(demo12):
    """Its 'search' rank is where `query.search` really puts the image; the unfiltered list finds
    a name's image far more often than one list by cosine, as often as images-only finds it in its top 5."""
    index, space = demo12
    figures = mixed_search(index, space, languages=["en", "es", "ja"], limit=SLICE)["languages"]
    for lang, row in figures.items():
        assert row["names"] == SLICE
        assert row["search"]["r@10"] >= row["cosine"]["r@10"] and row["search"]["r@10"] >= 0.7, (lang, row)
    items = index.items
    names = items[(items["label"] == "emoji") & (items["kind"] == "text") & (items["lang"] == "es")
                  & items["concept"].isin(items.loc[items["kind"] == "image", "concept"])].head(SLICE)
    found = [any(r["kind"] == "image" and r["concept"] == concept
                 for r in query.search(index, space, text=text, k=10)["results"])
             for text, concept in zip(names["text"], names["concept"])]
    assert sum(found) / SLICE == figures["es"]["search"]["r@10"]


@pytest.mark.slow
@pytest.mark.parametrize("small_kind", [0, 20_000])
def test_each_kind_of_an_unfiltered_search_is_its_filtered_search(demo12, monkeypatch, small_kind):
    """Both ways a kind is searched (a float16 copy of a small kind; the unfiltered search for k
    of a large one, else the filtered search) give the kind-filtered search's items, in order."""
    index, space = demo12
    monkeypatch.setattr(query, "SMALL_KIND", small_kind)
    for text in ("perro", "rocket", "Spain", "rouge"):
        mixed = query.search(index, space, text=text, k=8)["results"]
        for kind in ("text", "image"):
            alone = query.search(index, space, text=text, k=4, kind=kind)["results"]
            assert [r["id"] for r in mixed if r["kind"] == kind] == [r["id"] for r in alone], (text, kind)
