"""The map as a plotly figure: the mapped items coloured by language, kind or label, with the
current query, its neighbours and an analogy's arrows drawn over them, and thumbnails of the
images on small 2-D maps. Every item point carries its id in `customdata`, so a selection on
the chart names the items it selected (`picked_ids`).

Points are WebGL (scattergl) up to MAX_POINTS; above that the map is a density image with a
sample of points on top. Filters fade or hide points (`shown_mask`) instead of computing a new
map, and named regions are drawn as text at one level of detail.
"""

from __future__ import annotations

import base64
import html
import io
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

from ..errors import InputError
from ..images import load_image
from .explorer import item_title
from .projection import ProjectionMap

COLOR_BY = ("language", "kind", "label")
MAX_THUMBNAILS = 150  # image points drawn as pictures; more would hide the map and slow the browser
THUMBNAIL_PX = 48
# Highlights in colours the palette does not use: black query and neighbours, navy arrows, a gold ring.
QUERY_COLOR, NEIGHBOUR_COLOR, ARROW_COLOR, PICKED_COLOR = "#000000", "#000000", "#0b1f66", "#ffb000"
# Distinct colours for up to 20 groups (tab10 and its darker and lighter kin, no black); more repeat.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#6baed6", "#fd8d3c", "#74c476",
           "#9e9ac8", "#e7969c"]
IMAGE_COLOR = "#4d4d4d"  # images, when colouring by language: they have none
NO_LANGUAGE = "image (no language)"
AXES = ("x", "y", "z")
# Up to this many items are drawn as points (issue 17 asks for at least 250,000; benchmarks/
# map_browser.py times a browser drawing them); above it, a density image and DENSITY_SAMPLE points.
MAX_POINTS = 250_000
DENSITY_SAMPLE = 50_000
DENSITY_BINS = 300
FADED_COLOR, FADED_OPACITY = "#bdbdbd", 0.25  # items the filters leave out, when they are faded
FADED_NAME, REGIONS_NAME, DENSITY_NAME = "other items", "region names", "density"
REGION_FONT = (17, 14, 12)  # px of a region's name, by level: coarse regions in bigger type
LABEL_WIDTH_PX = 650  # the map's width on a 1400-pixel page (docs/screenshots.py), for placed_labels' boxes


@dataclass
class Marker:
    """A point drawn over the map: a placed query or analogy term, or an item."""

    label: str
    coords: np.ndarray  # (dims,)
    item_id: int | None = None


@dataclass
class Overlay:
    """What the page draws over the items; every part optional."""

    query: Marker | None = None
    neighbours: list = field(default_factory=list)  # Markers of the query's results
    arrows: list = field(default_factory=list)  # (Marker, Marker) pairs: an analogy's A->B, C->answer
    picked: Marker | None = None  # the item shown in the side panel

    @property
    def empty(self) -> bool:
        return self.query is None and not self.neighbours and not self.arrows and self.picked is None


# -- the points -----------------------------------------------------------------------------------------
def point_frame(index, pmap: ProjectionMap, color_by: str = "language") -> pd.DataFrame:
    """One row per mapped item: coordinates, id, colour group, hover text, kind and image path."""
    if color_by not in COLOR_BY:
        raise ValueError(f"color_by must be one of {COLOR_BY}")
    items = index.items.iloc[pmap.rows]
    frame = pd.DataFrame({axis: pmap.coords[:, i] for i, axis in enumerate(AXES[: pmap.params.dims])})
    frame["id"] = items["id"].to_numpy()
    frame["kind"] = items["kind"].to_numpy()
    frame["path"] = items["path"].to_numpy() if "path" in items else None
    if color_by == "language":
        group = items["lang"].where(items["kind"] == "text", NO_LANGUAGE)
    elif color_by == "kind":
        group = items["kind"]
    else:
        group = items["label"]
    frame["group"] = group.fillna("(none)").astype(str).to_numpy()
    frame["lang"] = items["lang"].to_numpy()  # for shown_mask: filters fade or hide points
    frame["label"] = items["label"].to_numpy()
    frame["hover"] = hover_titles(items)
    return frame


