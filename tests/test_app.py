"""The Streamlit app (app.py) driven headless with AppTest, on a small demo index, panel by panel.

Every panel runs on index 'demo' built by the `app_index_dir` fixture (conftest.py: emoji, their
names, countries, languages and words in en/es/de, ~1,500 items). The panels are tabs bound to
the session-state key 'panel'; only the open one runs, so each test opens the one it checks.
The last tests run every panel on index 'hostile' (hostile_items.py), whose items are Markdown,
LaTeX, colour directives, emoji shortcodes and HTML, and check that none of it reaches a field
Streamlit reads as Markdown and that each is shown as typed.
"""

import base64
import io
import json
import shutil
from pathlib import Path

import hostile_items
import numpy as np
import pytest
from conftest import rewrite_manifest
from PIL import Image

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# The first run loads use-m3, a later one the image classifier: seconds each on 2 cores.
TIMEOUT = 180


@pytest.fixture(autouse=True)
def indexes(app_index_dir, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(app_index_dir))
    return app_index_dir


def run_app(panel: str = "Search", **state) -> AppTest:
    """The page with `panel` open, after setting session state (widget values by key)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["panel"] = panel
    for key, value in state.items():
        at.session_state[key] = value
    return at.run()


def walk(node):
    """Every element under a node (at._tree: the whole page), in the page's order."""
    if getattr(node, "proto", None) is not None and not getattr(node, "children", None):
        yield node
    for child in getattr(node, "children", {}).values():
        yield from walk(child)


def errors(at) -> str:
    """The failure messages: the plain text under each red box (app.py's show_failure)."""
    elements = list(walk(at._tree))
    return " | ".join(after.value for element, after in zip(elements, elements[1:])
                      if type(element).__name__ == "Error" and type(after).__name__ == "Text")


def texts(where) -> str:
    """What st.text shows (the plain text of items, queries and messages) in at.main or at.sidebar."""
    return " | ".join(text.value for text in walk(where) if type(text).__name__ == "Text")


def cards(at) -> list:
    """The gallery's cards in order, each as its plain texts: [title, language and label]."""
    found = []

    def visit(node):
        if getattr(node, "children", None) and "_card_" in getattr(getattr(node, "proto", None), "id", ""):
            found.append([child.value for child in node.children.values() if type(child).__name__ == "Text"])
            return
        for child in getattr(node, "children", {}).values():
            visit(child)

    visit(at.main)
    return found


def card_titles(at) -> list:
    return [card[0] for card in cards(at)]


def card_details(at) -> str:
    return " | ".join(card[1] for card in cards(at) if len(card) > 1)


def captions(at) -> str:
    return " | ".join(c.value for c in at.main.caption)


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def figure_of(at, key: str = "map_chart") -> dict:
    chart = next(c for c in at.get("plotly_chart") if key in c.proto.id)
    return json.loads(chart.proto.spec)


def values(array) -> np.ndarray:
    """A plotly JSON array: a list, or a base64 typed array ({'dtype', 'bdata'})."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"])
    return np.asarray(array)


def region_names_drawn(figure: dict) -> list:
    from embedspace.explore.map_figure import region_names_drawn as drawn

    return drawn(figure)


def trace(figure: dict, name: str) -> dict:
    return next(t for t in figure["data"] if t.get("name") == name)


OVERLAYS = {"the query (placed)", "the query's neighbours", "analogy", "selected", "region names", "density"}
FADED = "other items"


def groups(figure: dict) -> dict:
    """{colour group: point count} from the legend names of the item traces ('en (1,234)'), faded items
    (those the filters leave out) under FADED."""
    names = [t["name"] for t in figure["data"] if t.get("name") and t["name"] not in OVERLAYS]
    return {name.rsplit(" (", 1)[0]: int(name.rsplit(" (", 1)[1][:-1].replace(",", "")) for name in names}


# -- sidebar -----------------------------------------------------------------------------------------
def test_sidebar_shows_the_index_and_its_space(app_index_dir):
    at = run_app()
    assert not at.exception
    assert at.sidebar.selectbox(key="index_name").value == "demo"
    assert "use-m3" in " ".join(code.value for code in at.sidebar.code)
    sidebar_text = texts(at.sidebar)
    assert "texts" in sidebar_text and "images" in sidebar_text and "en" in sidebar_text


def test_no_index_says_how_to_build_one(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path))
    at = run_app()
    assert not at.exception
    assert "embedspace demo" in " ".join(i.value for i in at.sidebar.info)
    at = run_app("Compare")
    assert not at.exception and not at.error and at.dataframe  # Compare needs no index


def test_index_whose_space_cannot_run_here(app_index_dir, tmp_path, monkeypatch):
    """Another machine's space: a message, no traceback; the map still works from stored vectors."""
    shutil.copytree(app_index_dir / "demo", tmp_path / "elsewhere")
    manifest = rewrite_manifest(tmp_path / "elsewhere", lambda m: m.update(
        space_spec="st:/models/not-on-this-machine", space_id="st:/models/not-on-this-machine#000000000000"))
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path))
    at = run_app()
    assert not at.exception
    assert "can't run here" in " ".join(w.value for w in at.sidebar.warning)
    assert "not-on-this-machine" in texts(at.sidebar)
    assert at.main.warning and "the map and each item's neighbours still work" in texts(at.main)
    at = run_app("Map", map_method="pca")
    assert not at.exception and not at.error
    ids = np.concatenate([values(t["customdata"]) for t in figure_of(at)["data"] if t.get("customdata") is not None])
    assert len(ids) == manifest["counts"]["items"]


