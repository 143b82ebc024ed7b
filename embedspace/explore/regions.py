"""Named regions of the map: clusters of the space at three levels, named in the reader's language.

- Clusters: spherical k-means (FAISS) in the embedding space, nested. Level 0 has the k in
  TOP_K_RANGE with the best cosine silhouette on a sample (at least 4: a reader wants a handful
  of top regions, not two halves), or the largest k there when no k separates the items clearly
  (best_top_k); each region of one level is split again into up to CHILDREN regions (fewer when
  it is small: at least MIN_REGION items each) at the next.
- Names: for language L, a region's candidates are the text items of L nearest to its mean vector
  by CSLS, 2 cos(c, w) - r(w), where r(w) is the mean cosine of word w to its CSLS_K nearest region
  means of all levels (a word near every region, a hub, loses to one near this region only), and
  the words most particular to its items' texts (class-based TF-IDF, when they are items of L).
  The name is the candidate that most of the region's items are nearest to (votes): in a mixed
  region the word nearest to the mean is often typical of none of its items. Siblings (the regions
  of one level under one parent) never share a name: the larger region picks first, and the next
  takes its best name not yet taken.
- Position of a label: the densest spot of the region's items on the layout (label_position).
- Stored with the layout: `build`, `embedspace demo` and `embedspace map NAME` compute the
  clusters and their names in every language of the index (region_files) into the index's
  regions.npy and regions.json (index/layout_file.py; `add` puts a new item in the regions of its
  nearest laid-out item), so the app's first map reads them instead of clustering (~15 s on the
  demo). An index without them (or stored by an older rule: CLUSTERING and NAMING differ) gets
  them on first use, cached under the user cache (EMBEDSPACE_CACHE_DIR/regions), keyed by the
  index's checksum, which changes with every write: the clusters once per index version, the
  names once per language.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter

import numpy as np
import pandas as pd

from ..artifacts import load_checked_array, save_checked_array, save_json
from ..index.layout_file import read_layout, read_regions, regions_files
from ..languages import normalize_lang
from ..paths import cache_dir
from ..progress import announce
from ..vectors import CSLS_K, l2_normalize
from .projection import MapParams, project

LEVELS = 3
TOP_K_RANGE = (4, 12)
CHILDREN = 5
MIN_REGION = 12
SILHOUETTE_SAMPLE = 3_000
CLEAR_SILHOUETTE = 0.15  # below it, no k of TOP_K_RANGE separates the items clearly (best_top_k)
CANDIDATES = 30  # nearest names per region (CSLS) among which the most separating is chosen
SHARED_WORDS = 10  # and the words most particular to its items' texts (class-based TF-IDF)
VOTERS = 500  # items of a region (a fixed sample) whose nearest candidate names it
LABEL_BINS = 24  # grid of label_position: fine enough to find a cluster, coarse enough to count in
MIN_NAME_CHARS = 3  # shorter texts name no region, except CJK ideographs and Hangul (is_nameable)
SEED = 1234
FORMAT = 1

NAMING_HELP = (
    "**How regions are named.** The items are grouped by k-means in the embedding space itself "
    "(not on the flat map), at three levels of detail: a handful of large regions, each split "
    "into smaller ones. A region's candidate names are the text items of the language you chose "
    "nearest to the mean vector of its items, with a correction for hubs (CSLS: a word close to "
    "every region is penalised), and the words its items' texts share most; its name is the "
    "candidate that most of its items are nearest to. Neighbouring regions of the same level "
    "never share a name. The names come from the space, so the same regions get Spanish names for "
    "a Spanish reader and Japanese names for a Japanese one; a language with no text items in the "
    "index gives no names. Broad regions of an index with many kinds of item are mixed, and so "
    "are their names: the finer levels are more specific."
)

WORD = re.compile(r"\w+")  # the words of a text, for shared_words
COLUMNS = ["x", "y", "name", "level", "size", "cluster"]
# What a stored clustering and stored names were computed by: read back only when the rule is the same.
CLUSTERING = {"format": FORMAT, "levels": LEVELS, "top": list(TOP_K_RANGE), "children": CHILDREN, "min": MIN_REGION,
              "clear": CLEAR_SILHOUETTE}
NAMING = {"format": FORMAT, "candidates": CANDIDATES, "shared": SHARED_WORDS, "csls_k": CSLS_K,
          "min_chars": MIN_NAME_CHARS, "voters": VOTERS, "rule": "votes"}


def region_labels(index, lang: str) -> pd.DataFrame:
    """x, y (layout position of the label), name, level (0 coarsest), size, cluster (stable id)."""
    lang = normalize_lang(lang)
    clusters = region_clusters(index)
    names = _stored_names(index, lang)
    if names is None:
        cached = _names_path(index, lang)
        try:
            names = json.loads(cached.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            names = name_regions(index, clusters, lang)
            save_json(cached, names)
    if not names:
        return pd.DataFrame(columns=COLUMNS)
    coords = _layout_coords(index)
    rows = []
    for cluster, (level, members) in enumerate(_regions(clusters)):
        name = names.get(str(cluster))
        if name is None:
            continue
        x, y = label_position(coords[members])
        rows.append({"x": float(x), "y": float(y), "name": name, "level": level, "size": len(members),
                     "cluster": cluster})
    return pd.DataFrame(rows, columns=COLUMNS)


def region_files(items: pd.DataFrame, vectors: np.ndarray, progress=None) -> dict:
    """The index files of the named regions of these items (in row order): the clusters, and their names
    in every language the items have texts in (index/layout_file.py writes them with the layout)."""
    announce(progress, f"Grouping the {len(items):,} items into named regions (k-means at {LEVELS} levels)…")
    vectors = l2_normalize(vectors)
    clusters = cluster_levels(vectors)
    langs = sorted(items.loc[items["kind"] == "text", "lang"].dropna().astype(str).unique())
    names = {lang: region_names(items, vectors, clusters, lang) for lang in langs}
    return regions_files(clusters, {"clustering": CLUSTERING, "naming": NAMING, "names": names})


# -- clusters ----------------------------------------------------------------------------------------
def region_clusters(index) -> np.ndarray:
    """(LEVELS, items) int32: each item's region id at each level, ids unique across levels."""
    stored = read_regions(index)
    if stored is not None and stored[1].get("clustering") == CLUSTERING:
        return stored[0]
    key = {**CLUSTERING, "index": index.checksum}
    path = cache_dir("regions") / f"{index.name}-{index.checksum}-clusters.array"
    clusters = load_checked_array(path, key)
    if clusters is None or clusters.shape != (LEVELS, len(index)):
        clusters = cluster_levels(index.vectors_f32(np.arange(len(index))))
        save_checked_array(path, clusters, key)
    return clusters


