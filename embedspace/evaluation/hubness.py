"""Hubness: how unevenly items turn up as someone's nearest neighbour, the problem CSLS exists for.

For each language L, the targets are L's text items and the queries are the source side that
`embedspace translate --to L` uses: every item outside L (other languages, and images in an index
that has them). N_k(y) counts the queries that have target y among their k nearest targets, by
plain cosine (nn) or by CSLS, ranked exactly as `translate` ranks. We report the skewness of N_k
over L's items (Radovanović et al. 2010: 0 for an even graph, large and positive when a few items
are everyone's neighbours), the share of hubs (N_k above twice its mean, which is k when queries
and targets are the same items, as in Radovanović's N_k > 2k; k x queries / targets otherwise) and of
anti-hubs (N_k = 0, never
anyone's neighbour), the largest N_k and the items with it. With a single language (GloVe) the
queries are L's own items, each without itself.

Items come from a built index (`--index NAME`, default the demo) or from the suite's built-in set:
the translation suite's texts (country, language and emoji names and frequent words per language).
"""

from __future__ import annotations

import numpy as np

from ..data.emoji import select_emoji
from ..demo import DemoOptions
from ..errors import IndexStateError, InputError
from ..index.store import Index, index_exists
from ..paths import index_path
from ..runtime import load_now
from ..spaces.cache import embed_texts_cached
from ..spaces.registry import DEFAULT_SPACE, load_space
from .common import (
    Clock,
    check_languages,
    concept_texts,
    default_languages,
    format_seconds,
    percent,
    rank_targets,
    record,
    target_hubness,
)

SUITE = "hubness"
METHODS = ("nn", "csls")
DEFAULT_K = 10
DEFAULT_WORDS = 3000  # frequent words per language in the built-in set, as in the demo
TOP_HUBS = 5


def k_occurrence(queries: np.ndarray, targets: np.ndarray, k: int, method: str,
                 source_side: np.ndarray | None = None, monolingual: bool = False) -> np.ndarray:
    """N_k for every target row: how many queries have it among their k nearest (nn or CSLS)."""
    hubness = None
    if method == "csls":
        hubness = target_hubness(targets, targets if monolingual else source_side, exclude_self=monolingual)
    ranked = rank_targets(queries, targets, method, k, hubness, exclude_self=monolingual)
    ranked = ranked[ranked >= 0]
    return np.bincount(ranked.ravel(), minlength=len(targets))


def skewness(values: np.ndarray) -> float | None:
    """The third standardised moment E[(x - mean)^3] / std^3 (scipy.stats.skew with bias=True)."""
    values = np.asarray(values, dtype=np.float64)
    std = values.std()
    if len(values) < 3 or std == 0:
        return None
    return float(((values - values.mean()) ** 3).mean() / std**3)


def describe(counts: np.ndarray, texts) -> dict:
    """Skewness, shares of hubs (N_k > 2 mean N_k) and anti-hubs (N_k = 0), the largest N_k and its items."""
    top = np.argsort(-counts, kind="stable")[:TOP_HUBS]
    return {"skewness": None if (s := skewness(counts)) is None else round(s, 3),
            "hubs": round(float((counts > 2 * counts.mean()).mean()), 4) if len(counts) else 0.0,
            "mean": round(float(counts.mean()), 2) if len(counts) else 0.0,
            "anti_hubs": round(float((counts == 0).mean()), 4),
            "max": int(counts.max()) if len(counts) else 0,
            "top": [[texts[i], int(counts[i])] for i in top]}


def measure(vectors: np.ndarray, langs: np.ndarray, kinds: np.ndarray, texts, languages, k: int = DEFAULT_K) -> tuple:
    """(counts, figures) per language, for items given as arrays (index rows or a built-in set)."""
    counts, figures = {}, {}
    for lang in languages:
        target_rows = np.flatnonzero((langs == lang) & (kinds == "text"))
        source_rows = np.flatnonzero(langs != lang)
        if not len(target_rows):
            raise InputError(f"No text items in '{lang}' to measure hubness on.")
        monolingual = not len(source_rows)
        targets = vectors[target_rows]
        queries = targets if monolingual else vectors[source_rows]
        counts[lang] = {"targets": len(target_rows), "queries": len(queries),
                        "queries_are": "the same items, each without itself" if monolingual else "items outside " + lang}
        target_texts = [texts[i] for i in target_rows]
        figures[lang] = {method: describe(k_occurrence(queries, targets, k, method, queries, monolingual),
                                          target_texts) for method in METHODS}
    return counts, figures


def builtin_items(space, languages, words: int, emoji_limit: int | None, progress: bool):
    """The translation suite's texts, embedded: (vectors, langs, kinds, texts), skipping what the space refuses."""

    sets = concept_texts(languages, select_emoji(DemoOptions(emoji_limit=emoji_limit)), words)
    vectors, langs, texts, refused = [], [], [], 0
    for lang in languages:
        kept = sets[lang].texts
        if space.embeds_by_lookup:  # GloVe: one word per text, so names that are phrases are left out
            kept = [t for t in kept if _embeddable(space, t)]
            refused += len(sets[lang].texts) - len(kept)
        vectors.append(embed_texts_cached(space, kept, progress=progress))
        langs += [lang] * len(kept)
        texts += kept
    return np.concatenate(vectors), np.array(langs, dtype=object), np.array(["text"] * len(texts), dtype=object), \
        texts, refused


def _embeddable(space, text: str) -> bool:
    try:
        space.embed_texts([text])
    except InputError:
        return False
    return True