# -- search ------------------------------------------------------------------------------------------
def test_search_for_perro_finds_dogs_in_every_language():
    at = run_app(search_text="perro")
    assert not at.exception and not at.error
    titles = card_titles(at)
    assert len(titles) == 12  # the default k: text cards, and emoji drawings (image map)
    # texts and images alternate (rank fusion, docs/indexes.md#queries); this demo's drawings go in
    # through ConSE, which cannot place them (the real demo's map puts the dog second)
    assert titles[0] == "perro" and titles[1].endswith(".png")
    assert {"perro", "dog", "hund"} <= set(titles[:8])
    assert "🇪🇸 es" in card_details(at)  # language flag and code beside each result
    assert "a cosine compares items of one kind only" in captions(at)  # why the cosines are not in order


def test_a_search_of_one_kind_says_nothing_about_mixing_kinds():
    at = run_app(search_text="perro", search_kind="text", search_k=4)
    assert not at.exception and not at.error
    assert "one kind only" not in captions(at)


def test_search_filters_by_language_kind_and_k():
    at = run_app(search_text="perro", search_lang="de", search_k=3)
    assert not at.exception and not at.error
    titles = card_titles(at)
    assert len(titles) == 3 and titles[0] == "hund"
    assert card_details(at).count("🇩🇪 de") == 3
    at = run_app(search_text="umbrella", search_kind="image", search_k=4)
    assert not at.exception and not at.error
    assert len(at.main.image) == 4, "image results are shown as images"
    assert "☂️" in card_titles(at)[0]  # the umbrella emoji is the first image for "umbrella"


def test_empty_search_shows_a_message():
    at = run_app(search_text="   ")
    assert not at.exception
    assert "Type a word or a sentence to search for" in errors(at)


def test_use_this_item_searches_with_the_item_and_leaves_it_out():
    at = run_app(search_text="gato")
    index_items = _items()
    gato = int(index_items[(index_items["text"] == "gato")]["id"].iloc[0])
    at.button(key=f"search_use_{gato}").click().run()
    assert not at.exception and not at.error
    assert at.session_state["query_mode"] == "item"
    assert any("Searching with this item's stored vector" in i.value for i in at.main.info)
    assert f"item #{gato}: gato" in texts(at.main)
    titles = card_titles(at)
    assert "gato" not in titles and "cat" in titles[:3]


def test_uploaded_non_image_and_huge_file_show_messages():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["panel"] = "Search"
    at.run()
    at.get_by_key("search_upload").set_value(("notes.png", b"these are notes, not pixels", "image/png"))
    at.run()
    assert not at.exception
    assert "'notes.png' is not an image" in errors(at)
    huge = b"\x89PNG" + bytes(21 * 2**20)
    at.get_by_key("search_upload").set_value(("huge.png", huge, "image/png"))
    at.run()
    assert not at.exception
    assert "'huge.png' is 21.0 MB; the limit is 20 MB" in errors(at)