def stored_regions_current(index) -> bool:
    """Whether the index stores regions clustered and named by the current rules."""
    stored = read_regions(index)
    return stored is not None and stored[1].get("clustering") == CLUSTERING and stored[1].get("naming") == NAMING


def _stored_names(index, lang: str) -> dict | None:
    """The region names in `lang` stored with the index ({} for a language it has no texts in), or None
    when it stores none by the current rules."""
    if not stored_regions_current(index):
        return None
    return read_regions(index)[1].get("names", {}).get(lang, {})


def cluster_levels(vectors: np.ndarray) -> np.ndarray:
    """Nested spherical k-means labels, (LEVELS, n); a region too small to split keeps its id's
    children empty (its items take a new id equal for all of them at the next level)."""
    vectors = l2_normalize(vectors)
    n = len(vectors)
    labels = np.zeros((LEVELS, n), np.int32)
    labels[0] = kmeans(vectors, best_top_k(vectors))
    next_id = int(labels[0].max()) + 1
    for level in range(1, LEVELS):
        for parent in np.unique(labels[level - 1]):
            members = np.flatnonzero(labels[level - 1] == parent)
            k = min(CHILDREN, len(members) // MIN_REGION)
            local = kmeans(vectors[members], k) if k >= 2 else np.zeros(len(members), np.int32)
            labels[level, members] = local + next_id
            next_id += int(local.max()) + 1
    return labels


def kmeans(vectors: np.ndarray, k: int) -> np.ndarray:
    import faiss

    k = max(1, min(k, len(vectors)))
    if k == 1:
        return np.zeros(len(vectors), np.int32)
    model = faiss.Kmeans(vectors.shape[1], k, niter=25, seed=SEED, spherical=True, verbose=False,
                         min_points_per_centroid=1)
    model.train(np.ascontiguousarray(vectors, dtype=np.float32))
    _, assigned = model.index.search(np.ascontiguousarray(vectors, dtype=np.float32), 1)
    return _dense(assigned[:, 0])


def best_top_k(vectors: np.ndarray) -> int:
    """The k of TOP_K_RANGE whose k-means of a fixed sample has the best cosine silhouette there; the
    largest k of the range when no k separates the items clearly (best silhouette under
    CLEAR_SILHOUETTE): the silhouette then does not say how many regions there are, and more top
    regions are each more of one kind. On the demo every k scores 0.06-0.09, and its four top regions
    of the best k mixed emoji, flags, countries and frequent words under one name each."""
    from sklearn.metrics import silhouette_score

    low, high = TOP_K_RANGE
    high = min(high, len(vectors) - 1)
    if high < low:
        return max(1, high)
    rng = np.random.default_rng(SEED)
    sample = vectors[np.sort(rng.choice(len(vectors), size=min(SILHOUETTE_SAMPLE, len(vectors)), replace=False))]
    scores = {}
    for k in range(low, high + 1):  # on the sample alone: ~10x faster than clustering every item each time
        labels = kmeans(sample, k)
        if len(np.unique(labels)) > 1:
            scores[k] = silhouette_score(sample, labels, metric="cosine")
    if not scores:
        return low
    best = max(scores, key=scores.get)
    return best if scores[best] >= CLEAR_SILHOUETTE else high


def _dense(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered 0..m-1 (k-means may leave a centroid empty)."""
    return np.unique(labels, return_inverse=True)[1].astype(np.int32)


def _regions(clusters: np.ndarray):
    """[(level, member rows)] by region id (ids are 0..m-1 across the levels)."""
    out = {}
    for level in range(clusters.shape[0]):
        for region in np.unique(clusters[level]):
            out[int(region)] = (level, np.flatnonzero(clusters[level] == region))
    return [out[r] for r in sorted(out)]


# -- names ------------------------------------------------------------------------------------------
def name_regions(index, clusters: np.ndarray, lang: str) -> dict:
    """{region id (str): name} of the index's regions in `lang` (region_names)."""
    return region_names(index.items, index.vectors_f32(np.arange(len(index))), clusters, lang)


def region_names(items: pd.DataFrame, vectors: np.ndarray, clusters: np.ndarray, lang: str) -> dict:
    """{region id (str): name}: of each region's candidate names (candidate_names), the one most of its
    items are nearest to (votes), distinct among siblings, the larger region first."""
    candidates = np.flatnonzero(((items["kind"] == "text") & (items["lang"] == lang)).to_numpy())
    texts = items["text"].to_numpy()[candidates]
    nameable = np.array([is_nameable(text) for text in texts], dtype=bool)
    candidates, texts = candidates[nameable], texts[nameable]
    if len(candidates) == 0:
        return {}
    regions = _regions(clusters)
    # The mean of a region's unit vectors: its dot product with a word is the word's mean cosine to the
    # region's items; normalised, it is the direction CSLS compares words with.
    centres = l2_normalize(np.stack([vectors[members].mean(axis=0) for _, members in regions]))
    words = l2_normalize(vectors[candidates])
    cosines = centres @ words.T  # (regions, candidates)
    hubness = np.sort(cosines, axis=0)[-min(CSLS_K, len(centres)):].mean(axis=0)  # r(w) over region means
    csls = 2 * cosines - hubness[None, :]
    shared = shared_words(items, texts, candidates, regions, lang)
    from threadpoolctl import threadpool_limits  # sklearn's dependency

    with threadpool_limits(limits=1, user_api="blas"):  # hundreds of small products: threads cost more (5x)
        return _pick_names(vectors, regions, clusters, texts, words, csls, shared)


def _pick_names(vectors, regions, clusters, texts, words, csls, shared) -> dict:
    rng = np.random.default_rng(SEED)
    names = {}
    for siblings in _sibling_groups(clusters, regions):
        taken = set()
        for region in sorted(siblings, key=lambda r: -len(regions[r][1])):
            pool = candidate_names(csls[region], shared.get(region, []))
            members = regions[region][1]
            if len(members) > VOTERS:
                members = rng.choice(members, VOTERS, replace=False)
            ranked = pool[np.argsort(-votes(l2_normalize(vectors[members]), words[pool]), kind="stable")]
            choice = next((texts[c] for c in ranked if _key(texts[c]) not in taken), texts[ranked[0]])
            taken.add(_key(choice))
            names[str(region)] = str(choice)
    return names


def candidate_names(csls: np.ndarray, shared: list) -> np.ndarray:
    """Candidate positions for one region, best first: its CANDIDATES nearest words by CSLS, and the
    words most particular to its items' texts (shared_words), which name what a mixed region's items
    share ("bandera" for flags) where its mean vector is near no word in particular."""
    nearest = np.argsort(-csls)[:CANDIDATES]
    return np.array(list(dict.fromkeys([*nearest.tolist(), *shared])), dtype=np.int64)


def votes(members: np.ndarray, words: np.ndarray) -> np.ndarray:
    """How many of the members have each word as their nearest among the candidates, less a fraction of
    a vote by rank (equal counts go to the better-ranked candidate): the name is the candidate most
    similar to the most items, not the one nearest to their mean, which in a region of many kinds of
    item is often a word typical of none."""
    counts = np.bincount((members @ words.T).argmax(axis=1), minlength=len(words)).astype(np.float64)
    return counts - np.arange(len(words)) / (len(words) + 1)


def shared_words(items: pd.DataFrame, texts: np.ndarray, candidates: np.ndarray, regions, lang: str) -> dict:
    """{region: candidate positions} of the SHARED_WORDS words most particular to the region's texts in
    `lang` by class-based TF-IDF (each region's texts as one document: the number of its texts with the
    word, times log(1 + mean words per region of its level / the word's count in the whole index)),
    among words that are candidates themselves (a name is always an item of the index)."""
    position = {}
    for i, text in enumerate(texts):
        position.setdefault(_key(text), i)
    rows = np.flatnonzero(((items["kind"] == "text") & (items["lang"] == lang)).to_numpy())
    all_texts = items["text"].to_numpy()
    # Only words that could name a region are counted: a word that is no candidate never wins.
    words_of = {row: [w for w in set(WORD.findall(str(all_texts[row]).casefold())) if w in position] for row in rows}
    total = Counter(word for words in words_of.values() for word in words)
    if not total:
        return {}
    is_lang = np.zeros(len(items), dtype=bool)
    is_lang[rows] = True
    counts = [Counter(word for row in members[is_lang[members]] for word in words_of[row]) for _, members in regions]
    levels = {}
    for (level, _), count in zip(regions, counts):
        levels.setdefault(level, []).append(sum(count.values()))
    mean_words = {level: max(float(np.mean(sizes)), 1.0) for level, sizes in levels.items()}
    shared = {}
    for region, ((level, _), count) in enumerate(zip(regions, counts)):
        # a word in one text of the region is nothing its items share
        scores = {word: n * np.log1p(mean_words[level] / total[word]) for word, n in count.items() if n >= 2}
        best = sorted(scores, key=lambda word: (-scores[word], word))[:SHARED_WORDS]
        if best:
            shared[region] = [position[word] for word in best]
    return shared


def label_position(points: np.ndarray) -> tuple[float, float]:
    """Where a region's name goes: the centre of the densest cell of a LABEL_BINS-square grid over
    its items, so the name sits on the region's own cluster. The median position (used before)
    of a region spread over the map lands in the map's crowded middle, where the names of every
    large region piled up on the demo."""
    if len(points) < LABEL_BINS:
        x, y = np.median(points, axis=0)
        return float(x), float(y)
    counts, x_edges, y_edges = np.histogram2d(points[:, 0], points[:, 1], bins=LABEL_BINS)
    i, j = np.unravel_index(int(np.argmax(counts)), counts.shape)
    return float((x_edges[i] + x_edges[i + 1]) / 2), float((y_edges[j] + y_edges[j + 1]) / 2)


def is_nameable(text) -> bool:
    """Whether a text may name a region: at least MIN_NAME_CHARS characters, or one CJK ideograph
    or Hangul syllable (a whole word there: 犬, 国). Frequent-word lists hold fragments and function
    words ("le", "st", "ll", "だら"), and they sit near the middle of every mixed region: on the
    demo they named three of its four top regions before this rule."""
    text = str(text).strip()
    if len(text) >= MIN_NAME_CHARS:
        return True
    return any("\u4e00" <= char <= "\u9fff" or "\uac00" <= char <= "\ud7a3" for char in text)


def _sibling_groups(clusters: np.ndarray, regions) -> list:
    """Lists of region ids that share a parent (level 0: all of them share the whole index)."""
    groups: dict = {}
    for region, (level, members) in enumerate(regions):
        parent = -1 if level == 0 else int(clusters[level - 1, members[0]])
        groups.setdefault((level, parent), []).append(region)
    return list(groups.values())


def _key(text: str) -> str:
    return " ".join(str(text).casefold().split())


def _names_path(index, lang: str):
    digest = hashlib.sha256(json.dumps(NAMING, sort_keys=True).encode()).hexdigest()[:8]
    return cache_dir("regions") / f"{index.name}-{index.checksum}-names-{lang}-{digest}.json"


def _layout_coords(index) -> np.ndarray:
    """Layout position of every row: the stored layout, else a map of all items (cached)."""
    stored = read_layout(index)
    if stored is not None:
        return stored[0]
    return project(index, MapParams(sample=None)).coords
