"""Word and name translation by nearest neighbour: precision@1 and @5, NN vs CSLS, per direction.

Test pairs are the concepts the demo's data names in two languages: country and language names
(CLDR via babel) and emoji names (the emoji package, CLDR annotations). A source text's correct
translations are every target text that names one of its concepts (a flag's name may also be the
country's). The target pool is every text of the target language: all its names plus its frequent
words (wordfreq), which only serve as distractors: nothing aligns words across languages. Ranking
is what `embedspace translate TEXT --to TGT --from SRC --rerank none` does (the space's own ranking,
without translate's default re-ranking): CSLS's source side is every text of the source language.
A third method, "default", is what `translate` does with no option: CSLS, then for a one-word query
into English its top RERANK_CANDIDATES re-ranked by spelling and frequency (maps/rerank.py); where
that does not apply (another target language, a phrase) it is CSLS's own ranking.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..data.emoji import select_emoji
from ..data.words import word_records
from ..demo import DemoOptions
from ..errors import InputError, UnsupportedError
from ..maps.rerank import RERANK_CANDIDATES, default_rerank, space_name
from ..maps.text_map import PairFile, read_pair_file
from ..query import CSLS_CANDIDATES
from ..runtime import load_now
from ..spaces.cache import embed_texts_cached
from .common import (
    Clock,
    LanguageTexts,
    check_languages,
    concept_texts,
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

SUITE = "translation"
METHODS = ("nn", "csls", "default")
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


def translate_pair(vectors: dict, texts: dict, src: str, tgt: str, ks=KS, methods=METHODS,
                   space: str | None = "use-m3") -> dict:
    """Counts and precision@k of one direction, from per-language vectors and LanguageTexts (space: the
    catalogue name of the space they come from, for the default ranking)."""
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
    hubness = target_hubness(target_vectors, source_vectors) if {"csls", "default"} & set(methods) else None
    csls = None  # CSLS's ranking with its scores, once for "csls" and "default"
    if {"csls", "default"} & set(methods):
        csls = rank_targets(source_vectors[queries], target_vectors, "csls", max(*ks, RERANK_CANDIDATES), hubness,
                            candidates=CSLS_CANDIDATES, with_scores=True)
    for method in methods:
        if method == "default":
            ranked = default_order(*csls, [source.texts[i] for i in queries], target.texts, tgt, space, src)[:, :max(ks)]
        elif method == "csls":
            ranked = csls[0][:, :max(ks)]
        else:
            ranked = rank_targets(source_vectors[queries], target_vectors, method, max(ks), hubness,
                                  candidates=CSLS_CANDIDATES)
        hits = hits_at(ranked, gold, ks)
        result["precision"][method] = {f"p@{k}": ratio(hits[k].sum(), len(queries)) for k in ks}
        result["precision_spelled_differently"][method] = {f"p@{k}": ratio(hits[k][~same].sum(), int((~same).sum()))
                                                           for k in ks}
        for label in sorted(set(labels)):
            mine = [i for i, lab in enumerate(labels) if lab == label]
            entry = result["by_label"].setdefault(label, {"pairs": len(mine)})
            entry[method] = {f"p@{k}": ratio(hits[k][mine].sum(), len(mine)) for k in ks}
    return result


def default_order(ranked: np.ndarray, scores: np.ndarray, query_texts: list, target_texts: list, tgt: str,
                  space: str | None, src: str | None = None) -> np.ndarray:
    """CSLS's ranked positions (and their scores) re-ordered as maps/rerank.default_rerank orders them."""
    ranked = ranked.copy()
    for i, (text, row) in enumerate(zip(query_texts, ranked)):
        order, _, _ = default_rerank(text, scores[i], tgt, "csls", space, lambda row=row: [target_texts[j] for j in row],
                                     source=src)
        ranked[i] = row[order]
    return ranked


def run(space, pairs=None, words: int = 3000, emoji_limit: int | None = None, countries=None,
        dictionary=None, progress: bool = False, command: str | None = None) -> dict:
    """The translation suite on one space. pairs: [(src, tgt)]; default: default_pairs(space).
    dictionary: a MUSE-format file of src -> tgt pairs, scored instead of the demo's concepts."""
    load_before, clock = load_now(), Clock()
    if dictionary is not None and (not pairs or len(pairs) != 1):
        raise InputError("A dictionary goes one way: give its direction as one pair, e.g. --pairs es-en.")
    pairs = [tuple(p) for p in pairs] if pairs else default_pairs(space)
    for src, tgt in pairs:
        if src == tgt:
            raise InputError(f"Translation pair {src}-{tgt}: source and target are the same language.")
    languages = check_languages(space, [code for pair in pairs for code in pair], SUITE)
    pairs = [(check_languages(space, [s], SUITE)[0], check_languages(space, [t], SUITE)[0]) for s, t in pairs]
    clock.stage("build item sets")
    read = None
    if dictionary is not None:
        read = read_dictionary(dictionary)
        texts = dictionary_texts(read, *pairs[0], words)
    else:
        texts = concept_texts(languages, _emoji_subset(emoji_limit), words, countries)
    empty = [lang for lang in languages if not any(texts[lang].concepts)]
    if empty and dictionary is None:
        raise UnsupportedError(f"No country, language or emoji names in {', '.join(empty)}: neither babel (CLDR) nor "
                               "the emoji package has that language, so there is nothing to translate.")
    clock.stage("embed")
    vectors = {lang: embed_texts_cached(space, texts[lang].texts, progress=progress) for lang in languages}
    clock.stage("score")
    directions = {f"{src}-{tgt}": translate_pair(vectors, texts, src, tgt, space=space_name(space)) for src, tgt in pairs}
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
    notes = ["Correct: any target text naming the same concept. Pool: every target-language text (names and "
             f"{words:,} frequent words as distractors). 'identical_text' pairs are spelled the same in both "
             "languages (mostly names)."]
    if read is not None:
        config["dictionary"] = {"file": Path(dictionary).name, "sha256": read.checksum}
        counts["dictionary"] = {"lines": read.lines, "pairs": len(read.pairs), "sources": len({a for a, _ in read.pairs}),
                                "skipped": {reason: len(lines) for reason, lines in read.skipped.items()}}
        notes = [f"Dictionary {Path(dictionary).name}: {len(read.pairs):,} pairs; a source is right with any of its "
                 f"listed targets. Pool: every target of the dictionary and {words:,} frequent words."]
        if read.skipped:
            notes.append("Skipped lines: " + "; ".join(f"{reason} ({_line_list(lines)})"
                                                       for reason, lines in read.skipped.items()))
    command = command or f"embedspace eval translation --space '{space.canonical}' --pairs " + \
        ",".join(f"{s}:{t}" for s, t in pairs) + (f" --words {words}" if words != 3000 else "") + \
        (f" --emoji-limit {emoji_limit}" if emoji_limit else "") + \
        (f" --dictionary {dictionary}" if dictionary is not None else "")
    return record(SUITE, space, config, counts, figures, clock, command, notes, load_before)


