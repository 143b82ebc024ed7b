"""Word and name translation by nearest neighbour: precision@1 and @5, NN vs CSLS, per direction.

Test pairs are the concepts the demo's data names in two languages: country and language names
(CLDR via babel) and emoji names (the emoji package, CLDR annotations). A source text's correct
translations are every target text that names one of its concepts (a flag's name may also be the
country's). The target pool is every text of the target language: all its names plus its frequent
words (wordfreq), which only serve as distractors: nothing aligns words across languages. Ranking
is what `embedspace translate TEXT --to TGT --from SRC` does: CSLS's source side is every text of
the source language.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, UnsupportedError
from .common import Clock, check_languages, concept_texts, embed_texts_cached, gold_matrix, hits_at, load_now, \
    rank_targets, ratio, record, target_hubness

SUITE = "translation"
METHODS = ("nn", "csls")
KS = (1, 5)
DEFAULT_PAIRS = (("en", "es"), ("en", "de"), ("en", "fr"), ("es", "de"), ("en", "zh-Hans"), ("en", "ja"),
                 ("en", "ru"), ("en", "ar"))


def default_pairs(space) -> list:
    """DEFAULT_PAIRS in both directions, restricted to pairs of languages the space supports."""
    supported = set(space.languages or ())
    pairs = [p for a, b in DEFAULT_PAIRS for p in ((a, b), (b, a))
             if not supported or "*" in supported or {a, b} <= supported]
    if not pairs:
        raise UnsupportedError(f"Translation needs two languages; {space.canonical} supports "
                               f"{', '.join(sorted(supported))}.")
    return pairs


def translate_pair(vectors: dict, texts: dict, src: str, tgt: str, ks=KS, methods=METHODS) -> dict:
    """Counts and precision@k of one direction, from per-language vectors and LanguageTexts."""
    source, target = texts[src], texts[tgt]
    gold = gold_matrix(source.concepts, target.concepts)
    queries = [i for i, g in enumerate(gold) if g]
    gold = [gold[i] for i in queries]
    labels = [source.labels[i] for i in queries]
    same = np.array([source.texts[i] in {target.texts[j] for j in g} for i, g in zip(queries, gold)], dtype=bool)
    identical = int(same.sum())
    result = {"pairs": len(queries), "identical_text": identical, "target_pool": len(target.texts),
              "target_names": sum(1 for c in target.concepts if c), "by_label": {}, "precision": {},
              "precision_spelled_differently": {}}
    if not queries:
        return result
    source_vectors, target_vectors = vectors[src], vectors[tgt]
    hubness = target_hubness(target_vectors, source_vectors) if "csls" in methods else None
    for method in methods:
        ranked = rank_targets(source_vectors[queries], target_vectors, method, max(ks), hubness)
        hits = hits_at(ranked, gold, ks)
        result["precision"][method] = {f"p@{k}": ratio(hits[k].sum(), len(queries)) for k in ks}
        result["precision_spelled_differently"][method] = {f"p@{k}": ratio(hits[k][~same].sum(), int((~same).sum()))
                                                           for k in ks}
        for label in sorted(set(labels)):
            mine = [i for i, lab in enumerate(labels) if lab == label]
            entry = result["by_label"].setdefault(label, {"pairs": len(mine)})
            entry[method] = {f"p@{k}": ratio(hits[k][mine].sum(), len(mine)) for k in ks}
    return result


def run(space, pairs=None, words: int = 3000, emoji_limit: int | None = None, countries=None,
        progress: bool = False, command: str | None = None) -> dict:
    """The translation suite on one space. pairs: [(src, tgt)]; default: default_pairs(space)."""
    load_before, clock = load_now(), Clock()
    pairs = [tuple(p) for p in pairs] if pairs else default_pairs(space)
    for src, tgt in pairs:
        if src == tgt:
            raise InputError(f"Translation pair {src}-{tgt}: source and target are the same language.")
    languages = check_languages(space, [code for pair in pairs for code in pair], SUITE)
    pairs = [(check_languages(space, [s], SUITE)[0], check_languages(space, [t], SUITE)[0]) for s, t in pairs]
    clock.stage("build item sets")
    texts = concept_texts(languages, _emoji_subset(emoji_limit), words, countries)
    empty = [lang for lang in languages if not any(texts[lang].concepts)]
    if empty:
        raise UnsupportedError(f"No country, language or emoji names in {', '.join(empty)}: neither babel (CLDR) nor "
                               "the emoji package has that language, so there is nothing to translate.")
    clock.stage("embed")
    vectors = {lang: embed_texts_cached(space, texts[lang].texts, progress=progress) for lang in languages}
    clock.stage("score")
    directions = {f"{src}-{tgt}": translate_pair(vectors, texts, src, tgt) for src, tgt in pairs}
    counts = {"languages": {lang: {"texts": len(t.texts), **t.counts()} for lang, t in texts.items()},
              "pairs": {d: {k: r[k] for k in ("pairs", "identical_text", "target_pool", "target_names")}
                        for d, r in directions.items()}}
    figures = {"directions": {d: {"precision": r["precision"],
                                  "precision_spelled_differently": r["precision_spelled_differently"],
                                  "by_label": r["by_label"]}
                              for d, r in directions.items()},
               "mean": _mean_over(directions)}
    config = {"pairs": [f"{s}-{t}" for s, t in pairs], "words": words, "emoji_limit": emoji_limit,
              "countries": list(countries) if countries else "all", "ks": list(KS), "methods": list(METHODS)}
    command = command or f"embedspace eval translation --space '{space.canonical}' --pairs " + \
        ",".join(f"{s}:{t}" for s, t in pairs) + (f" --words {words}" if words != 3000 else "") + \
        (f" --emoji-limit {emoji_limit}" if emoji_limit else "")
    notes = ["Correct: any target text naming the same concept. Pool: every target-language text (names and "
             f"{words:,} frequent words as distractors). 'identical_text' pairs are spelled the same in both "
             "languages (mostly names)."]
    return record(SUITE, space, config, counts, figures, clock, command, notes, load_before)


def _emoji_subset(limit):
    if limit is None:
        return None
    from ..demo import DemoOptions, select_emoji

    return select_emoji(DemoOptions(emoji_limit=limit))


def _mean_over(directions: dict) -> dict:
    """Unweighted mean precision over the directions (each direction counts once)."""
    out = {}
    for method in METHODS:
        values = [r["precision"][method] for r in directions.values() if method in r["precision"]]
        if values:
            out[method] = {k: round(sum(v[k] for v in values) / len(values), 4) for k in values[0]}
    return out


def config_key(config: dict) -> str:
    key = f"words={config['words']}"
    if config.get("emoji_limit"):
        key += f" emoji_limit={config['emoji_limit']}"
    if config.get("countries", "all") != "all":
        key += f" countries={len(config['countries'])}"
    return key


def format_text(result: dict) -> str:
    from .common import format_seconds, percent

    counts, figures = result["counts"], result["figures"]
    lines = [f"translation  {result['space_id']}",
             "  texts per language: " + ", ".join(f"{lang} {c['texts']:,}" for lang, c in counts["languages"].items()),
             f"  {'direction':<14}{'pairs':>7}{'same':>6}{'pool':>7}   "
             f"{'NN P@1':>8}{'NN P@5':>8}{'CSLS P@1':>10}{'CSLS P@5':>10}"]
    for direction, result_ in figures["directions"].items():
        c, p = counts["pairs"][direction], result_["precision"]
        lines.append(f"  {direction:<14}{c['pairs']:>7,}{c['identical_text']:>6,}{c['target_pool']:>7,}   "
                     f"{percent(p['nn']['p@1']) if p else '-':>8}{percent(p['nn']['p@5']) if p else '-':>8}"
                     f"{percent(p['csls']['p@1']) if p else '-':>10}{percent(p['csls']['p@5']) if p else '-':>10}")
    mean = figures["mean"]
    if mean:
        lines.append(f"  {'mean':<37}{percent(mean['nn']['p@1']):>8}{percent(mean['nn']['p@5']):>8}"
                     f"{percent(mean['csls']['p@1']):>10}{percent(mean['csls']['p@5']):>10}")
    lines.append("  (same: pairs spelled identically in both languages; pool: target texts incl. distractor words)")
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)