def hover_titles(items: pd.DataFrame) -> np.ndarray:
    """Each item's title (explorer.item_title: a text, or an image's concept and file name), escaped,
    as its hover text. Only the title: the trace adds the colour group and the id (hover_template),
    and the side panel the rest on a click. Hover text is most of what the browser is sent for a
    map of every item (language, label and id spelled out per point made the demo's 7.6 MB)."""
    titles = np.array(items["text"].astype(object).where(items["text"].notna(), ""), dtype=object)
    images = np.flatnonzero((items["kind"] == "image").to_numpy())
    if len(images):
        details = items.iloc[images][["kind", "path", "concept"]].astype(object)
        records = details.where(details.notna(), None).to_dict("records")
        titles[images] = [item_title(record) for record in records]
    return np.array([html.escape(str(title)) for title in titles], dtype=object)


def hover_template(group: str) -> dict:
    """Trace settings of an item trace's hover: the point's title (hovertext), the trace's group (meta:
    one string per trace, not one per point) and the item's id (customdata)."""
    return {"meta": group, "hovertemplate": "<b>%{hovertext}</b><br>%{meta} · #%{customdata}<extra></extra>"}


def palette(groups) -> dict:
    """A colour per group, assigned in sorted order so that a group keeps its colour between maps."""
    named = sorted(group for group in groups if group != NO_LANGUAGE)
    colours = {group: PALETTE[i % len(PALETTE)] for i, group in enumerate(named)}
    if NO_LANGUAGE in groups:
        colours[NO_LANGUAGE] = IMAGE_COLOR
    return colours


def marker_size(points: int, three_d: bool = False) -> int:
    """Pixels: smaller for many points, and in 3-D, where markers do not shrink with the distance."""
    size = 3 if points > 20_000 else 5 if points > 3_000 else 7
    return max(2, size - 2) if three_d else size


def shown_mask(frame: pd.DataFrame, kinds=(), langs=(), labels=()) -> np.ndarray:
    """Which points the filters keep: of the kinds, texts in the languages (images have no
    language, so they stay unless kinds leaves them out, as in projection.eligible_rows), and of
    the labels. Empty filters keep everything."""
    keep = np.ones(len(frame), dtype=bool)
    if kinds:
        keep &= frame["kind"].isin(list(kinds)).to_numpy()
    if langs:
        keep &= (frame["kind"] != "text").to_numpy() | frame["lang"].isin(list(langs)).to_numpy()
    if labels:
        keep &= frame["label"].isin(list(labels)).to_numpy()
    return keep


