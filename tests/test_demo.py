"""The demo index on a small subset: emoji images and names, countries, languages, words."""

import json
from pathlib import Path

import numpy as np
import pytest

from embedspace import query
from embedspace.data.emoji import clean_name, emoji_base, flag_country
from embedspace.data.render import EmojiRenderer, render_emoji
from embedspace.data.words import is_word
from embedspace.demo import DemoOptions, build_demo
from embedspace.index.store import Index
from embedspace.spaces.image_map import feature_blocks

DOGS = ("\U0001F436", "\U0001F415")  # dog face, dog
SUBSET = DOGS + tuple(
    "\U0001F431 \U0001F408 \U0001F42D \U0001F434 \U0001F437 \U0001F42E \U0001F414 \U0001F41F \U0001F98A "
    "\U0001F981 \U0001F697 \U0001F6B2 \U00002708\U0000FE0F \U0001F680 \U0001F34E \U0001F34C \U0001F355 "
    "\U00002615 \U0001F3E0 \U0001F333 \U0001F31E \U0001F319 \U0001F4D6 \U0001F3B8 \U000026BD \U0001F451 "
    "\U0001F600 \U0001F622 \U00002764\U0000FE0F \U0001F1EA\U0001F1F8 \U0001F1E9\U0001F1EA \U0001F1EA\U0001F1E6 "
    "\U0001F3C3 \U0001F3C3\U0000200D\U00002640\U0000FE0F \U0001F3C3\U0001F3FD\U0000200D\U00002640\U0000FE0F "
    "\U0001F9D1\U0000200D\U0001F4BB \U0001F469\U0000200D\U0001F4BB".split()
)
LANGS = ("en", "es", "de")
DOG_NAMES = {"en": {"dog", "dog face"}, "es": {"perro", "cara de perro"}, "de": {"hund", "hundegesicht"}}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    options = DemoOptions(languages=LANGS, emoji=SUBSET, words=300)
    result = build_demo(options, index_dir=root)
    return result, Index.open("demo", root), root, options


def test_demo_holds_every_kind_with_shared_concepts(demo):
    result, index, _, _ = demo
    items = index.items
    images = items[items["kind"] == "image"]
    assert set(images["concept"]) == set(SUBSET)  # every subset emoji renders, Spain and Ceuta share a drawing
    for label in ("emoji", "country", "language", "word"):
        assert set(items.loc[(items["kind"] == "text") & (items["label"] == label), "lang"]) == set(LANGS)
    perro = items[(items["text"] == "perro") & (items["lang"] == "es")].iloc[0]
    assert perro["concept"] == "\U0001F415"
    spain = items[items["concept"] == "country:ES"].set_index("lang")["text"].to_dict()
    assert spain == {"en": "Spain", "es": "España", "de": "Spanien"}
    assert items.loc[items["concept"] == "language:de", "lang"].nunique() == 3
    assert items.loc[items["label"] == "word", "concept"].isna().all()
    assert index.manifest["counts"]["by_kind"]["image"] == len(SUBSET)


def test_variants_link_to_their_base(demo):
    _, index, _, _ = demo
    meta = {row.concept: json.loads(row.meta or "{}") for row in index.items[index.items["kind"] == "image"].itertuples()}
    runner_medium_woman = "\U0001F3C3\U0001F3FD\U0000200D\U00002640\U0000FE0F"
    assert meta[runner_medium_woman]["base"] == "\U0001F3C3"
    assert meta[runner_medium_woman]["variant"] == "skin tone, gender"
    assert meta["\U0001F469\U0000200D\U0001F4BB"]["base"] == "\U0001F9D1\U0000200D\U0001F4BB"
    assert "base" not in meta["\U0001F3C3"]
    assert meta["\U0001F1EA\U0001F1F8"]["country"] == "country:ES"


def test_translate_perro_finds_dog(demo):
    _, index, _, _ = demo
    result = query.translate(index, index.load_space(), "perro", to="en", k=3)
    assert result["results"][0]["text"] == "dog"


def test_cli_search_without_a_kind_says_how_the_mixed_kinds_scores_compare(demo, capsys):
    from embedspace.cli import main

    _, _, root, _ = demo
    assert main(["search", "demo", "perro", "-k", "6", "--index-dir", str(root)]) == 0
    mixed = capsys.readouterr().out
    assert "[image]" in mixed and "a cosine compares items of one kind only" in mixed
    assert main(["search", "demo", "perro", "-k", "6", "--kind", "text", "--index-dir", str(root)]) == 0
    assert "one kind only" not in capsys.readouterr().out


