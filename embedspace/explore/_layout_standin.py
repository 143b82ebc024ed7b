"""STAND-IN, DELETE AT MERGE: the names of explore/layout.py and explore/regions.py (branch `map`,
interface in issue 17) built crudely, so that the app's Map tab can be written before they land.

stored_map: a PCA map of every item (the real one is a stored UMAP layout; PCA keeps the tests
fast). region_labels: k-means of the layout's points at three levels, each region named by the
text of language `lang` nearest to its mean vector (no CSLS, no sibling check: the real module
does those). Nothing here is cached on disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .projection import MapParams, ProjectionMap, project

LEVEL_SIZES = (6, 18, 48)  # regions per level, coarse to fine
NAMING_HELP = ("Regions are clusters of the map at three levels of detail. Each is named by the text, in the "
               "language you pick, nearest to the mean vector of the region's items in the embedding space.")


@dataclass
class LayoutStatus:
    present: bool
    placed: int
    total: int
    stale: bool
    message: str


def stored_map(index) -> ProjectionMap | None:
    pmap = project(index, MapParams(method="pca", sample=None))
    return pmap if len(pmap) == len(index.items) else None


def layout_status(index) -> LayoutStatus:
    total = len(index.items)
    return LayoutStatus(True, 0, total, False, f"A stored layout of all {total:,} items (stand-in).")


def region_labels(index, lang: str) -> pd.DataFrame:
    columns = ["x", "y", "name", "level", "size", "cluster"]
    pmap = stored_map(index)
    texts = np.flatnonzero(((index.items["kind"] == "text") & (index.items["lang"] == lang)).to_numpy())
    if pmap is None or len(texts) == 0:
        return pd.DataFrame(columns=columns)
    text_vectors = index.vectors_f32(texts)
    rows, cluster_id = [], 0
    for level, size in enumerate(LEVEL_SIZES):
        assigned = _kmeans(pmap.coords[:, :2], min(size, len(pmap)))
        for cluster in np.unique(assigned):
            members = assigned == cluster
            mean = pmap.vectors[members].mean(axis=0)
            name = index.items["text"].iloc[texts[int(np.argmax(text_vectors @ mean))]]
            x, y = pmap.coords[members, :2].mean(axis=0)
            rows.append((float(x), float(y), str(name), level, int(members.sum()), cluster_id))
            cluster_id += 1
    return pd.DataFrame(rows, columns=columns)


def _kmeans(points: np.ndarray, k: int, rounds: int = 12) -> np.ndarray:
    centres = points[np.random.default_rng(0).choice(len(points), size=k, replace=False)]
    for _ in range(rounds):
        assigned = np.argmin(((points[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        centres = np.array([points[assigned == c].mean(axis=0) if (assigned == c).any() else centres[c]
                            for c in range(k)])
    return assigned