@pytest.mark.slow
def test_uploaded_photo_searches_by_image(cat_photo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["panel"] = "Search"
    at.session_state["search_kind"] = "text"
    at.session_state["search_lang"] = "en"
    at.run()
    at.get_by_key("search_upload").set_value(("chelsea.png", png_bytes(cat_photo), "image/png"))
    at.run()
    assert not at.exception and not at.error
    assert at.session_state["query_mode"] == "image"
    assert "image: chelsea.png" in texts(at.main)
    assert "cat" in card_titles(at)[:3]


# -- analogy -----------------------------------------------------------------------------------------
def test_analogy_in_english_and_across_languages():
    at = run_app("Analogy", analogy_a="France", analogy_b="French", analogy_c="Germany", analogy_lang="en")
    assert not at.exception and not at.error
    assert card_titles(at)[0] == "German"
    assert "France : French :: Germany : ?   (3CosAdd)" in texts(at.main)
    # Spanish terms, German answers, the other method
    at = run_app("Analogy", analogy_a="Francia", analogy_b="francés", analogy_c="Alemania", analogy_lang="de",
                 analogy_method="mul")
    assert not at.exception and not at.error
    assert card_titles(at)[0] == "Deutsch"
    assert "Francia : francés :: Alemania : ?   (3CosMul" in texts(at.main)


def test_analogy_with_an_empty_term_shows_a_message():
    at = run_app("Analogy", analogy_b=" ")
    assert not at.exception
    assert "B is empty" in errors(at)


# -- translation -------------------------------------------------------------------------------------
def test_translation_shows_nn_and_csls_side_by_side():
    at = run_app("Translate", tr_text="perro", tr_to="de")
    assert not at.exception and not at.error
    table = at.main.dataframe[0].value
    assert list(table.columns) == ["rank", "NN", "NN score", "CSLS", "CSLS score"]
    assert table["NN"].iloc[0].startswith("hund") and table["CSLS"].iloc[0].startswith("hund")
    assert (np.diff(table["NN score"].to_numpy()) <= 1e-9).all()  # each column ranks by its own score
    assert (np.diff(table["CSLS score"].to_numpy()) <= 1e-9).all()


def test_translation_into_its_own_language_shows_a_message():
    at = run_app("Translate", tr_text="perro", tr_to="es", tr_from="es")
    assert not at.exception
    assert "both 'es'" in errors(at)
    at = run_app("Translate", tr_text="")
    assert "Type a word or phrase to translate" in errors(at)


# -- tokens ------------------------------------------------------------------------------------------
def test_tokens_of_the_panels_texts():
    at = run_app("Tokens", search_text="¿Dónde está el perro?", analogy_a="man")
    assert not at.exception and not at.error
    table = at.main.dataframe[0].value.set_index("text")
    assert "¿Dónde está el perro?" in table.index and "man" in table.index
    assert "▁perro" in table.loc["¿Dónde está el perro?", "tokens"]
    assert table.loc["¿Dónde está el perro?", "count"] > table.loc["man", "count"]


# -- map ---------------------------------------------------------------------------------------------
def test_pca_map_with_the_query_its_neighbours_and_the_analogy():
    at = run_app("Map", map_method="pca", search_text="perro", search_k=5, analogy_a="France",
                 analogy_b="French", analogy_c="Germany", analogy_lang="en", map_show_analogy=True)
    assert not at.exception and not at.error
    figure = figure_of(at)
    names = [t.get("name") for t in figure["data"]]
    assert "the query (placed)" in names and "the query's neighbours" in names and "analogy" in names
    neighbours = trace(figure, "the query's neighbours")
    items = _items().set_index("id")
    texts = items.loc[values(neighbours["customdata"]).astype(int), "text"].dropna().tolist()
    assert texts[:2] == ["perro", "dog"]  # the texts among them (images alternate with texts)
    assert len(figure["layout"]["annotations"]) == 2  # A->B and C->answer
    analogy_labels = trace(figure, "analogy")["text"]
    assert analogy_labels[:3] == ["France", "French", "Germany"] and analogy_labels[3] == "? = German"
    assert "PCA, 2-D" in captions(at) and "similarity-weighted mean position" in captions(at)
    assert set(groups(figure)) == {"en", "es", "de", "image (no language)"}


def test_map_colours_by_kind_and_label():
    for colour, expected in (("kind", {"text", "image"}), ("label", {"emoji", "country", "language", "word"})):
        at = run_app("Map", map_method="pca", map_color=colour)
        assert not at.exception and not at.error
        assert set(groups(figure_of(at))) == expected


def test_selected_point_is_shown_beside_the_map_with_its_concepts_image():
    perro = int(_items().query("text == 'perro'")["id"].iloc[0])
    at = run_app("Map", map_method="pca", map_item=perro)
    assert not at.exception and not at.error
    assert f"perro | 🇪🇸 es · text · emoji · #{perro}" in texts(at.main)  # the title, then what it is
    assert len(at.main.image) == 1 and "the image of its concept" in texts(at.main)
    same_concept = next(frame.value for frame in at.main.dataframe if "kind" in frame.value.columns)
    assert "dog" in same_concept["item"].tolist()
    assert trace(figure_of(at), "selected")  # the picked point is ringed on the map
    at.button(key="map_use").click().run()
    assert at.session_state["query_item"] == perro and at.session_state["panel"] == "Search"


def test_the_map_draws_the_analogy_once_the_analogy_tab_was_opened():
    """(test_3d_map_and_thumbnails checks the arrows themselves.)"""
    at = run_app("Map", map_method="pca", map_dims=3)
    assert not at.exception and at.session_state["map_show_analogy"] is False
    assert "cone" not in {t["type"] for t in figure_of(at)["data"]}  # no arrow heads
    at = run_app("Analogy")
    assert not at.exception and at.session_state["map_show_analogy"] is True


def test_3d_map_and_thumbnails():
    at = run_app("Map", map_method="pca", map_dims=3, map_show_analogy=True)
    assert not at.exception and not at.error
    figure = figure_of(at)
    assert {t["type"] for t in figure["data"]} >= {"scatter3d", "cone"}  # points, and the analogy's arrow heads
    at = run_app("Map", map_method="pca", map_kinds=["image"], map_show_query=False, map_show_analogy=False)
    figure = figure_of(at)
    images = figure["layout"].get("images", [])
    assert len(images) == (_items()["kind"] == "image").sum()
    assert all(image["source"].startswith("data:image/png;base64,") for image in images)


@pytest.mark.slow
def test_umap_map_is_computed_with_progress_and_drawn():
    at = run_app("Map", map_method="umap", map_langs=["es", "de"])
    assert not at.exception and not at.error
    assert "UMAP, 2-D" in captions(at) and "FAISS kNN graph" in captions(at)
    assert set(groups(figure_of(at))) == {"es", "de", "image (no language)"}  # images have no language


def test_a_large_umap_map_waits_for_the_button(monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_MAP_ASK_ABOVE", "100")
    at = run_app("Map", map_method="umap", map_sample=500)
    assert not at.exception and not at.error
    assert "not computed yet" in " ".join(i.value for i in at.main.info)
    assert not at.get("plotly_chart")
    at.button(key="map_compute").click().run()
    assert not at.exception and not at.error
    assert sum(groups(figure_of(at)).values()) == 500
    assert "UMAP, 2-D" in captions(at) and "computed in" in captions(at)


def test_map_of_some_kinds_and_languages():
    at = run_app("Map", map_method="pca", map_kinds=["text"], map_langs=["en"], map_sample=1_000)
    assert not at.exception and not at.error
    assert list(groups(figure_of(at))) == ["en"]
    english = int(((_items()["kind"] == "text") & (_items()["lang"] == "en")).sum())
    assert f"all {english:,} items that match the kinds and languages" in captions(at)
    at = run_app("Map", map_method="pca", map_sample=1_000)
    assert sum(groups(figure_of(at)).values()) == 1_000
    assert f"a random sample of 1,000 of the {len(_items()):,} items" in captions(at)


def drawn_ids(figure: dict) -> list:
    """Ids of the item points drawn (the customdata of the item traces, faded ones included)."""
    return [int(i) for t in figure["data"] if t.get("name") and t["name"] not in OVERLAYS and "customdata" in t
            for i in values(t["customdata"])]


def test_map_opens_on_the_stored_layout_with_every_item_and_region_names():
    at = run_app("Map")
    assert not at.exception and not at.error
    figure = figure_of(at)
    assert sorted(drawn_ids(figure)) == sorted(_items()["id"].tolist())  # every item, each once
    item_traces = [t for t in figure["data"] if t.get("name") and t["name"] not in OVERLAYS]
    assert {t["type"] for t in item_traces} == {"scattergl"}  # WebGL points
    assert "stored layout: all" in captions(at) and "computed in" not in captions(at)
    names = {"text": region_names_drawn(figure)}
    english = set(_items().query("kind == 'text' and lang == 'en'")["text"])
    assert names["text"] and set(names["text"]) <= english  # named in the UI's language by default


def test_the_search_page_draws_the_map_in_its_closed_tab_so_that_opening_it_draws_nothing_new(monkeypatch):
    from embedspace.explore import layout, map_figure, regions

    st_cache_clear()
    calls = []
    for module, name in ((layout, "stored_map"), (map_figure, "point_frame"), (regions, "region_labels")):
        monkeypatch.setattr(module, name, counted(getattr(module, name), name, calls))
    at = run_app("Search")
    assert not at.exception and not at.error
    assert sorted(calls) == ["point_frame", "region_labels", "stored_map"]  # each once, on the Search page
    hidden = map_chart(at)
    assert sorted(drawn_ids(json.loads(hidden.spec))) == sorted(_items()["id"].tolist())  # already every item
    assert "the query (placed)" in {trace.get("name") for trace in json.loads(hidden.spec)["data"]}
    assert not [c for c in at.get("plotly_chart") if "plotly_preload" in c.proto.id]  # the map itself loads plotly
    assert [h for h in at.get("html") if "stTabPanel" in h.proto.body and "visibility: hidden !important" in h.proto.body]
    at.session_state["panel"] = "Map"
    at.run()
    assert not at.exception and not at.error
    assert sorted(calls) == ["point_frame", "region_labels", "stored_map"]  # the Map tab computed none again
    shown = map_chart(at)
    assert (shown.id, shown.spec) == (hidden.id, hidden.spec)  # the same element, the same bytes: the browser keeps it


def test_an_index_without_a_stored_layout_only_loads_plotly_early(monkeypatch):
    from embedspace.explore import layout

    st_cache_clear()
    monkeypatch.setattr(layout, "stored_map", lambda index: None)
    at = run_app("Search")
    assert not at.exception and not at.error
    assert not [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]  # no map drawn unasked
    preload = [c for c in at.sidebar.get("plotly_chart") if "plotly_preload" in c.proto.id]
    assert preload and json.loads(preload[0].proto.spec)["data"][0]["type"] == "scattergl"  # plotly.js loaded early
    st_cache_clear()


def test_a_map_of_a_sample_is_not_computed_on_another_tab(monkeypatch):
    from embedspace.explore import projection

    st_cache_clear()
    calls = []
    for name in ("load_projection", "project"):
        monkeypatch.setattr(projection, name, counted(getattr(projection, name), name, calls))
    at = run_app("Search", map_method="pca")
    assert not at.exception and not at.error
    assert not calls and not [c for c in at.get("plotly_chart") if "map_chart" in c.proto.id]
    assert [c for c in at.sidebar.get("plotly_chart") if "plotly_preload" in c.proto.id]


def map_chart(at):
    charts = [c.proto for c in at.get("plotly_chart") if "map_chart" in c.proto.id]
    assert len(charts) == 1, charts
    return charts[0]


def st_cache_clear() -> None:
    import streamlit as st

    st.cache_resource.clear()


def counted(function, name: str, calls: list):
    def wrapper(*args, **kwargs):
        calls.append(name)
        return function(*args, **kwargs)
    return wrapper


def test_region_names_follow_the_picked_language_and_level():
    from embedspace.explore.regions import words_of_text

    texts = _items().query("kind == 'text' and lang == 'es'")["text"]
    spanish = set(texts) | {word for text in texts for word in words_of_text(text)}  # an item, or a word of items
    coarse = region_names_drawn(figure_of(run_app("Map", map_region_lang="es")))
    finer = region_names_drawn(figure_of(run_app("Map", map_region_lang="es", map_region_level=1)))
    assert set(coarse) <= spanish and set(finer) <= spanish and len(finer) > len(coarse)
    off = figure_of(run_app("Map", map_region_level=None))
    assert region_names_drawn(off) == []


def test_filters_on_the_stored_layout_fade_or_hide_points_without_a_new_map():
    items = _items()
    at = run_app("Map", map_langs=["en"], map_labels=["emoji"])
    assert not at.exception and not at.error
    figure = figure_of(at)
    kept = items[((items["kind"] != "text") | (items["lang"] == "en")) & (items["label"] == "emoji")]
    counts = groups(figure)
    assert counts.pop(FADED) == len(items) - len(kept) and sum(counts.values()) == len(kept)
    assert sorted(drawn_ids(figure)) == sorted(items["id"].tolist())
    assert "stored layout" in captions(at) and f"{len(kept):,} of them match" in captions(at)
    hidden = figure_of(run_app("Map", map_langs=["en"], map_labels=["emoji"], map_others="hide"))
    assert sorted(drawn_ids(hidden)) == sorted(kept["id"].tolist())


def test_a_clicked_point_leaves_the_figure_as_it_was():
    """Plotly shows the clicked point as selected itself: the figure stays identical, so Streamlit sends a
    reference to the one the browser has rather than every point again. The side panel shows the item."""
    perro = int(_items().query("text == 'perro'")["id"].iloc[0])
    before = run_app("Map")
    after = run_app("Map", map_item=perro, map_item_clicked=True)
    assert not after.exception and not after.error
    assert figure_of(after) == figure_of(before)
    assert f"perro | 🇪🇸 es · text · emoji · #{perro}" in texts(after.main)


def test_a_rerun_with_the_same_query_does_not_place_it_again(monkeypatch):
    """Placing the query and the analogy reads every stored vector (a third of a second on the full demo):
    a rerun that changes neither (a click, a filter, the tab opened again) reuses them."""
    from embedspace.explore import map_figure

    at = run_app("Map", search_text="perro")
    placed = []
    for name in ("query_overlay", "analogy_arrows"):
        real = getattr(map_figure, name)
        monkeypatch.setattr(map_figure, name, lambda *a, _real=real, _name=name, **k: placed.append(_name) or _real(*a, **k))
    again = at.run()
    assert not again.exception and not again.error and placed == []
    assert trace(figure_of(again), "the query (placed)")["text"] == ["perro"]
    again.session_state["search_text"] = "gato"
    moved = again.run()
    assert placed == ["query_overlay"] and trace(figure_of(moved), "the query (placed)")["text"] == ["gato"]


# -- compare (a space, no index) ---------------------------------------------------------------------
def similarity_table(at):
    for frame in at.dataframe:
        value = frame.value
        if list(value.index) == list(value.columns):
            return value
    raise AssertionError("no similarity matrix on the page")


def test_compare_shows_similarity_and_tokens():
    at = run_app("Compare")
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert list(table.index) == ["dog", "perro", "coche"]
    assert np.allclose(np.diag(table.to_numpy()), 1.0, atol=1e-4)
    assert table.loc["dog", "perro"] > table.loc["dog", "coche"]
    tokens = next(frame.value for frame in at.dataframe if "tokens" in frame.value.columns)
    assert "▁perro" in tokens.set_index("text").loc["perro", "tokens"]


def test_compare_with_changed_texts_and_an_empty_one():
    at = run_app("Compare", text_1="cat", text_2="coche", more_texts="gato\n\nauto\n")
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert list(table.index) == ["cat", "coche", "gato", "auto"]
    assert table.loc["cat", "gato"] > table.loc["cat", "coche"]
    at = run_app("Compare", text_2="   ")
    assert "Text 2 is empty" in errors(at)


def test_compare_with_glove_and_a_typed_spec():
    at = run_app("Compare", space_choice="glove-6b-50d", text_1="qzxwvj")
    assert "'qzxwvj' is not among GloVe's" in errors(at)
    at = run_app("Compare", space_spec="no-such-space")
    assert "Unknown space 'no-such-space'" in errors(at)


@pytest.mark.slow
def test_compare_an_uploaded_image(cat_photo):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["panel"] = "Compare"
    at.session_state["text_1"], at.session_state["text_2"], at.session_state["more_texts"] = "cat", "car", ""
    at.run()
    at.get_by_key("image_upload").set_value(("chelsea.png", png_bytes(cat_photo), "image/png")).run()
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert table.loc["image: chelsea.png", "cat"] > table.loc["image: chelsea.png", "car"]


def _items():
    import os

    from embedspace.index.store import Index

    return Index.open("demo", os.environ["EMBEDSPACE_INDEX_DIR"]).items


# -- text from an index, a query or an upload is shown as typed --------------------------------------
# Element fields that Streamlit shows as plain text. Every other string of an element (the body of
# st.markdown, st.caption and the alerts, image captions, widget labels, help, radio options, tab
# and expander labels) is read as Markdown, where hostile_items.HOSTILE would become an image
# fetched from another host, a formula, coloured text, an emoji or a link.
PLAIN_FIELDS = {
    "Text": {"body"}, "Code": {"code_text"}, "Selectbox": {"options", "raw_value"},
    "MultiSelect": {"options", "raw_values"}, "TextInput": {"value", "default"}, "TextArea": {"value", "default"},
    "PlotlyChart": {"spec"},  # plotly reads HTML, not Markdown: map_figure escapes it (tests/explore)
    "Dataframe": {"columns"},  # the column settings: their names are headers, plain text
}


def strings_of(message, element: str):
    """(field name, string) of every string field of a proto message, nested messages included."""
    for descriptor, value in message.ListFields():
        repeated = hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
        values = value if repeated else [value]
        for one in values:
            if isinstance(one, str):
                yield descriptor.name, one
            elif hasattr(one, "ListFields"):
                yield from strings_of(one, element)


def markdown_strings(at) -> list:
    """What the page gives Streamlit's Markdown, backslash escapes removed (an escaped '\\:smile\\:'
    still becomes an emoji, and an escaper that misses one character is the bug this looks for)."""
    found = []
    for element in walk(at._tree):
        kind = type(element.proto).__name__
        for name, value in strings_of(element.proto, kind):
            if name not in PLAIN_FIELDS.get(kind, ()) and name != "id":
                found.append(value.replace("\\", ""))
    return found


def plain_strings(at) -> list:
    return [value for element in walk(at._tree) for name, value in strings_of(element.proto, type(element.proto).__name__)
            if name in PLAIN_FIELDS.get(type(element.proto).__name__, ())]


def assert_no_hostile_markdown(at) -> None:
    assert not at.exception
    leaked = [value for value in markdown_strings(at) for hostile in hostile_items.HOSTILE + (hostile_items.IMAGE_NAME,)
              if hostile in value]
    assert not leaked, f"rendered as Markdown: {leaked}"


def shown_as_text(at) -> str:
    """Everything the page shows as plain text: st.text, select options, and the dataframes' cells."""
    cells = [str(value) for frame in at.dataframe for value in frame.value.to_numpy().ravel()]
    return "\n".join(plain_strings(at) + cells)


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory):
    """A folder with only index 'hostile' (hostile_items.py), whose ids by text and the image's id."""
    root = hostile_items.build_hostile_index(tmp_path_factory.mktemp("hostile-index"))
    from embedspace.index.store import Index

    items = Index.open(hostile_items.NAME, root).items
    return root, items


@pytest.fixture
def hostile_app(hostile_index, monkeypatch):
    root, items = hostile_index
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(root))
    return items