def test_country_name_translates_to_the_same_country(demo):
    _, index, _, _ = demo
    for spanish, german in (("España", "Spanien"), ("Alemania", "Deutschland")):
        top = query.translate(index, index.load_space(), spanish, to="de", from_="es", k=1)["results"][0]
        assert top["text"] == german


def test_dog_emoji_image_neighbours_include_dog_names_in_two_languages(demo):
    """Through the demo's image map (fitted on these emoji and their names, so this checks the
    showcase as a user sees it; held-out emoji are scored by test_alignment and `eval image-text`)."""
    result, index, _, _ = demo
    space = index.load_space()
    assert "images=map:" in space.canonical and "map:" in " ".join(space.artifacts)
    image = index.items.loc[(index.items["kind"] == "image") & (index.items["concept"] == DOGS[0]), "path"].iloc[0]
    results = query.search(index, space, image=image, kind="text", k=10)["results"]
    langs = {r["lang"] for r in results if r["text"].lower() in DOG_NAMES.get(r["lang"], ())}
    assert len(langs) >= 2, [(r["lang"], r["text"]) for r in results]


def test_the_demo_map_is_fitted_with_the_recipe_chosen_across_styles(demo):
    """The recipe in DemoOptions (benchmarks/cross_style.py) is the one in the map file and its header."""
    _, index, _, options = demo
    image_map = index.load_space().image_map
    assert image_map.neighbour_part == options.map_neighbours is not None
    assert image_map.meta["alpha"] == options.map_alpha and image_map.meta["alpha_fixed"]
    assert "nearest training images" in image_map.meta["recipe"]
    assert len(image_map.neighbours) == index.manifest["counts"]["by_kind"]["image"]
    # multilevel Lite0 features (mid-level stages too): they held up better on other art styles
    assert image_map.backbones == tuple(options.map_backbones) and feature_blocks(image_map.backbones)


def test_cat_photo_through_conse_lands_near_cat_words(demo, cat_photo):
    """A photo goes in through ConSE, not the emoji map: an unfiltered search still shows cat words."""
    _, index, _, _ = demo
    results = query.search(index, index.load_space(), image=cat_photo, image_via="conse", k=10)["results"]
    texts = {r["text"].lower() for r in results if r["kind"] == "text"}
    assert texts & {"cat", "gato", "katze"}, texts


def test_why_conse_misses_the_dog_drawing(use_space):
    """Why the demo fits a map: the classifier puts little weight on any dog class."""
    from embedspace.images import load_images

    path = render_emoji([DOGS[0]])[0][DOGS[0]]
    probs, _ = use_space.image_encoder.classifier(load_images([path])[0])
    assert probs[0, 151:269].sum() < 0.2  # ImageNet classes 151..268 are the dog breeds


def test_second_run_reuses_the_index(demo):
    result, index, root, options = demo
    assert not result.reused
    again = build_demo(options, index_dir=root)
    assert again.reused and "reusing" in again.summary()
    assert Index.open("demo", root).manifest["files"] == index.manifest["files"]


def test_other_options_rebuild_the_demo_but_never_replace_another_index(tmp_path):
    from embedspace.errors import IndexStateError
    from embedspace.index.build import build_index

    tiny = DemoOptions(languages=("en",), emoji=DOGS + ("\U0001F431",), words=10, countries=("ES",))
    first = build_demo(tiny, index_dir=tmp_path)
    other = build_demo(DemoOptions(**{**tiny.__dict__, "words": 20}), index_dir=tmp_path)
    assert not first.reused and not other.reused and "replaced" in other.summary()
    assert build_demo(DemoOptions(**{**tiny.__dict__, "words": 20}), index_dir=tmp_path).reused
    (tmp_path / "words.txt").write_text("dog\ncat\n")
    build_index("mine", [str(tmp_path / "words.txt")], index_dir=tmp_path, progress=False)
    with pytest.raises(IndexStateError, match="not built by `embedspace demo`"):
        build_demo(tiny, index_dir=tmp_path, name="mine")