# -- the figure -----------------------------------------------------------------------------------------
def map_figure(frame: pd.DataFrame, dims: int, overlay: Overlay | None = None, thumbnails: bool = False,
               height: int = 680, shown: np.ndarray | None = None, fade: bool = True,
               regions: pd.DataFrame | None = None):
    """The scatter of items (one trace per colour group, largest first), the items the filters
    leave out (`shown` False) faded beneath them or hidden, region names, and the overlay."""
    import plotly.graph_objects as go

    three_d = dims == 3
    figure = go.Figure()
    kept = frame if shown is None else frame[shown]
    if shown is not None and fade and not shown.all():
        _draw_points(figure, frame[~shown], three_d, FADED_NAME, FADED_COLOR, FADED_OPACITY, len(frame))
    if len(kept) > MAX_POINTS and not three_d:
        _draw_density(figure, kept)
        kept = kept.sample(DENSITY_SAMPLE, random_state=0)
    colours = palette(kept["group"].unique())
    for group in kept["group"].value_counts().index:
        # Plotly reads HTML in legend names (a label '<a href=...>' would be a link): escaped.
        _draw_points(figure, kept[kept["group"] == group], three_d, html.escape(str(group)), colours[group], 0.75,
                     len(frame))
    if regions is not None and len(regions) and not three_d:
        _draw_regions(figure, placed_labels(regions, _extent(frame, "x"), _extent(frame, "y"), height))
    if overlay is not None and not overlay.empty:
        _draw_overlay(figure, overlay, three_d, _span(frame))
    if thumbnails and not three_d:
        _draw_thumbnails(figure, frame)
    axis = {"showticklabels": False, "title": {"text": ""}, "zeroline": False, "showgrid": False}
    # The legend above the plot, in rows: beside it, it would take a third of the map's width.
    legend = {"itemsizing": "constant", "orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0}
    layout = {"height": height, "margin": {"l": 0, "r": 0, "t": 10, "b": 0}, "legend": legend,
              "hoverlabel": {"align": "left"}, "uirevision": "map"}
    if three_d:
        axis3d = {**axis, "showbackground": False, "showspikes": False}
        layout["scene"] = {"xaxis": axis3d, "yaxis": axis3d, "zaxis": axis3d, "aspectmode": "data",
                          "camera": {"eye": {"x": 0.95, "y": 0.95, "z": 0.65}}}  # closer than plotly's 1.25
    else:
        # No fixed aspect ratio: UMAP's axes have no units, and the map may fill the column's width.
        layout.update(xaxis=axis, yaxis=axis, dragmode="pan")
    figure.update_layout(**layout)
    return figure


def _draw_points(figure, part: pd.DataFrame, three_d: bool, name: str, colour: str, opacity: float,
                 total: int) -> None:
    """One WebGL trace of items; its size follows the whole map's count, so a filter keeps it."""
    figure.add_trace(_scatter(three_d, part, name=f"{name} ({len(part):,})", legendgroup=name, mode="markers",
                              marker={"size": marker_size(total, three_d), "color": colour, "opacity": opacity},
                              customdata=compact_ids(part["id"].to_numpy()), hovertext=part["hover"].to_numpy(),
                              **hover_template(name)))


def compact_ids(ids: np.ndarray) -> np.ndarray:
    """Item ids as int32 when they fit (plotly sends numpy arrays as typed binary: 4 bytes a point, not 8)."""
    ids = np.asarray(ids)
    if len(ids) and ids.min() >= np.iinfo(np.int32).min and ids.max() <= np.iinfo(np.int32).max:
        return ids.astype(np.int32)
    return ids


def _draw_density(figure, frame: pd.DataFrame) -> None:
    """Where the points are, as an image: log counts of a DENSITY_BINS-square grid."""
    import plotly.graph_objects as go

    counts, x_edges, y_edges = np.histogram2d(frame["x"].to_numpy(), frame["y"].to_numpy(), bins=DENSITY_BINS)
    figure.add_trace(go.Heatmap(z=np.log1p(counts.T), x=(x_edges[:-1] + x_edges[1:]) / 2,
                                y=(y_edges[:-1] + y_edges[1:]) / 2, colorscale="Greys", showscale=False,
                                hoverinfo="skip", name=DENSITY_NAME, zmin=0))


def _draw_regions(figure, regions: pd.DataFrame) -> None:
    """Region names as annotations named REGIONS_NAME, on a pale box: plotly draws annotations above
    the WebGL points (text of an SVG trace lies beneath them, where the demo's dense middle hid it).
    Names are index items: escaped, since plotly reads HTML in text. Not clickable: a click near a
    name selects the item under the pointer. One update for all of them: plotly checks the whole list
    on each add_annotation (300 names: 9.6 s one by one, 0.05 s at once)."""
    names = [{"x": row.x, "y": row.y, "xref": "x", "yref": "y", "text": html.escape(str(row.name)), "name": REGIONS_NAME,
              "showarrow": False, "font": {"size": REGION_FONT[min(int(row.level), len(REGION_FONT) - 1)],
                                           "color": "#000000", "family": "sans-serif"},
              "bgcolor": "rgba(255,255,255,0.75)", "borderpad": 1, "captureevents": False}
             for row in regions.itertuples(index=False)]
    figure.update_layout(annotations=[*figure.layout.annotations, *names])


def region_names_drawn(figure) -> list:
    """The region names a figure (a plotly Figure or its JSON dict) draws, in order."""
    layout = figure["layout"] if isinstance(figure, dict) else figure.to_plotly_json()["layout"]
    return [a["text"] for a in layout.get("annotations", []) if a.get("name") == REGIONS_NAME]


def placed_labels(regions: pd.DataFrame, x_span: float, y_span: float, height: int = 680,
                  width: int = LABEL_WIDTH_PX) -> pd.DataFrame:
    """The region names that fit, biggest region first: a name whose box (estimated from its length and
    font size, on a plot `width` x `height` pixels showing the spans) overlaps one already placed is
    nudged a line above or below its place, and left out when neither is free. At the map's first
    view; zoomed in, there is room again, and the finer levels show more names."""
    x_unit, y_unit = max(x_span, 1e-9) / width, max(y_span, 1e-9) / height  # map units per pixel
    placed, boxes = [], []
    for row in regions.sort_values("size", ascending=False, kind="stable").itertuples(index=False):
        font = REGION_FONT[min(int(row.level), len(REGION_FONT) - 1)]
        half_w, half_h = (text_width_em(str(row.name)) / 2 + 0.2) * font * x_unit, font * 0.65 * y_unit
        for dy in (0.0, 2 * half_h, -2 * half_h):
            box = (row.x - half_w, row.y + dy - half_h, row.x + half_w, row.y + dy + half_h)
            if not any(_overlap(box, other) for other in boxes):
                boxes.append(box)
                placed.append({**row._asdict(), "y": row.y + dy})
                break
    return pd.DataFrame(placed, columns=regions.columns)


def text_width_em(text: str) -> float:
    """A text's rough width in em: 1 for a wide (CJK) character, 0.6 for others (sans-serif's mean)."""
    return sum(1.0 if unicodedata.east_asian_width(char) in "WF" else 0.6 for char in text)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _extent(frame: pd.DataFrame, axis: str) -> float:
    return float(np.ptp(frame[axis].to_numpy())) if len(frame) else 1.0


def _scatter(three_d: bool, part: pd.DataFrame | None = None, coords: np.ndarray | None = None, **kwargs):
    import plotly.graph_objects as go

    if coords is None:
        coords = part[list(AXES[: 3 if three_d else 2])].to_numpy()
    # float32, as the layouts are: half the bytes of every point sent to the browser.
    coords = np.asarray(coords, dtype=np.float32).reshape(-1, 3 if three_d else 2)
    if three_d:
        return go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2], **kwargs)
    return go.Scattergl(x=coords[:, 0], y=coords[:, 1], **kwargs)


