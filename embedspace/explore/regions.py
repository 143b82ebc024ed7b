"""Named regions of the map: clusters of the space at three levels, named in the reader's language.

- Clusters: spherical k-means (FAISS) in the embedding space, nested. Level 0 has the k in
  TOP_K_RANGE with the best cosine silhouette on a sample (at least 4: a reader wants a handful
  of top regions, not two halves), or the largest k there when no k separates the items clearly
  (best_top_k); each region of one level is split again into up to CHILDREN regions (fewer when
  it is small: at least MIN_REGION items each) at the next.
- Names: for language L, a region's candidates are the text items of L nearest to its mean vector
  by CSLS, 2 cos(c, w) - r(w), where r(w) is the mean cosine of word w to its CSLS_K nearest region
  means of all levels (a word near every region, a hub, loses to one near this region only), the
  items that are words most particular to its texts (class-based TF-IDF), and its category words:
  words of at least two of its texts in L of which more than half the uses in its parent region are
  in it ("bandera" for flags, 顔 for faces: in Japanese, the ideographs ending a word after kana).
  Each of a sample of its items votes for its nearest candidate item; a category word gets the
  votes of every candidate holding it. The name is the candidate with the most votes (equal votes: a
  category word first): in a mixed region the word nearest to the mean is often typical of none of
  its items. Siblings (the regions of one level under one parent) never share a name: the larger
  region picks first, and the next takes its best name not yet taken. A region keeps its name only
  when at least MIN_RECALL of its voters are nearer to it than to any sibling's name (name_recalls):
  a name that does not tell its region from its siblings misleads more than no name. MIN_RECALL was
  chosen on the demo's Spanish top level and checked on its English and Japanese names, its level 1,
  the small demo of the tests and the known groups of tests/explore/test_regions.py (notes/issue17-map.md).
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
MIN_RECALL = 0.75  # a region fewer of whose voters are nearer its name than any sibling's has none (name_recalls)
CATEGORY_CONCENTRATION = 0.5  # a category word: more than this share of its uses in the parent are in the region
MIN_NAME_CHARS = 3  # shorter texts name no region, except CJK ideographs and Hangul (is_nameable)
SEED = 1234
FORMAT = 1

NAMING_HELP = (
    "**How regions are named.** The items are grouped by k-means in the embedding space itself "
    "(not on the flat map), at three levels of detail: a handful of large regions, each split "
    "into smaller ones. A region's candidate names are the text items of the language you chose "
    "nearest to the mean vector of its items, with a correction for hubs (CSLS: a word close to "
    "every region is penalised), the words its items' texts share most, and its category words: a "
    "word in at least two of its texts with more than half of its uses in the surrounding region in "
    "this region (\"bandera\" for flags named \"bandera estonia\", \"bandera suiza\"…; in Japanese "
    "the kanji ending a name, 顔 for faces). Each of up to 500 of the region's items votes for the "
    "candidate item nearest to it; a category word gets the votes of every candidate that contains it. "
    "The name is the candidate with the most votes, and neighbouring regions of the same level never "
    "share a name. **A region has no name** when fewer than three quarters of its voting items are "
    "nearer to its name than to the name of a neighbouring region: the name would not tell it from "
    "them (regions of mixed items, or of frequent words with nothing in common, are left unnamed). "
    "The names come from the space, so the same regions get Spanish names for a Spanish reader and "
    "Japanese names for a Japanese one; a region may be named in one language and not in another, and "
    "a language with no text items in the index gives no names."
)

WORD = re.compile(r"\w+")  # the words of a text, for shared_words
HEAD_NOUN = re.compile(r"(?<=[\u3040-\u30ff])[\u4e00-\u9fff]+$")  # ideographs ending a word, after kana
COLUMNS = ["x", "y", "name", "level", "size", "cluster"]
# What a stored clustering and stored names were computed by: read back only when the rule is the same.
CLUSTERING = {"format": FORMAT, "levels": LEVELS, "top": list(TOP_K_RANGE), "children": CHILDREN, "min": MIN_REGION,
              "clear": CLEAR_SILHOUETTE}
NAMING = {"format": FORMAT, "candidates": CANDIDATES, "shared": SHARED_WORDS, "csls_k": CSLS_K,
          "min_chars": MIN_NAME_CHARS, "voters": VOTERS, "rule": "votes+categories", "min_recall": MIN_RECALL,
          "concentration": CATEGORY_CONCENTRATION}


def region_labels(index, lang: str) -> pd.DataFrame:
    """x, y (layout position of the label), name, level (0 coarsest), size, cluster (stable id)."""
    lang = normalize_lang(lang)
    stored_clusters, stored_names = current_regions(index)
    clusters = region_clusters(index, stored_clusters)
    names = None if stored_names is None else stored_names.get(lang, {})  # {}: no texts in lang
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


def region_files(items: pd.DataFrame, vectors: np.ndarray, progress=None, clusters=None) -> dict:
    """The index files of the named regions of these items (in row order): the clusters (computed unless
    given: those stored by the current CLUSTERING rule, when only the naming rule changed), and their
    names in every language the items have texts in (index/layout_file.py writes them with the layout)."""
    vectors = l2_normalize(vectors)
    if clusters is None:
        announce(progress, f"Grouping the {len(items):,} items into named regions (k-means at {LEVELS} levels)…")
        clusters = cluster_levels(vectors)
    else:
        announce(progress, f"Naming the regions of the {len(items):,} items again (a new naming rule)…")
    langs = sorted(items.loc[items["kind"] == "text", "lang"].dropna().astype(str).unique())
    names = {lang: region_names(items, vectors, clusters, lang) for lang in langs}
    return regions_files(clusters, {"clustering": CLUSTERING, "naming": NAMING, "names": names})


# -- clusters ----------------------------------------------------------------------------------------
def region_clusters(index, stored: np.ndarray | None = None) -> np.ndarray:
    """(LEVELS, items) int32: each item's region id at each level, ids unique across levels. stored: the
    index's stored clusters by the current rule, when the caller has read them already (current_regions)."""
    stored = stored if stored is not None else current_regions(index)[0]
    if stored is not None:
        return stored
    key = {**CLUSTERING, "index": index.checksum}
    path = cache_dir("regions") / f"{index.name}-{index.checksum}-clusters.array"
    clusters = load_checked_array(path, key)
    if clusters is None or clusters.shape != (LEVELS, len(index)):
        clusters = cluster_levels(index.vectors_f32(np.arange(len(index))))
        save_checked_array(path, clusters, key)
    return clusters