def id_of(items, text: str, lang: str = "en") -> int:
    return int(items[(items["text"] == text) & (items["lang"] == lang)]["id"].iloc[0])


def test_search_results_show_hostile_texts_and_labels_as_typed(hostile_app):
    at = run_app(search_text=hostile_items.HOSTILE[0], search_k=30)
    assert_no_hostile_markdown(at)
    assert not at.error
    shown = shown_as_text(at)
    for hostile in hostile_items.HOSTILE + (hostile_items.IMAGE_NAME,):
        assert hostile in shown, hostile  # every text, label and the image's file name, as typed
    # 'Use this item': the query names the item by its text
    at = run_app(query_mode="item", query_item=id_of(hostile_app, hostile_items.HOSTILE[2]))
    assert_no_hostile_markdown(at)
    assert f"#{id_of(hostile_app, hostile_items.HOSTILE[2])}: {hostile_items.HOSTILE[2]}" in shown_as_text(at)


def test_an_uploaded_file_name_is_shown_as_typed(hostile_app):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["panel"] = "Search"
    at.run()
    name = hostile_items.HOSTILE[0] + ".png"
    at.get_by_key("search_upload").set_value((name, b"not pixels", "image/png")).run()
    assert_no_hostile_markdown(at)  # the error quotes the name
    assert f"'{name}' is not an image" in shown_as_text(at)
    at.get_by_key("search_upload").set_value((name, png_bytes(np.full((32, 32, 3), 90, np.uint8)), "image/png"))
    at.run()
    assert_no_hostile_markdown(at)  # the uploaded image's caption
    assert f"image: {name}" in shown_as_text(at)


