"""The app's page logic without Streamlit: queries, results, item details, the map figure."""

import json

import numpy as np
import pytest

from embedspace import InputError, query
from embedspace.explore import explorer, map_figure
from embedspace.explore.projection import MapParams, ProjectionMap, project
from embedspace.index.store import Index


@pytest.fixture(scope="module")
def demo(app_index_dir):
    index = Index.open("demo", app_index_dir)
    return index, index.load_space()


def item_id(index, text, lang=None):
    items = index.items
    rows = items[(items["text"] == text) & ((items["lang"] == lang) if lang else True)]
    return int(rows["id"].iloc[0])


# -- queries ---------------------------------------------------------------------------------------------
def test_text_query_equals_the_query_api(demo):
    index, space = demo
    ours = explorer.search(index, space, explorer.text_query(space, " perro "), k=5, lang=explorer.ANY)
    reference = query.search(index, space, "perro", k=5)["results"]
    assert [r["id"] for r in ours] == [r["id"] for r in reference]


def test_empty_text_query_is_refused(demo):
    _, space = demo
    with pytest.raises(InputError, match="Type a word or a sentence"):
        explorer.text_query(space, "  ")


def test_item_query_leaves_the_item_out_and_ranks_from_one(demo):
    index, space = demo
    gato = item_id(index, "gato")
    results = explorer.search(index, space, explorer.item_query(index, gato), k=5)
    assert gato not in [r["id"] for r in results]
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    assert results[0]["text"] == "cat"
    with pytest.raises(InputError, match="no item #999999"):
        explorer.item_query(index, 999_999)


def test_uploads_that_are_too_big_or_empty_are_refused_before_decoding(demo):
    _, space = demo
    with pytest.raises(InputError, match="'big.jpg' is 20.5 MB; the limit is 20 MB"):
        explorer.image_query(space, "big.jpg", bytes(int(20.5 * 2**20)))
    with pytest.raises(InputError, match="'empty.png' is empty"):
        explorer.image_query(space, "empty.png", b"")


def test_image_query_into_a_text_only_space_is_refused(glove_space, cat_photo):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(cat_photo).save(buffer, format="PNG")
    with pytest.raises(InputError, match="takes no images"):
        explorer.image_query(glove_space, "cat.png", buffer.getvalue())


def test_filters_that_match_nothing_say_so(demo):
    index, space = demo
    with pytest.raises(InputError, match="No items match the filters"):
        explorer.search(index, space, explorer.text_query(space, "perro"), kind="image", lang="es")


def test_analogy_needs_three_terms_and_returns_their_vectors(demo):
    index, space = demo
    with pytest.raises(InputError, match="C is empty"):
        explorer.analogy(index, space, "man", "king", "")
    result = explorer.analogy(index, space, "France", "French", "Germany", lang="en", kind="text")
    assert result.results[0]["text"] == "German"
    assert result.vectors.shape == (3, space.dim)
    assert float(result.vectors[0] @ space.embed_texts(["France"], role="item")[0]) > 0.9999


def test_translation_side_by_side_marks_what_only_one_method_ranks(demo):
    index, space = demo
    result = explorer.translate(index, space, "perro", "de", k=8)
    assert result.nn[0]["text"] == "hund" == result.csls[0]["text"]
    table = result.side_by_side()
    assert list(table["rank"]) == list(range(1, 9))
    nn_only = {r["text"] for r in result.nn} - {r["text"] for r in result.csls}
    marked = {text[:-2] for text in table["NN"] if text.endswith(" ✱")}
    assert marked == nn_only
    # the panel compares the methods themselves: CSLS without translate's default re-ranking
    into_english = explorer.translate(index, space, "perro", "en", k=8)
    assert into_english.csls == query.translate(index, space, "perro", to="en", k=8, rerank="none")["results"]
    with pytest.raises(InputError, match="both 'de'"):
        explorer.translate(index, space, "Hund", "de", "de")
    with pytest.raises(InputError, match="Pick the language"):
        explorer.translate(index, space, "Hund", explorer.ANY)