def current_regions(index) -> tuple:
    """(the index's stored clusters, or None unless the current CLUSTERING rule computed them; their
    stored names {lang: {region: name}}, or None unless the current NAMING rule chose them too), from
    one read of the regions files (each read checks their checksums)."""
    stored = read_regions(index)
    if stored is None or stored[1].get("clustering") != CLUSTERING:
        return None, None
    return stored[0], (stored[1].get("names", {}) if stored[1].get("naming") == NAMING else None)


def stored_regions_current(index) -> bool:
    """Whether the index stores regions clustered and named by the current rules."""
    return current_regions(index)[1] is not None


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
    """{region id (str): name} of the regions named in `lang` (named_regions)."""
    return {region: name for region, (name, *_) in named_regions(items, vectors, clusters, lang).items()}


def named_regions(items: pd.DataFrame, vectors: np.ndarray, clusters: np.ndarray, lang: str,
                  min_recall: float = MIN_RECALL) -> dict:
    """{region id (str): (name, share of its voters voting for it, recall)} in `lang`: of each region's
    candidate names, the one most of its items vote for (ranked_names), distinct among siblings (the
    larger region picks first); kept when at least `min_recall` of its voters are nearer to it than to
    any sibling's name (name_recalls)."""
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
    shared, categories = shared_words(items, texts, regions, clusters, lang)
    from threadpoolctl import threadpool_limits  # sklearn's dependency

    with threadpool_limits(limits=1, user_api="blas"):  # hundreds of small products: threads cost more (5x)
        return _pick_names(vectors, regions, clusters, texts, words, csls, shared, categories, min_recall)


def _pick_names(vectors, regions, clusters, texts, words, csls, shared, categories, min_recall) -> dict:
    rng = np.random.default_rng(SEED)
    names = {}
    for siblings in _sibling_groups(clusters, regions):
        taken, picked = set(), {}
        for region in sorted(siblings, key=lambda r: -len(regions[r][1])):
            pool = candidate_names(csls[region], shared.get(region, []))
            members = regions[region][1]
            if len(members) > VOTERS:
                members = rng.choice(members, VOTERS, replace=False)
            voters = l2_normalize(vectors[members])
            ranked = ranked_names(voters, words[pool], texts[pool], categories.get(region, set()))
            choice = next((option for option in ranked if _key(option[0]) not in taken), None)
            if choice is None:
                continue
            taken.add(_key(choice[0]))
            picked[region] = (*choice, voters)
        for region, recall in name_recalls(picked).items():
            name, share = picked[region][:2]
            if recall >= min_recall:
                names[str(region)] = (str(name), round(float(share), 4), round(float(recall), 4))
    return names


def name_recalls(picked: dict) -> dict:
    """{region: share of its voters whose nearest sibling name is its own}: how well the names tell the
    siblings apart, as a reader uses them ("the flags are under 'bandera'"). A region whose items are
    as near to a sibling's name as to its own has nothing its name says about it."""
    regions = list(picked)
    if len(regions) < 2:
        return {region: 1.0 for region in regions}
    names = np.stack([picked[region][2] for region in regions])
    return {region: float(((picked[region][3] @ names.T).argmax(axis=1) == i).mean()) for i, region in enumerate(regions)}