def run(space=None, index: str | None = "demo", index_dir=None, languages=None, k: int = DEFAULT_K, words: int | None = None,
        emoji_limit: int | None = None, progress: bool = False, command: str | None = None) -> dict:
    """The hubness suite over the index `index` (space None: the index's own), or the built-in set if index is None
    (space None: the default space)."""
    if not isinstance(k, int) or k < 1:
        raise InputError(f"-k must be a whole number of at least 1, not {k!r}.")
    if index is not None and (words is not None or emoji_limit is not None):
        raise InputError("--words and --emoji-limit choose the built-in items; with an index they mean nothing "
                         "(add --builtin).")
    words = DEFAULT_WORDS if words is None else words
    load_before, clock = load_now(), Clock()
    notes = []
    clock.stage("load items")
    if index is not None:
        space, (vectors, langs, kinds, texts, source) = _index_items(space, index, index_dir)
        available = sorted({lang for lang, kind in zip(langs, kinds) if kind == "text" and lang})
        languages = check_languages(space, languages, SUITE) if languages else tuple(available)
        absent = [lang for lang in languages if lang not in available]
        if absent:
            raise InputError(f"Index '{index}' has no text items in {', '.join(absent)}; it has {', '.join(available)}.")
    else:
        space = space or load_space(DEFAULT_SPACE)
        languages = check_languages(space, default_languages(space, languages), SUITE)
        clock.stage("embed")
        vectors, langs, kinds, texts, refused = builtin_items(space, languages, words, emoji_limit, progress)
        source = f"built-in set: country, language and emoji names and {words:,} frequent words per language"
        if emoji_limit:
            source += f" ({emoji_limit:,} emoji)"
        if refused:
            notes.append(f"{refused:,} names that {space.canonical} cannot embed (phrases for GloVe) are left out.")
    clock.stage("score")
    counts, figures = measure(vectors, langs, kinds, texts, languages, k)
    counts = {"items": int(len(vectors)), "languages": counts}
    config = {"items": source, "k": k, "languages": list(languages), "words": words if index is None else None,
              "emoji_limit": emoji_limit if index is None else None}
    command = command or f"embedspace eval hubness --space '{space.canonical}' " + \
        (f"--index {index}" if index else f"--builtin --languages {','.join(languages)}" +
         (f" --words {words}" if words != DEFAULT_WORDS else "") + (f" --emoji-limit {emoji_limit}" if emoji_limit else "")) + \
        (f" -k {k}" if k != DEFAULT_K else "")
    notes.append(f"N_k: how many queries have the item among their {k} nearest; hubs: N_k above twice its mean "
                 "(k x queries / targets), anti-hubs: N_k = 0.")
    return record(SUITE, space, config, counts, {"languages": figures, "mean": _mean(figures)}, clock, command, notes,
                  load_before)


def _index_items(space, name: str, index_dir):
    if name == "demo" and not index_exists(index_path(name, index_dir)):
        build = "embedspace demo" + (f" --space '{space.canonical}'" if space else "")
        raise IndexStateError(f"No demo index at {index_path(name, index_dir)}: build it with `{build}`, or measure "
                              "the suite's own items with --builtin.")
    index = Index.open(name, index_dir)
    if space is None:
        space = index.load_space()
    index.check_space(space)
    items = index.items
    return space, (index.vectors_f32(np.arange(len(index))), items["lang"].fillna("").to_numpy(dtype=object),
            items["kind"].to_numpy(dtype=object), items["text"].fillna("").tolist(),
            f"index '{name}' ({len(index):,} items, {index.manifest.get('space_id', space.id)})")


def _mean(figures: dict) -> dict:
    out = {}
    for method in METHODS:
        values = [f[method]["skewness"] for f in figures.values() if f[method]["skewness"] is not None]
        out[method] = {"skewness": round(sum(values) / len(values), 3) if values else None,
                       "hubs": round(sum(f[method]["hubs"] for f in figures.values()) / len(figures), 4),
                       "anti_hubs": round(sum(f[method]["anti_hubs"] for f in figures.values()) / len(figures), 4)}
    return out


def config_key(config: dict) -> str:
    items = config["items"]
    source = items.split(" (")[0] if items.startswith("index") else "built-in"
    words = f" words={config['words']}" if config.get("words") not in (None, DEFAULT_WORDS) else ""
    return f"{source} k={config['k']}" + words \
        + (f" emoji_limit={config['emoji_limit']}" if config.get("emoji_limit") else "")


def format_text(result: dict) -> str:
    counts, figures = result["counts"], result["figures"]
    k = result["config"]["k"]
    lines = [f"hubness  {result['space_id']}",
             f"  items: {result['config']['items']}; k = {k}",
             f"  {'language':<10}{'targets':>8}{'queries':>9}   {'skew NN':>8}{'skew CSLS':>10}"
             f"{'hubs NN':>9}{'hubs CSLS':>10}{'anti NN':>9}{'anti CSLS':>10}   top hub (NN)"]
    for lang, f in figures["languages"].items():
        c = counts["languages"][lang]
        top = f["nn"]["top"][0] if f["nn"]["top"] else ["-", 0]
        lines.append(f"  {lang:<10}{c['targets']:>8,}{c['queries']:>9,}   {_num(f['nn']['skewness']):>8}"
                     f"{_num(f['csls']['skewness']):>10}{percent(f['nn']['hubs']):>9}{percent(f['csls']['hubs']):>10}"
                     f"{percent(f['nn']['anti_hubs']):>9}{percent(f['csls']['anti_hubs']):>10}   "
                     f"{top[0]!r} ({top[1]:,})")
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"