# -- showing results --------------------------------------------------------------------------------------
def test_flags_come_from_the_likely_country():
    assert explorer.flag("es") == "🇪🇸" and explorer.flag("de") == "🇩🇪"
    assert explorer.flag("zh-Hans") == "🇨🇳" and explorer.flag("zh-Hant") == "🇹🇼"
    assert explorer.flag(None) == "" and explorer.language_label("ja") == "🇯🇵 ja"


def test_cards_show_images_for_image_items(demo):
    index, space = demo
    results = explorer.search(index, space, explorer.text_query(space, "umbrella"), kind="image", k=3)
    cards = explorer.cards(index, results)
    assert all(card.image and card.image.endswith(".png") for card in cards)
    assert cards[0].title.startswith("☂️")
    assert cards[0].language == ""


def test_item_view_shows_its_concepts_image_translations_and_neighbours(demo):
    index, _ = demo
    view = explorer.item_view(index, item_id(index, "perro"), k=5)
    assert view.image.endswith(".png") and "concept" in view.image_caption
    assert {"dog", "hund"} <= set(view.same_concept["item"])
    assert len(view.neighbours) == 5 and "perro" not in view.neighbours["item"].tolist()
    assert view.neighbours["item"].iloc[0] == "dog"


# -- the map figure ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pca_map(demo):
    index, _ = demo
    return project(index, MapParams(method="pca", sample=None))  # cached in the tests' own cache folder


def test_point_frame_groups_and_hover(demo, pca_map):
    index, _ = demo
    frame = map_figure.point_frame(index, pca_map, "language")
    assert len(frame) == len(index)
    assert set(frame["group"]) == {"en", "es", "de", map_figure.NO_LANGUAGE}
    perro = frame[frame["id"] == item_id(index, "perro")].iloc[0]
    assert perro["hover"] == "perro"  # the title only: the trace adds the group and the id
    image = frame[frame["kind"] == "image"].iloc[0]
    assert image["hover"].endswith(".png")  # an image's concept and file name
    assert set(map_figure.point_frame(index, pca_map, "kind")["group"]) == {"text", "image"}
    spanish = next(t for t in map_figure.map_figure(frame, 2).data if t.name.startswith("es ("))
    assert spanish.meta == "es" and "%{meta}" in spanish.hovertemplate and "#%{customdata}" in spanish.hovertemplate


def test_map_spec_sends_titles_not_details_per_point(demo, pca_map):
    """The browser is sent a point's coordinates, id and title; language, label and id spelled out per
    point made the full demo's map 7.6 MB (most of its time to open)."""
    index, _ = demo
    frame = map_figure.point_frame(index, pca_map, "language")
    spec = map_figure.map_figure(frame, 2).to_json()
    titles = len(json.dumps(frame["hover"].tolist()))  # as plotly writes them (non-ASCII as \u escapes)
    # x, y (float32) and id (int32) as base64: 16 bytes a point; plotly's template and the layout: ~10 kB
    assert len(spec) - titles < 17 * len(frame) + 12_000


def test_hover_text_is_escaped():
    import pandas as pd

    items = pd.DataFrame({"id": [1, 2], "kind": ["text", "image"], "text": ["<b>x</b>", None], "lang": ["en", None],
                          "label": [None, None], "concept": [None, "<i>c</i>"], "path": [None, "/p/<a>.png"]})
    assert list(map_figure.hover_titles(items)) == ["&lt;b&gt;x&lt;/b&gt;", "&lt;i&gt;c&lt;/i&gt; &lt;a&gt;.png"]