def _scale(three_d: bool) -> float:
    """Highlight markers are smaller in 3-D, where a marker keeps its pixel size however far away it is."""
    return 0.6 if three_d else 1.0


def _span(frame: pd.DataFrame) -> float:
    """The map's largest extent along an axis, in its own units."""
    axes = [axis for axis in AXES if axis in frame]
    return max([float(np.ptp(frame[axis].to_numpy())) for axis in axes] + [1e-6])


def _draw_overlay(figure, overlay: Overlay, three_d: bool, span: float) -> None:
    dims = 3 if three_d else 2
    if overlay.query is not None and overlay.neighbours:
        # Thin spokes from the query to each neighbour: where they are on the map, at a glance.
        spokes = []
        for neighbour in overlay.neighbours:
            spokes += [overlay.query.coords, neighbour.coords, np.full(dims, np.nan)]
        figure.add_trace(_scatter(three_d, coords=np.array(spokes), mode="lines", hoverinfo="skip",
                                  line={"color": NEIGHBOUR_COLOR, "width": 1}, opacity=0.5, showlegend=False))
    if overlay.neighbours:
        figure.add_trace(_scatter(
            three_d, coords=np.array([m.coords for m in overlay.neighbours]), mode="markers",
            name="the query's neighbours", customdata=[m.item_id for m in overlay.neighbours],
            hovertext=[html.escape(m.label) for m in overlay.neighbours], hovertemplate="%{hovertext}<extra></extra>",
            marker={"size": 14 * _scale(three_d), "symbol": "circle-open", "color": NEIGHBOUR_COLOR, "line": {"width": 2.5}}))
    if overlay.query is not None:
        label = html.escape(_short(overlay.query.label))
        figure.add_trace(_scatter(
            three_d, coords=overlay.query.coords[None, :], mode="markers+text", name="the query (placed)",
            text=[label], textposition="top center", hovertext=[label + "<br>placed among its neighbours"],
            hovertemplate="%{hovertext}<extra></extra>", textfont={"size": 14, "color": QUERY_COLOR},
            marker={"size": 18 * _scale(three_d), "symbol": "diamond" if three_d else "star", "color": QUERY_COLOR,
                    "line": {"width": 1, "color": "white"}}))
    if overlay.arrows:
        _draw_arrows(figure, overlay.arrows, three_d, span)
    if overlay.picked is not None:
        figure.add_trace(_scatter(
            three_d, coords=overlay.picked.coords[None, :], mode="markers", name="selected",
            customdata=[overlay.picked.item_id], hovertext=[html.escape(overlay.picked.label)],
            hovertemplate="%{hovertext}<extra></extra>",
            marker={"size": 22 * _scale(three_d), "symbol": "circle-open", "color": PICKED_COLOR, "line": {"width": 4}}))


