"""The stored layout: written with the index, opened as a map of every item, kept in step by `add`
(new items placed among their neighbours, nothing recomputed) and `remove`, recomputed by
`embedspace map NAME --relayout`. UMAP is replaced by PCA here (its compile would dominate)."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from embedspace.cli import main
from embedspace.errors import IndexStateError
from embedspace.explore import layout as layout_module
from embedspace.explore import projection as projection_module
from embedspace.explore import regions as regions_module
from embedspace.explore.layout import layout_status, stored_map
from embedspace.explore.projection import pca_layout
from embedspace.explore.regions import region_clusters, region_labels
from embedspace.index import build_index, remove_items
from embedspace.index.layout_file import STALE_SHARE, layout_files, read_regions
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index, describe_index

GROUPS = {"animal": "dog cat horse cow pig sheep lion tiger bear rabbit perro gato caballo vaca cerdo oveja",
          "colour": "red blue green yellow black white purple pink rojo azul verde amarillo negro blanco",
          "number": "one two three four five six seven eight uno dos tres cuatro cinco seis siete ocho"}
HELD_OUT = {"animal": ["mouse", "ratón"], "colour": ["grey", "gris"], "number": ["nine", "nueve"]}


def pca_files(items, vectors, progress=None):
    return layout_files(pca_layout(np.asarray(vectors, np.float32), 2)[0],
                        {"method": "pca (test)", "next_id": int(items["id"].max()) + 1})


@pytest.fixture()
def laid_out(tmp_path):
    rows = [{"text": w, "label": g} for g, words in GROUPS.items() for w in words.split()]
    pd.DataFrame(rows).to_csv(tmp_path / "words.csv", index=False)
    build_index("words", [tmp_path / "words.csv"], space="use-m3", index_dir=tmp_path, layout=pca_files,
                read_options=ReadOptions(label_column="label", lang="en"))  # "en" names the regions below
    return tmp_path


def test_the_stored_layout_is_a_map_of_every_item(laid_out):
    index = Index.open("words", laid_out)
    pmap = stored_map(index)
    assert pmap is not None and (pmap.rows == np.arange(len(index))).all() and pmap.coords.shape == (len(index), 2)
    assert layout_status(index).present and layout_status(index).placed == 0 and not layout_status(index).stale
    assert pmap.place(index.vectors_f32([0])).coords.shape == (1, 2)
    assert "layout-2d.npy" in index.manifest["files"] and "map: 2-D layout" in describe_index(index)


def test_the_stored_layout_places_a_query_by_the_index_search_where_the_exact_rule_would(laid_out, monkeypatch):
    index = Index.open("words", laid_out)
    pmap = stored_map(index)
    rng = np.random.default_rng(0)
    near_items = index.vectors_f32(np.arange(12)) + rng.normal(0, 0.02, (12, index.vectors.shape[1])).astype(np.float32)
    near_items /= np.linalg.norm(near_items, axis=1, keepdims=True)
    # Only queries whose 10th and 11th nearest items are at least 1e-4 apart: another CPU's or kernel's
    # rounding (~1e-6) cannot swap them, so the neighbour sets must be equal anywhere.
    eleven = np.sort(near_items @ index.vectors_f32(np.arange(len(index))).T, axis=1)[:, ::-1][:, :11]
    near_items = near_items[eleven[:, 9] - eleven[:, 10] >= 1e-4]
    assert len(near_items) >= 6
    exact_coords, exact_rows, _ = projection_module.place_among_neighbours(near_items, index.vectors, pmap.coords)
    monkeypatch.setattr(projection_module, "place_among_neighbours",
                        lambda *args, **kwargs: pytest.fail("read every stored vector to place a query"))
    placed = pmap.place(near_items)
    np.testing.assert_allclose(placed.coords, exact_coords, atol=1e-4 * np.ptp(pmap.coords))
    assert [set(row) for row in placed.neighbours] == [set(row) for row in exact_rows]


def test_an_index_without_a_layout_opens_and_says_so(tmp_path):
    pd.DataFrame({"text": ["dog", "cat", "red"]}).to_csv(tmp_path / "w.csv", index=False)
    build_index("plain", [tmp_path / "w.csv"], space="use-m3", index_dir=tmp_path)
    index = Index.open("plain", tmp_path)
    assert stored_map(index) is None and not layout_status(index).present
    assert "embedspace map plain" in layout_status(index).message


def test_add_places_new_items_among_their_neighbours_without_a_new_layout(laid_out, monkeypatch):
    before = Index.open("words", laid_out)
    old = stored_map(before).coords.copy()
    monkeypatch.setattr(layout_module, "compute_layout", lambda *a, **k: pytest.fail("add computed a layout"))
    rows = [{"text": w, "label": g} for g, words in HELD_OUT.items() for w in words]
    pd.DataFrame(rows).to_csv(laid_out / "more.csv", index=False)
    build_index("words", [laid_out / "more.csv"], add=True, index_dir=laid_out, read_options=ReadOptions(label_column="label"))
    after = Index.open("words", laid_out)
    coords = stored_map(after).coords
    assert np.array_equal(coords[:len(old)], old)  # the laid-out items did not move
    status = layout_status(after)
    assert status.placed == len(rows) and len(rows) > STALE_SHARE * len(after)  # 6 of 52 placed: past the share
    assert status.stale and "embedspace map words --relayout" in describe_index(after)
    labels = after.items["label"].to_numpy()
    centres = {g: np.median(old[labels[:len(old)] == g], axis=0) for g in GROUPS}
    for row in range(len(old), len(after)):
        nearest = min(centres, key=lambda g: np.linalg.norm(coords[row] - centres[g]))
        assert nearest == labels[row], (after.items["text"][row], nearest)


def test_remove_keeps_the_layout_of_the_rest(laid_out):
    old = stored_map(Index.open("words", laid_out)).coords
    remove_items("words", ids=[0, 5], index_dir=laid_out)
    coords = stored_map(Index.open("words", laid_out)).coords
    assert np.array_equal(coords, np.delete(old, [0, 5], axis=0))


def test_relayout_recomputes_and_clears_the_placed_count(laid_out, monkeypatch, capsys):
    pd.DataFrame({"text": ["mouse", "grey", "nine"] * 1, "label": ["animal", "colour", "number"]}).to_csv(
        laid_out / "more.csv", index=False)
    build_index("words", [laid_out / "more.csv"], add=True, index_dir=laid_out,
                read_options=ReadOptions(label_column="label"))
    assert layout_status(Index.open("words", laid_out)).placed == 3
    calls = []

    def fake_umap(vectors, dims, *args, **kwargs):
        calls.append(len(vectors))
        return pca_layout(vectors, dims)[0][:, ::-1].copy()  # differs from the stored one

    monkeypatch.setattr(layout_module, "umap_layout", fake_umap)
    assert main(["map", "words", "--relayout", "--index-dir", str(laid_out), "--quiet"]) == 0
    index = Index.open("words", laid_out)
    assert calls == [len(index)]
    assert layout_status(index).placed == 0 and stored_map(index) is not None
    assert json.loads(index.read_extra("layout.json"))["next_id"] == index.manifest["next_id"]


def test_a_relayout_that_an_add_overtook_writes_nothing_and_says_so(laid_out, monkeypatch):
    pd.DataFrame({"text": ["mouse", "grey"], "label": ["animal", "colour"]}).to_csv(laid_out / "more.csv", index=False)

    def layout_while_an_add_commits(vectors, dims, *args, **kwargs):
        build_index("words", [laid_out / "more.csv"], add=True, index_dir=laid_out,
                    read_options=ReadOptions(label_column="label"))
        return pca_layout(vectors, dims)[0]

    monkeypatch.setattr(layout_module, "umap_layout", layout_while_an_add_commits)
    with pytest.raises(IndexStateError, match="changed while this was computed.*Run this command again"):
        layout_module.relayout("words", laid_out)
    index = Index.open("words", laid_out)
    assert index.items["text"].tolist()[-2:] == ["mouse", "grey"]  # the add is kept
    assert layout_status(index).placed == 2 and stored_map(index).coords.shape == (len(index), 2)


def test_map_writes_a_self_contained_html_and_a_png_with_region_names(laid_out, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    pytest.importorskip("matplotlib")
    page, picture = tmp_path / "map.html", tmp_path / "map.png"
    assert main(["map", "words", "--index-dir", str(laid_out), "--html", str(page), "--png", str(picture),
                 "--lang", "en", "--quiet"]) == 0
    text = page.read_text(encoding="utf-8")
    assert "<script src=\"http" not in text and "cdn" not in text.lower().split("plotly.js v")[0][-2000:]
    assert len(text) > 1_000_000  # plotly.js is inside
    names = list(region_labels(Index.open("words", laid_out), "en").query("level <= 1")["name"])
    bold, unbold = re.escape("\\u003cb\\u003e"), re.escape("\\u003c\\u002fb\\u003e")  # <b> </b> in plotly's JSON
    for name in names:  # each drawn as an annotation (top-level names in bold)
        assert re.search(f'"text":"({bold})?{re.escape(json.dumps(name)[1:-1])}({unbold})?"', text), name
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_build_without_umap_learn_still_builds_and_says_why_there_is_no_map(tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "umap" else real(name, *a))
    rows = [{"text": w} for words in GROUPS.values() for w in words.split()]
    pd.DataFrame(rows).to_csv(tmp_path / "w.csv", index=False)
    assert main(["build", "w", str(tmp_path / "w.csv"), "--index-dir", str(tmp_path)]) == 0
    assert "umap-learn is not installed" in capsys.readouterr().err
    assert not layout_status(Index.open("w", tmp_path)).present


# -- the named regions, stored with the layout ------------------------------------------------------------
@pytest.fixture()
def built_with_regions(tmp_path, monkeypatch):
    """A build through layout_for_build (UMAP replaced by PCA): the layout and the regions it stores."""
    monkeypatch.setattr(layout_module, "umap_layout", lambda vectors, dims, *a, **k: pca_layout(vectors, dims)[0])
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path / "cache"))
    rows = [{"text": w, "label": g} for g, words in GROUPS.items() for w in words.split()]
    pd.DataFrame(rows).to_csv(tmp_path / "words.csv", index=False)
    build_index("words", [tmp_path / "words.csv"], space="use-m3", index_dir=tmp_path, layout=layout_module.layout_for_build,
                read_options=ReadOptions(label_column="label", lang="en"))
    return tmp_path


def no_computing(monkeypatch):
    monkeypatch.setattr(regions_module, "cluster_levels", lambda *a, **k: pytest.fail("clustered on first use"))
    monkeypatch.setattr(regions_module, "region_names", lambda *a, **k: pytest.fail("named on first use"))


def test_the_build_stores_the_named_regions_so_the_first_map_computes_none(built_with_regions, monkeypatch):
    index = Index.open("words", built_with_regions)
    stored = read_regions(index)
    assert stored is not None and stored[0].shape == (regions_module.LEVELS, len(index))
    assert "regions.npy" in index.manifest["files"]  # checksummed like every file of the index
    no_computing(monkeypatch)
    labels = region_labels(index, "en")
    assert len(labels) and set(labels["name"]) <= set(index.items["text"])


def test_add_and_remove_keep_the_stored_regions_in_step(built_with_regions, monkeypatch):
    before = region_clusters(Index.open("words", built_with_regions))
    rows = [{"text": w, "label": g} for g, words in HELD_OUT.items() for w in words]
    pd.DataFrame(rows).to_csv(built_with_regions / "more.csv", index=False)
    no_computing(monkeypatch)
    build_index("words", [built_with_regions / "more.csv"], add=True, index_dir=built_with_regions,
                read_options=ReadOptions(label_column="label"))
    index = Index.open("words", built_with_regions)
    clusters = region_clusters(index)
    assert clusters.shape == (regions_module.LEVELS, len(index)) and np.array_equal(clusters[:, :before.shape[1]], before)
    labels = index.items["label"].to_numpy()
    for row in range(before.shape[1], len(index)):  # a new item joins the top-level region of its group
        group = np.bincount(before[0][labels[:before.shape[1]] == labels[row]]).argmax()
        assert clusters[0, row] == group, index.items["text"][row]
    remove_items("words", ids=[0, 5], index_dir=built_with_regions)
    assert np.array_equal(region_clusters(Index.open("words", built_with_regions)), np.delete(clusters, [0, 5], axis=1))


def test_map_stores_the_regions_of_an_index_laid_out_without_them(laid_out, monkeypatch, capsys):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(laid_out / "cache"))
    assert read_regions(Index.open("words", laid_out)) is None
    assert main(["map", "words", "--index-dir", str(laid_out), "--quiet"]) == 0
    index = Index.open("words", laid_out)
    assert read_regions(index) is not None and layout_status(index).present
    no_computing(monkeypatch)
    assert len(region_labels(index, "en"))


def test_map_names_again_the_regions_stored_by_an_older_naming_rule_without_clustering_again(built_with_regions,
                                                                                              monkeypatch):
    """An index whose regions were named by an older rule (its regions.json says which) still opens; `embedspace
    map NAME` names its stored clusters again by the current rule, without a k-means (seconds, not a minute)."""
    from embedspace.index.layout_file import regions_files
    from embedspace.index.store import replace_extra_files

    clusters, meta = read_regions(Index.open("words", built_with_regions))
    old = {**meta, "naming": {**meta["naming"], "rule": "an older rule"}, "names": {"en": {"0": "stale"}}}
    replace_extra_files("words", regions_files(clusters, old), built_with_regions)
    index = Index.open("words", built_with_regions)
    assert not regions_module.stored_regions_current(index) and len(region_labels(index, "en"))  # opens, names anew
    monkeypatch.setattr(regions_module, "cluster_levels", lambda *a, **k: pytest.fail("clustered again"))
    assert main(["map", "words", "--index-dir", str(built_with_regions), "--quiet"]) == 0
    index = Index.open("words", built_with_regions)
    assert regions_module.stored_regions_current(index)
    assert np.array_equal(read_regions(index)[0], clusters) and "stale" not in read_regions(index)[1]["names"]["en"].values()