def test_analogy_and_translation_show_hostile_terms_and_results_as_typed(hostile_app):
    a, b, c = hostile_items.HOSTILE[1:4]
    at = run_app("Analogy", analogy_a=a, analogy_b=b, analogy_c=c, analogy_lang="en", analogy_k=30)
    assert_no_hostile_markdown(at)
    assert not at.error
    shown = shown_as_text(at)
    assert f"{a} : {b} :: {c} : ?" in shown
    assert all(hostile in shown for hostile in hostile_items.HOSTILE[4:])  # the results, not A, B or C
    at = run_app("Translate", tr_text=hostile_items.HOSTILE[0], tr_to="es", tr_k=20)
    assert_no_hostile_markdown(at)
    assert not at.error
    assert set(at.main.dataframe[0].value["NN"].str.rstrip(" ✱")) == set(hostile_items.TRANSLATED)


def test_map_and_its_item_panel_show_hostile_items_as_typed(hostile_app):
    first = id_of(hostile_app, hostile_items.HOSTILE[0])  # its concept has an image
    at = run_app("Map", map_method="pca", map_color="label", map_item=first, search_text=hostile_items.HOSTILE[3],
                 search_k=5)
    assert_no_hostile_markdown(at)
    assert not at.error
    shown = shown_as_text(at)
    assert hostile_items.HOSTILE[0] in shown  # the item's title, its concept, its image's caption
    assert hostile_items.IMAGE_NAME in shown  # among the item's neighbours and its concept's items
    assert hostile_items.HOSTILE[3] in shown  # among the highlighted items to pick from
    figure = figure_of(at)
    legend = " ".join(t.get("name") or "" for t in figure["data"])
    assert "<img" not in legend and "&lt;img src=x onerror=alert(1)&gt;" in legend  # plotly reads HTML in names
    image = next(frame for frame in walk(at._tree) if type(frame.proto).__name__ == "ImageList")
    assert not [img.caption for img in image.proto.imgs if img.caption]  # captions are st.text, not Markdown