def _draw_arrows(figure, arrows, three_d: bool, span: float) -> None:
    """A->B and C->answer. 2-D: annotation arrows; 3-D (no arrows there): lines ending in a cone."""
    import plotly.graph_objects as go

    ends = [m for pair in arrows for m in pair]
    labels = [html.escape(_short(m.label)) for m in ends]
    figure.add_trace(_scatter(three_d, coords=np.array([m.coords for m in ends]), mode="markers+text",
                              name="analogy", text=labels, textposition="bottom center", hovertext=labels,
                              hovertemplate="%{hovertext}<extra></extra>",
                              textfont={"size": 13, "color": ARROW_COLOR},
                              marker={"size": 9 * _scale(three_d), "color": ARROW_COLOR, "symbol": "square"}))
    for start, end in arrows:
        if three_d:
            line = np.array([start.coords, end.coords])
            figure.add_trace(_scatter(True, coords=line, mode="lines", hoverinfo="skip", showlegend=False,
                                      line={"color": ARROW_COLOR, "width": 5}))
            # A unit direction and a head 3% of the map's extent, whatever the arrow's length.
            direction = (end.coords - start.coords) / max(float(np.linalg.norm(end.coords - start.coords)), 1e-9)
            figure.add_trace(go.Cone(x=[end.coords[0]], y=[end.coords[1]], z=[end.coords[2]], u=[direction[0]],
                                     v=[direction[1]], w=[direction[2]], sizemode="absolute", sizeref=0.03 * span,
                                     anchor="tip", showscale=False, colorscale=[[0, ARROW_COLOR], [1, ARROW_COLOR]],
                                     hoverinfo="skip"))
        else:
            figure.add_annotation(x=end.coords[0], y=end.coords[1], ax=start.coords[0], ay=start.coords[1],
                                  xref="x", yref="y", axref="x", ayref="y", showarrow=True, arrowhead=3,
                                  arrowsize=1.4, arrowwidth=2.5, arrowcolor=ARROW_COLOR, standoff=6, text="")


def _draw_thumbnails(figure, frame: pd.DataFrame) -> None:
    images = frame[(frame["kind"] == "image") & frame["path"].notna()]
    if images.empty or len(images) > MAX_THUMBNAILS:
        return
    size = _span(frame) * 0.06
    for row in images.itertuples():
        source = thumbnail_uri(row.path)
        if source:
            figure.add_layout_image(source=source, x=row.x, y=row.y, xref="x", yref="y", sizex=size, sizey=size,
                                    xanchor="center", yanchor="middle", layer="above", sizing="contain")


@lru_cache(maxsize=4096)
def thumbnail_uri(path: str, size: int = THUMBNAIL_PX) -> str | None:
    """A small PNG of an image file as a data URI (plotly draws layout images from URIs)."""

    try:
        image = load_image(path)
    except (InputError, OSError):
        return None
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _short(label: str, limit: int = 40) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# -- placing what the page shows ------------------------------------------------------------------------
def item_markers(index, pmap: ProjectionMap, results: list) -> list:
    """Markers of result items: at their own position where they are on the map, else placed."""
    if not results:
        return []
    rows = np.array([index.row_of_id[r["id"]] for r in results])
    positions = pmap.position_of_rows(rows)
    coords = np.empty((len(rows), pmap.params.dims), np.float32)
    on_map = positions >= 0
    coords[on_map] = pmap.coords[positions[on_map]]
    if (~on_map).any():
        coords[~on_map] = pmap.place(index.vectors_f32(rows[~on_map])).coords
    return [Marker(f"{r['rank']}. {item_title(r)}" + ("" if here else " (not in the sample: placed)"), c, r["id"])
            for r, c, here in zip(results, coords, on_map)]


def query_overlay(index, pmap: ProjectionMap, label: str, vector: np.ndarray, results: list) -> Overlay:
    """The query placed among its nearest mapped items, and its search results marked."""
    placed = pmap.place(vector[None, :]).coords[0]
    return Overlay(query=Marker(label, placed), neighbours=item_markers(index, pmap, results))


def analogy_arrows(index, pmap: ProjectionMap, terms, vectors: np.ndarray, answer: dict | None) -> list:
    """(A->B, C->answer) as marker pairs; the terms are placed like a query."""
    a, b, c = (Marker(term, coords) for term, coords in zip(terms, pmap.place(vectors).coords))
    arrows = [(a, b)]
    if answer is not None:
        arrows.append((c, item_markers(index, pmap, [{**answer, "rank": 1}])[0]))
        arrows[-1][1].label = f"? = {item_title(answer)}"
    return arrows


def picked_ids(selection) -> list[int]:
    """Item ids of the points in a Streamlit plotly selection (their customdata), in order, once."""
    points = (selection or {}).get("points", []) if isinstance(selection, dict) else getattr(selection, "points", [])
    ids = []
    for point in points or []:
        value = point.get("customdata") if isinstance(point, dict) else None
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if value is None:
            continue
        try:
            item_id = int(value)
        except (TypeError, ValueError):
            continue
        if item_id not in ids:
            ids.append(item_id)
    return ids