def read_dictionary(path) -> PairFile:
    """A MUSE-format dictionary (text_map.read_pair_file): bad lines and repeated pairs are
    skipped and reported by line number; no pair at all is an error."""
    read = read_pair_file(path, "dictionary")
    pairs, seen, repeated = [], set(), []
    for number, pair in zip(_pair_lines(read), read.pairs):
        if pair in seen:
            repeated.append(number)
        else:
            seen.add(pair)
            pairs.append(pair)
    if not pairs:
        raise InputError(f"The dictionary {path} has no 'source target' line; write one pair a line "
                         "(MUSE's format; a tab between them allows phrases).")
    skipped = {**read.skipped, **({"repeated pair": repeated} if repeated else {})}
    return PairFile(pairs, read.lines, skipped, read.checksum)


def _pair_lines(read: PairFile) -> list:
    """The line number of each of read.pairs: the lines not skipped, in order."""
    skipped = {n for numbers in read.skipped.values() for n in numbers}
    return [n for n in range(1, read.lines + 1) if n not in skipped]


def dictionary_texts(dictionary: PairFile, src: str, tgt: str, words: int) -> dict:
    """LanguageTexts of both sides: a source's concept is itself; each of its targets names it."""

    rows = [row for a, b in dictionary.pairs for row in
            ({"text": a, "lang": src, "concept": f"source:{a}", "label": "dictionary"},
             {"text": b, "lang": tgt, "concept": f"source:{a}", "label": "dictionary"})]
    grouped = group_texts(rows + word_records([src, tgt], words))
    return {lang: grouped.get(lang, LanguageTexts(lang)) for lang in (src, tgt)}


def _line_list(numbers: list) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return f"line {shown}" + (f" and {len(numbers) - 10:,} more" if len(numbers) > 10 else "")


def _emoji_subset(limit):
    if limit is None:
        return None

    return select_emoji(DemoOptions(emoji_limit=limit))


def _mean_over(directions: dict) -> dict:
    """Unweighted mean precision over the directions (each direction counts once)."""
    means = {method: mean_figures([r["precision"][method] for r in directions.values() if method in r["precision"]])
             for method in METHODS}
    return {method: mean for method, mean in means.items() if mean}


def config_key(config: dict) -> str:
    key = f"words={config['words']}"
    if config.get("dictionary"):
        key += f" dictionary={config['dictionary']['file']}:{config['dictionary']['sha256'][:12]}"
    if config.get("emoji_limit"):
        key += f" emoji_limit={config['emoji_limit']}"
    if config.get("countries", "all") != "all":
        key += f" countries={len(config['countries'])}"
    return key


COLUMNS = {"nn": "NN", "csls": "CSLS", "default": "default"}


def _precision_cells(precision: dict) -> str:
    return "".join(f"{percent(precision[m][f'p@{k}']) if m in precision else '-':>{len(name) + 6}}"
                   for m, name in COLUMNS.items() for k in KS)


def format_text(result: dict) -> str:
    counts, figures = result["counts"], result["figures"]
    lines = [f"translation  {result['space_id']}",
             "  texts per language: " + ", ".join(f"{lang} {c['texts']:,}" for lang, c in counts["languages"].items()),
             *([f"  dictionary {result['config']['dictionary']['file']}: {counts['dictionary']['pairs']:,} pairs, "
                f"{counts['dictionary']['sources']:,} sources; skipped: "
                + (", ".join(f"{n} {r}" for r, n in counts['dictionary']['skipped'].items()) or "none")]
               if "dictionary" in counts else []),
             f"  {'direction':<14}{'pairs':>7}{'same':>6}{'pool':>7}   "
             + "".join(f"{name + ' P@' + str(k):>{len(name) + 6}}" for name in COLUMNS.values() for k in KS)]
    for direction, result_ in figures["directions"].items():
        c, p = counts["pairs"][direction], result_["precision"]
        lines.append(f"  {direction:<14}{c['pairs']:>7,}{c['identical_text']:>6,}{c['target_pool']:>7,}   "
                     + _precision_cells(p))
    if figures["mean"]:
        lines.append(f"  {'mean':<37}" + _precision_cells(figures["mean"]))
    lines.append("  (same: pairs spelled identically in both languages; pool: target texts incl. distractor words)")
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)
