"""The map of every item as a file to share: one self-contained HTML page (plotly.js inside, no
network needed) or a PNG picture (matplotlib), with the region names of one language drawn on it.

Both start from the index's stored layout (explore/layout.py), computing and storing it first
when the index has none. Names of items and regions are the user's text: escaped for plotly
(which reads HTML in text), drawn as plain text by matplotlib (its mathtext is switched off).
"""

from __future__ import annotations

import html
from pathlib import Path

from ..errors import InputError
from ..index.store import Index
from .layout import relayout, store_regions, stored_map
from .map_figure import map_figure, point_frame
from .regions import region_labels

LABEL_SIZES = {0: 18, 1: 11, 2: 9}  # points; levels 0 and 1 are drawn, finer levels crowd a still picture
LABEL_COLOURS = {0: "#000000", 1: "#555555", 2: "#777777"}
SHOWN_LEVELS = (0, 1)
CJK_FONTS = ("Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Serif CJK JP")  # Debian fonts-noto-cjk


def map_with_layout(name: str, index_dir=None, progress=None):
    """(index, its stored map), computing and storing the layout (and its named regions) first if the
    index has none."""
    index = Index.open(name, index_dir)
    pmap = stored_map(index)
    if pmap is None:
        relayout(name, index_dir, progress)
    elif not store_regions(name, index_dir, progress):  # one laid out before the regions were stored with it
        return index, pmap
    index = Index.open(name, index_dir)
    return index, stored_map(index)


def write_map_html(index, pmap, path, lang: str) -> Path:
    """The map as one HTML file that opens offline: plotly.js is written into it."""
    figure = map_figure(point_frame(index, pmap), 2, height=900)
    for label in shown_labels(index, lang).itertuples():
        name = html.escape(label.name)
        figure.add_annotation(x=label.x, y=label.y, text=f"<b>{name}</b>" if label.level == 0 else name,
                              showarrow=False, font={"size": LABEL_SIZES[label.level], "color": LABEL_COLOURS[label.level]},
                              bgcolor="rgba(255,255,255,0.6)")
    figure.update_layout(title={"text": html.escape(f"{index.name}: {len(pmap):,} items"), "y": 0.99})
    path = Path(path)
    figure.write_html(str(path), include_plotlyjs=True, full_html=True)
    return path


def write_map_png(index, pmap, path, lang: str, size_inches: float = 12.0) -> Path:
    """The map as a PNG: points coloured by language (images grey), region names on top."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("A PNG map needs matplotlib: pip install matplotlib (or use --html).") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = point_frame(index, pmap)
    from .map_figure import palette

    colours = palette(frame["group"].unique())
    figure, axes = plt.subplots(figsize=(size_inches, size_inches), dpi=120)
    axes.scatter(frame["x"], frame["y"], s=1.5 if len(frame) > 20_000 else 6, linewidths=0,
                 c=[colours[g] for g in frame["group"]], alpha=0.6, rasterized=True)
    fonts = ["DejaVu Sans", *_cjk_fonts()]
    for label in shown_labels(index, lang).itertuples():
        axes.text(label.x, label.y, label.name, fontsize=LABEL_SIZES[label.level], ha="center", va="center",
                  parse_math=False, fontfamily=fonts, color=LABEL_COLOURS[label.level],
                  fontweight="bold" if label.level == 0 else "normal", zorder=3 - label.level,
                  bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "alpha": 0.6, "linewidth": 0})
    axes.set_axis_off()
    axes.set_title(f"{index.name}: {len(pmap):,} items", parse_math=False)
    path = Path(path)
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return path


def shown_labels(index, lang: str):
    """The region labels drawn on a file: levels SHOWN_LEVELS, finer ones first so that the top
    level's names lie on top, without a region that only repeats its parent (a region too small
    to split has one child of the same items and name)."""
    labels = region_labels(index, lang)
    labels = labels[labels["level"].isin(SHOWN_LEVELS)]
    repeated = labels.duplicated(subset=["name", "size", "x", "y"], keep="first")
    return labels[~repeated].sort_values("level", ascending=False, kind="stable")


def _cjk_fonts() -> list:
    """The CJK fonts matplotlib finds here (fallbacks after DejaVu Sans for Japanese and Chinese)."""
    from matplotlib import font_manager

    known = {font.name for font in font_manager.fontManager.ttflist}
    return [name for name in CJK_FONTS if name in known]