def test_tokens_and_compare_show_hostile_texts_as_typed(hostile_app):
    at = run_app("Tokens", search_text=hostile_items.HOSTILE[4], tr_text=hostile_items.HOSTILE[5])
    assert_no_hostile_markdown(at)
    assert hostile_items.HOSTILE[4] in shown_as_text(at)
    at = run_app("Compare", text_1=hostile_items.HOSTILE[0], text_2=hostile_items.HOSTILE[1],
                 more_texts="\n".join(hostile_items.HOSTILE[2:]))
    assert_no_hostile_markdown(at)
    assert not at.error
    # errors quote what was typed: an unknown space, a word GloVe lacks
    at = run_app("Compare", space_spec=hostile_items.HOSTILE[2])
    assert_no_hostile_markdown(at)
    assert hostile_items.HOSTILE[2] in shown_as_text(at)
    at = run_app("Compare", space_choice="glove-6b-50d", text_1=hostile_items.HOSTILE[3])
    assert_no_hostile_markdown(at)
    assert hostile_items.HOSTILE[3] in shown_as_text(at)


def test_an_app_open_to_the_network_by_default_shows_nothing():
    """Closed by default, wherever it is started: without .streamlit/config.toml (streamlit run from
    another folder) Streamlit listens on every interface, so the app refuses to show the indexes."""
    from streamlit import config

    configured = config.get_option("server.address")
    assert configured == "127.0.0.1"  # the checkout's .streamlit/config.toml, as `make run` reads it
    config.set_option("server.address", "")
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    finally:
        config.set_option("server.address", configured)
    assert [e.value for e in at.error] == ["This app is listening on every network interface, so it shows nothing."]
    assert "--server.address 127.0.0.1" in at.text[0].value and not at.tabs and not at.sidebar.selectbox

