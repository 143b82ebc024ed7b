"""The 2-D layout stored with an index: two extra files of its generation (store.py), no pickle.

    layout-2d.npy   float32 (items, 2): the map position of every row, in row order
    layout.json     how it was computed (method, parameters, graph, seconds, when) and
                    `next_id`: the index's next_id when it was laid out
    regions.npy     int32 (levels, items): each row's named region at each level of detail
    regions.json    how they were clustered, and their names in each language of the index
                    (explore/regions.py computes both; without these files it computes them on
                    first use and caches them outside the index)

explore/layout.py computes a layout (UMAP) and hands its files to build_index or
replace_extra_files; this module keeps it in step with the index without computing a new one:
- `add` places each new item by the maps' placement rule (vectors.place_among_neighbours: the
  softmax-weighted mean position of its nearest laid-out items in the full space), and puts it in
  the regions of the nearest of them;
- `remove` drops the rows of the removed items.
Ids only grow, so the items placed after the layout are exactly those with id >= layout next_id.

Stale: placed items never move the others and cannot form a region of their own; past
STALE_SHARE of the index placed, `info` and the app say so and `embedspace map NAME --relayout`
recomputes. 10% is a judgement, not a measurement: one new item in ten is enough new material
for a group the layout cannot show, and at the demo's size a relayout costs about a minute.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import numpy as np

from ..vectors import place_among_neighbours

COORDS_FILE = "layout-2d.npy"
META_FILE = "layout.json"
REGIONS_FILE = "regions.npy"
REGIONS_META_FILE = "regions.json"
STALE_SHARE = 0.10


@dataclass(frozen=True)
class LayoutStatus:
    present: bool
    placed: int  # items added after the layout, placed among their neighbours
    total: int  # items of the index
    stale: bool
    message: str


def _array_files(array_file: str, array: np.ndarray, meta_file: str, meta: dict, **json_options) -> dict:
    """{file name: bytes} of an array (.npy, no pickle) and its JSON metadata."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return {array_file: buffer.getvalue(),
            meta_file: json.dumps(meta, indent=1, sort_keys=True, **json_options).encode()}


def _read_array_files(index, array_file: str, meta_file: str) -> tuple[np.ndarray, dict] | None:
    """(array, meta) of a pair written by _array_files, or None when the index lacks either."""
    raw = index.read_extra(array_file)
    meta = index.read_extra(meta_file)
    if raw is None or meta is None:
        return None
    return np.load(io.BytesIO(raw), allow_pickle=False), json.loads(meta)


def layout_files(coords: np.ndarray, meta: dict) -> dict:
    """{file name: bytes} of a layout, for write_index(extra_files=) or replace_extra_files."""
    return _array_files(COORDS_FILE, np.asarray(coords, dtype=np.float32), META_FILE, meta)


def read_layout(index) -> tuple[np.ndarray, dict] | None:
    """(coords (items, 2), meta) of the index's stored layout, or None when it has none."""
    stored = _read_array_files(index, COORDS_FILE, META_FILE)
    if stored is None or stored[0].shape != (len(index), 2):  # a writer that forgot it: better no layout than a wrong one
        return None
    return stored


def placed_rows(index, meta: dict) -> np.ndarray:
    """Rows of the items added after the layout (their ids are at least its next_id)."""
    return np.flatnonzero(index.items["id"].to_numpy() >= int(meta.get("next_id", 0)))


def layout_status(index) -> LayoutStatus:
    stored = read_layout(index)
    total = len(index)
    if stored is None:
        return LayoutStatus(False, 0, total, False, f"Index '{index.name}' has no stored layout; "
                            f"`embedspace map {index.name}` computes and stores one.")
    placed = len(placed_rows(index, stored[1]))
    stale = placed > STALE_SHARE * total
    message = f"2-D layout of {total - placed:,} items"
    if placed:
        message += f", {placed:,} added since and placed among their neighbours ({placed / total:.0%})"
    if stale:
        message += (f"; stale (over {STALE_SHARE:.0%} placed): `embedspace map {index.name} --relayout` "
                    "recomputes it")
    return LayoutStatus(True, placed, total, stale, message)


def regions_files(clusters: np.ndarray, meta: dict) -> dict:
    """{file name: bytes} of the named regions (explore/regions.py), for the same writers as layout_files."""
    return _array_files(REGIONS_FILE, np.asarray(clusters, dtype=np.int32), REGIONS_META_FILE, meta, ensure_ascii=False)


def read_regions(index) -> tuple[np.ndarray, dict] | None:
    """(clusters (levels, items), meta) of the index's stored regions, or None when it has none."""
    stored = _read_array_files(index, REGIONS_FILE, REGIONS_META_FILE)
    if stored is None or stored[0].ndim != 2 or stored[0].shape[1] != len(index):  # better computed again than wrong
        return None
    return stored


def layout_after_add(base, new_vectors: np.ndarray) -> dict:
    """The base index's layout with the new items placed (rows appended in order), and its regions with
    each new item in those of its nearest laid-out item; {} if it has no layout."""
    stored = read_layout(base)
    if stored is None:
        return {}
    coords, meta = stored
    nearest = np.zeros(0, np.int64)
    if len(new_vectors):
        placed, neighbours, _ = place_among_neighbours(new_vectors, base.vectors, coords)
        coords = np.concatenate([coords, placed])
        nearest = neighbours[:, 0]  # sorted most similar first
    files = layout_files(coords, meta)
    regions = read_regions(base)
    if regions is not None:
        clusters, regions_meta = regions
        files.update(regions_files(np.concatenate([clusters, clusters[:, nearest]], axis=1), regions_meta))
    return files


def layout_after_remove(index, keep: np.ndarray) -> dict:
    """The layout (and the regions) of the rows kept; {} if the index has no layout."""
    stored = read_layout(index)
    if stored is None:
        return {}
    coords, meta = stored
    files = layout_files(coords[keep], meta)
    regions = read_regions(index)
    if regions is not None:
        files.update(regions_files(regions[0][:, keep], regions[1]))
    return files