def test_legend_names_are_escaped():
    """Colour by label: the labels are legend names, which plotly reads as HTML (a link, here)."""
    import pandas as pd

    frame = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "id": [1, 2], "kind": ["text", "text"], "path": None,
                          "group": ['<a href="http://example.com">x</a>', "plain"], "hover": ["a", "b"]})
    names = [trace.name for trace in map_figure.map_figure(frame, 2).data]
    assert names == ['&lt;a href=&quot;http://example.com&quot;&gt;x&lt;/a&gt; (1)', "plain (1)"]


def test_palette_is_stable_and_images_are_grey():
    first = map_figure.palette(["es", "en", map_figure.NO_LANGUAGE])
    second = map_figure.palette(["en", "es", "de", map_figure.NO_LANGUAGE])
    assert first[map_figure.NO_LANGUAGE] == second[map_figure.NO_LANGUAGE] == map_figure.IMAGE_COLOR
    assert len(set(second.values())) == 4


def test_figure_with_query_neighbours_arrows_and_thumbnails(demo, pca_map):
    index, space = demo
    q = explorer.text_query(space, "perro")
    results = explorer.search(index, space, q, k=4)
    overlay = map_figure.query_overlay(index, pca_map, q.label, q.vector, results)
    analogy = explorer.analogy(index, space, "France", "French", "Germany", lang="en")
    overlay.arrows = map_figure.analogy_arrows(index, pca_map, analogy.terms, analogy.vectors, analogy.results[0])
    frame = map_figure.point_frame(index, pca_map)
    figure = map_figure.map_figure(frame, 2, overlay, thumbnails=True)
    names = [trace.name for trace in figure.data]
    assert "the query (placed)" in names and "the query's neighbours" in names and "analogy" in names
    neighbours = next(t for t in figure.data if t.name == "the query's neighbours")
    assert list(neighbours.customdata) == [r["id"] for r in results]
    # The neighbours are drawn where the items are on the map.
    positions = pca_map.position_of_rows([index.row_of_id[r["id"]] for r in results])
    assert np.allclose(np.c_[neighbours.x, neighbours.y], pca_map.coords[positions])
    assert len(figure.layout.annotations) == 2
    assert len(figure.layout.images) == int((index.items["kind"] == "image").sum())
    assert overlay.arrows[1][1].label == "? = German"


def test_items_not_in_a_sampled_map_are_placed(demo):
    index, space = demo
    rows = np.arange(0, len(index), 2)
    pmap = ProjectionMap(rows, np.random.default_rng(0).standard_normal((len(rows), 2)).astype(np.float32),
                         MapParams(method="pca"), len(index), index.vectors_f32(rows))
    results = [{**index.result_row(r), "rank": i + 1} for i, r in enumerate([1, 2])]
    markers = map_figure.item_markers(index, pmap, results)
    assert "placed" in markers[0].label and "placed" not in markers[1].label
    assert np.allclose(markers[1].coords, pmap.coords[1])
    assert np.allclose(markers[0].coords, pmap.place(index.vectors_f32([1])).coords[0])


def test_picked_ids_read_customdata_of_selected_points():
    selection = {"points": [{"customdata": 5, "curve_number": 0}, {"customdata": [7]}, {"x": 1},
                            {"customdata": 5}], "point_indices": [1, 2]}
    assert map_figure.picked_ids(selection) == [5, 7]
    assert map_figure.picked_ids(None) == [] and map_figure.picked_ids({"points": []}) == []


def test_3d_figure_draws_arrows_as_lines_and_cones(demo):
    index, space = demo
    pmap = project(index, MapParams(method="pca", dims=3, sample=None))
    analogy = explorer.analogy(index, space, "France", "French", "Germany", lang="en")
    overlay = map_figure.Overlay(arrows=map_figure.analogy_arrows(index, pmap, analogy.terms, analogy.vectors,
                                                                  analogy.results[0]))
    figure = map_figure.map_figure(map_figure.point_frame(index, pmap), 3, overlay, thumbnails=True)
    assert {trace.type for trace in figure.data} == {"scatter3d", "cone"}
    assert not figure.layout.images  # no thumbnails in 3-D
