"""The map figure's filters, density image and region names, on small synthetic frames (no index)."""

import numpy as np
import pandas as pd
import pytest

from embedspace.explore import map_figure


def frame_of(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    kinds = ["text"] * (n - 2) + ["image"] * 2
    langs = [("en", "es", "de")[i % 3] for i in range(n - 2)] + [None, None]
    labels = [("animal", "colour")[i % 2] for i in range(n)]
    frame = pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "id": np.arange(100, 100 + n),
                          "kind": kinds, "path": None, "lang": langs, "label": labels})
    frame["group"] = frame["lang"].fillna(map_figure.NO_LANGUAGE)
    frame["hover"] = [f"item {i}" for i in frame["id"]]
    return frame


def drawn_ids(figure, skip=()) -> list:
    """Ids of the item points in the figure's traces (those with customdata), except traces named in skip."""
    return [int(i) for trace in figure.data if trace.customdata is not None and
            not str(trace.name).startswith(tuple(skip)) for i in trace.customdata]


def test_shown_mask_keeps_kinds_languages_and_labels():
    frame = frame_of()
    assert map_figure.shown_mask(frame).all()
    english = map_figure.shown_mask(frame, langs=["en"])
    # Images have no language: a language filter keeps them unless kinds leaves them out.
    assert set(frame["lang"][english].fillna("-")) == {"en", "-"}
    assert set(frame["kind"][map_figure.shown_mask(frame, kinds=["image"])]) == {"image"}
    animals = map_figure.shown_mask(frame, kinds=["text"], labels=["animal"])
    assert set(frame["label"][animals]) == {"animal"} and set(frame["kind"][animals]) == {"text"}


def test_filters_fade_or_hide_points_and_keep_every_id_once():
    frame = frame_of()
    shown = map_figure.shown_mask(frame, langs=["es"])
    faded = map_figure.map_figure(frame, 2, shown=shown, fade=True)
    assert sorted(drawn_ids(faded)) == frame["id"].tolist()  # every item, once
    other = next(t for t in faded.data if t.name.startswith(map_figure.FADED_NAME))
    assert sorted(int(i) for i in other.customdata) == frame["id"][~shown].tolist()
    assert other.marker.color == map_figure.FADED_COLOR and other.type == "scattergl"
    hidden = map_figure.map_figure(frame, 2, shown=shown, fade=False)
    assert sorted(drawn_ids(hidden)) == frame["id"][shown].tolist()


def test_above_max_points_a_density_image_and_a_sample(monkeypatch):
    monkeypatch.setattr(map_figure, "MAX_POINTS", 100)
    monkeypatch.setattr(map_figure, "DENSITY_SAMPLE", 30)
    frame = frame_of(400)
    figure = map_figure.map_figure(frame, 2)
    density = next(t for t in figure.data if t.type == "heatmap")
    assert np.expm1(np.asarray(density.z)).sum() == pytest.approx(400)  # every item counted in the image
    assert len(drawn_ids(figure)) == 30
    assert len(drawn_ids(map_figure.map_figure(frame_of(100), 2))) == 100  # at the limit: all as points


def test_region_names_are_escaped_text_sized_by_level():
    regions = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "name": ["<b>perro</b>", "gato"], "level": [0, 1],
                            "size": [10, 3], "cluster": [0, 1]})
    figure = map_figure.map_figure(frame_of(), 2, regions=regions)
    assert map_figure.region_names_drawn(figure) == ["&lt;b&gt;perro&lt;/b&gt;", "gato"]
    names = [a for a in figure.layout.annotations if a.name == map_figure.REGIONS_NAME]
    assert [a.font.size for a in names] == list(map_figure.REGION_FONT[:2])
    # drawn above the WebGL points (annotations are), and a click near a name selects the item under it
    assert not any(a.captureevents for a in names) and not any(a.showarrow for a in names)
    assert map_figure.picked_ids({"points": [{"text": "gato"}, {"customdata": 101}]}) == [101]


def test_a_region_name_over_a_bigger_regions_name_is_moved_or_left_out():
    """Names are drawn biggest region first; one whose box would overlap a name already drawn is nudged
    above or below it, or left out, so that no two names are drawn over each other."""
    frame = frame_of(200)  # x, y ~ N(0, 1): a map about 6 units wide and high
    regions = pd.DataFrame({"x": [0.0, 0.02, 0.0, 2.5], "y": [0.0, 0.0, 0.0, 2.5], "level": [0, 0, 0, 0],
                            "name": ["animales", "perros", "gatos", "colores"], "size": [100, 50, 40, 80],
                            "cluster": [1, 2, 3, 4]})
    figure = map_figure.map_figure(frame, 2, regions=regions)
    where = {a.text: (a.x, a.y) for a in figure.layout.annotations if a.name == map_figure.REGIONS_NAME}
    assert where["animales"] == (0.0, 0.0) and where["colores"] == (2.5, 2.5)  # the biggest stay where they were
    line = np.ptp(frame["y"]) * map_figure.REGION_FONT[0] * 1.2 / 680  # one line of level-0 text, in y units
    moved = [name for name in ("perros", "gatos") if name in where]
    for name in moved:
        assert abs(where[name][1]) >= line * 0.99, name
    if len(moved) == 2:
        assert abs(where["perros"][1] - where["gatos"][1]) >= line * 0.99