def candidate_names(csls: np.ndarray, shared: list) -> np.ndarray:
    """Candidate positions for one region, best first: its CANDIDATES nearest words by CSLS, and the
    items that are words most particular to its items' texts (shared_words)."""
    nearest = np.argsort(-csls)[:CANDIDATES]
    return np.array(list(dict.fromkeys([*nearest.tolist(), *shared])), dtype=np.int64)


def ranked_names(members: np.ndarray, words: np.ndarray, texts, categories: set) -> list:
    """[(name, share of the members voting for it, its vector)], best first. Each member votes for its
    nearest candidate item; a category word (shared_words) gets the votes of every candidate whose text
    holds it, so "bandera" gets those of "bandera estonia", "bandera suiza"... and wins over any one
    flag: it is what they share (its vector: the mean of those candidates', weighted by their votes).
    Equal votes go to the category word, then to the better-ranked candidate. The name is the candidate
    most similar to the most items, not the one nearest to their mean, which in a region of many kinds
    of item is often a word typical of none."""
    counts = np.bincount((members @ words.T).argmax(axis=1), minlength=len(words))
    options = {}  # key: (votes, is a category word, -rank, name, vector)
    for rank, (text, count) in enumerate(zip(texts, counts)):
        options.setdefault(_key(text), (int(count), 0, -rank, str(text), words[rank]))
    holders = {}
    for rank, text in enumerate(texts):
        for key, word in {_key(w): w for w in words_of_text(str(text))}.items():
            if key in categories:
                holders.setdefault(key, (word, []))[1].append(rank)
    for key, (word, ranks) in holders.items():
        votes = int(counts[ranks].sum())
        if votes > options.get(key, (-1,))[0] or (votes == options[key][0] and not options[key][1]):
            vector = l2_normalize((counts[ranks] + 1e-3) @ words[ranks])
            options[key] = (votes, 1, -ranks[0], word, vector)
    ranked = sorted(options.values(), key=lambda option: option[:3], reverse=True)
    return [(name, votes / len(members), vector) for votes, _, _, name, vector in ranked]


def shared_words(items: pd.DataFrame, texts: np.ndarray, regions, clusters: np.ndarray, lang: str):
    """({region: candidate positions}, {region: category words}) of the region's texts in `lang`.
    Candidate positions: the items that are one of the SHARED_WORDS words most particular to the
    region's texts by class-based TF-IDF (each region's texts as one document: the number of its texts
    with the word, times log(1 + mean words per region of its level / the word's count in the whole
    index)). Category words (casefolded): the nameable words of at least two of its texts of which more
    than CATEGORY_CONCENTRATION of the uses in its parent region (the whole index at level 0) are in
    this region: "bandera" for flags, not "con", which is in texts of every region."""
    position = {}
    for i, text in enumerate(texts):
        position.setdefault(_key(text), i)
    rows = np.flatnonzero(((items["kind"] == "text") & (items["lang"] == lang)).to_numpy())
    all_texts = items["text"].to_numpy()
    words_of = {row: [w for w in set(words_of_text(str(all_texts[row]).casefold())) if is_nameable(w)] for row in rows}
    total = Counter(word for words in words_of.values() for word in words)
    if not total:
        return {}, {}
    is_lang = np.zeros(len(items), dtype=bool)
    is_lang[rows] = True
    counts = [Counter(word for row in members[is_lang[members]] for word in words_of[row]) for _, members in regions]
    levels = {}
    for (level, _), count in zip(regions, counts):
        levels.setdefault(level, []).append(sum(count.values()))
    mean_words = {level: max(float(np.mean(sizes)), 1.0) for level, sizes in levels.items()}
    shared, categories = {}, {}
    for region, ((level, members), count) in enumerate(zip(regions, counts)):
        # a word in one text of the region is nothing its items share
        scores = {word: n * np.log1p(mean_words[level] / total[word]) for word, n in count.items() if n >= 2}
        best = [word for word in sorted(scores, key=lambda word: (-scores[word], word)) if word in position]
        if best[:SHARED_WORDS]:
            shared[region] = [position[word] for word in best[:SHARED_WORDS]]
        parent = total if level == 0 else counts[int(clusters[level - 1, members[0]])]
        categories[region] = {word for word in scores if count[word] > CATEGORY_CONCENTRATION * parent[word]}
    return shared, categories


def words_of_text(text: str) -> list:
    """The words of a text: its runs of letters, and of a run that ends in CJK ideographs after kana
    (Japanese writes no spaces) that final run too, the head noun of a Japanese noun phrase: 顔 of
    ふざけた顔 (playful face), 女性 of 走る女性, the word a region of faces or of women shares."""
    words = WORD.findall(text)
    return words + [head.group() for word in words if (head := HEAD_NOUN.search(word)) and head.group() != word]


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