def test_tofu_and_sequences_the_font_lacks_are_detected():
    renderer = EmojiRenderer()
    assert renderer.problem("A") is not None  # OpenMoji has no Latin letters: .notdef
    assert renderer.problem("\u4e2d") is not None  # nor CJK ideographs
    assert renderer.problem("\U0001F436\u200d\U0001F680") is not None  # no such ZWJ sequence: two glyphs
    assert renderer.problem("\U0001F436") is None
    assert renderer.problem("\U0001F1EA\U0001F1F8") is None  # a flag is one ligature glyph
    image, reason = renderer.render("\U0001F436")
    alpha = np.asarray(image.getchannel("A"))
    assert reason is None and alpha[0].max() == 0 and alpha[:, 0].max() == 0  # drawn inside a margin


def test_names_bases_flags_and_words():
    assert clean_name(":cara_de_perro:") == "cara de perro"
    known = {"\U0001F3C3", "\U0001F3C3\u200d\u2640\ufe0f", "\U0001F575\ufe0f", "\U0001F575\ufe0f\u200d\u2640\ufe0f"}
    assert emoji_base("\U0001F3C3\U0001F3FD\u200d\u2640\ufe0f", known) == ("\U0001F3C3", ["skin tone", "gender"])
    assert emoji_base("\U0001F575\U0001F3FD\u200d\u2640\ufe0f", known) == ("\U0001F575\ufe0f", ["skin tone", "gender"])
    assert emoji_base("\U0001F3C3", known) == (None, [])
    assert flag_country("\U0001F1EA\U0001F1F8") == "ES" and flag_country("\U0001F436") is None
    assert is_word("perro", {"LATIN"}) and not is_word("don't", {"LATIN"}) and not is_word("a", {"LATIN"})
    assert is_word("\u72d7", {"CJK"}) and not is_word("the", {"CJK"})


def _image_paths(root):
    items = Index.open("demo", root).items
    return items.loc[items["kind"] == "image", "path"].tolist()


def _assert_pictures_open(paths):
    from PIL import Image

    assert paths
    for path in paths:
        with Image.open(path) as image:
            image.verify()


def test_the_demo_pictures_survive_a_cleared_cache(tmp_path, monkeypatch):
    """`rm -rf ~/.cache/embedspace` then `make run`: the pictures still show, from beside the index."""
    import shutil

    cache = tmp_path / "cache"
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(cache))
    monkeypatch.delenv("EMBEDSPACE_INDEX_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the default, relative ./indexes, as `make run` has it
    root = tmp_path / "indexes"
    tiny = DemoOptions(languages=("en",), emoji=DOGS + ("\U0001F431",), words=10, countries=("ES",))
    build_demo(tiny)
    paths = _image_paths(root)
    shutil.rmtree(cache)
    _assert_pictures_open(paths)
    assert len(paths) == 3 and not any(str(cache) in p for p in paths)
    assert not any((root / "demo") in Path(p).parents for p in paths)  # beside the index, not inside it
    assert build_demo(tiny).reused  # as `make run` does next
    _assert_pictures_open(_image_paths(root))


def test_a_lost_demo_picture_is_drawn_again_when_the_demo_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "indexes"
    tiny = DemoOptions(languages=("en",), emoji=DOGS, words=10, countries=("ES",), images="conse")
    build_demo(tiny, index_dir=root)
    paths = _image_paths(root)
    written = Path(paths[0]).read_bytes()
    Path(paths[0]).unlink()
    Path(paths[1]).write_bytes(b"damaged")
    assert build_demo(tiny, index_dir=root).reused
    assert Path(paths[0]).read_bytes() == written
    _assert_pictures_open(paths)


def test_a_demo_in_another_index_folder_shows_its_own_pictures(tmp_path, monkeypatch):
    """The demo's tables are kept in the cache by digest; one written for another index folder (or
    damaged) must not be read as this one's: its image items would point at the other folder."""
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    tiny = DemoOptions(languages=("en",), emoji=DOGS, words=10, countries=("ES",), images="conse")
    for root in (tmp_path / "first", tmp_path / "second"):
        build_demo(tiny, index_dir=root)
        paths = _image_paths(root)
        assert paths and all(Path(p).is_relative_to(root) for p in paths)
        _assert_pictures_open(paths)
