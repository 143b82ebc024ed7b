"""Word translation X -> English on FreeDict's general vocabulary: raw use-m3 vs maps, dev and test.

    python benchmarks/freedict_setup.py                       # first: the dictionaries
    python benchmarks/freedict_translation.py                 # every direction; ~minutes once cached
    python benchmarks/freedict_translation.py --languages de,fr --refine-words 5000

For each direction X-en and each half (dev, test; benchmarks/freedict_setup.py), in one run:

* ``raw``: use-m3 as `embedspace translate` ranks (evaluation.translation.translate_pair: NN and
  CSLS P@1/P@5; pool = every English target of the half + --words frequent English words; CSLS's
  source side = the half's sources + --words frequent X words).
* ``dict_map``: Procrustes fitted on dictionary seed pairs of the DEV half. On dev it is scored
  by 2-fold cross-fitting (fit on the sources of one fold, score the other, by source word, so no
  scored source was seen); on test, fitted on the whole dev half.
* ``names_map``: Procrustes on the demo's names (text_map.concept_pairs: what `align-text --pairs
  concepts` fits), applied as is.
* ``refined``: MUSE's unsupervised refinement, no dictionary: start from the identity; take the
  mutual nearest neighbours by CSLS between the --refine-words most frequent words of X and of
  English (wordfreq), fit Procrustes on them, repeat --refine-steps times.

A map W is applied to every X-side vector (queries and CSLS's source side), as translate does.
Writes benchmarks/results/freedict_translation.json. Choices are read off the dev rows only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from embedspace.data.words import word_records
from embedspace.evaluation.translation import dictionary_texts, read_dictionary, translate_pair
from embedspace.maps.rerank import (
    BASE_FORM_WEIGHT,
    FREQUENCY_WEIGHT,
    RERANK_CANDIDATES,
    SPELLING_WEIGHT,
    WORD_CLASS_AGREE_WEIGHT,
    WORD_CLASS_CONFLICT_WEIGHT,
    WORD_CLASS_LANGUAGES,
    frequency_feature,
    inflection_feature,
    rerank_order,
    spelling_similarity,
)
from embedspace.maps.text_map import concept_pairs, procrustes
from embedspace.maps.word_class import class_fit
from embedspace.spaces.cache import embed_texts_cached
from embedspace.spaces.registry import load_space
from embedspace.vectors import csls_scores, l2_normalize, mean_top_k


def figures(result: dict) -> dict:
    return {"sources": result["pairs"], "pool": result["target_pool"], **result["precision"]}


def evaluate(vectors: dict, texts: dict, src: str, weight=None, sources=None) -> dict:
    """translate_pair with the X side mapped by weight; sources: score only these source words."""
    mapped = dict(vectors)
    if weight is not None:
        mapped[src] = l2_normalize(vectors[src] @ weight)
    scored = texts
    if sources is not None:
        source_texts = texts[src]
        keep = [c if t in sources else frozenset() for t, c in zip(source_texts.texts, source_texts.concepts)]
        scored = dict(texts)
        scored[src] = type(source_texts)(src, list(source_texts.texts), keep, list(source_texts.labels))
    return figures(translate_pair(mapped, scored, src, "en", methods=("nn", "csls")))  # the default: feature_grid


def csls_grid(vectors: dict, texts: dict, src: str, ks=(5, 10, 20, 50), weight=None) -> dict:
    """CSLS P@1/P@5 for each neighbourhood size k, plain and centred (each language's mean vector
    subtracted, then unit length again), over full score matrices (exact, no candidate cut)."""
    from embedspace.evaluation.common import gold_matrix

    source, target = texts[src], texts["en"]
    gold = gold_matrix(source.concepts, target.concepts)
    queries = [i for i, g in enumerate(gold) if g]
    out = {}
    for centred in (False, True):
        x, y = vectors[src] @ weight if weight is not None else vectors[src], vectors["en"]
        if centred:
            x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        x, y = l2_normalize(x), l2_normalize(y)
        cos = x[queries] @ y.T
        back = y @ x.T  # r_S over the whole source side
        for k in ks:
            scores = csls_scores(cos, mean_top_k(cos, k), mean_top_k(back, k)[None, :])
            top = np.argsort(-scores, axis=1)[:, :5]
            hits = [[bool(set(row[:n]) & set(gold[q])) for q, row in zip(queries, top)] for n in (1, 5)]
            out[f"k={k}{' centred' if centred else ''}"] = {"p@1": round(float(np.mean(hits[0])), 4),
                                                              "p@5": round(float(np.mean(hits[1])), 4)}
    return out


RERANK_WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def csls_candidates(vectors: dict, texts: dict, src: str, candidates: int):
    """(source texts, target texts, gold, query positions, the top `candidates` target positions by
    CSLS, their CSLS scores) of a direction into English, as the re-ranking grids start from."""
    from embedspace.evaluation.common import gold_matrix

    source, target = texts[src], texts["en"]
    gold = gold_matrix(source.concepts, target.concepts)
    queries = [i for i, g in enumerate(gold) if g]
    x, y = vectors[src], vectors["en"]
    cos = x[queries] @ y.T
    scores = csls_scores(cos, mean_top_k(cos), mean_top_k(y @ x.T)[None, :])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :candidates]
    return source, target, gold, queries, top, np.take_along_axis(scores, top, axis=1)


def rerank_grid(second, vectors: dict, texts: dict, src: str, candidates: int = 10) -> dict:
    """Re-rank use-m3's CSLS top `candidates` by CSLS + w * cosine in a second space (e5-small,
    'query: ' on both sides), for each w of RERANK_WEIGHTS. Only the queries and the candidates
    are embedded in the second space."""
    source, target, gold, queries, top, first = csls_candidates(vectors, texts, src, candidates)
    rows = sorted(set(top.ravel().tolist()))
    where = {r: i for i, r in enumerate(rows)}
    qv = embed_texts_cached(second, [source.texts[q] for q in queries], role="query")
    tv = embed_texts_cached(second, [target.texts[r] for r in rows], role="query")
    second_cos = np.einsum("qd,qcd->qc", qv, tv[np.vectorize(where.get)(top)])
    out = {}
    for w in RERANK_WEIGHTS:
        order = rerank_order(first, second_cos, w)
        ranked = np.take_along_axis(top, order, axis=1)
        hits = [[bool(set(row[:n].tolist()) & set(gold[q])) for q, row in zip(queries, ranked)] for n in (1, 5)]
        out[f"w={w}"] = {"p@1": round(float(np.mean(hits[0])), 4), "p@5": round(float(np.mean(hits[1])), 4)}
    return out


SPELLING_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
FREQUENCY_WEIGHTS = (0.0, 0.005, 0.01, 0.015, 0.02, 0.03)
# The second stage (added 2026-12-02, on top of the (spelling, frequency) chosen by the first):
BASE_FORM_WEIGHTS = (0.0, 0.01, 0.02, 0.03, 0.035, 0.04, 0.045, 0.05, 0.08, 0.1, 0.2)
# The third stage (added 2026-12-02, tenth session, on top of translate's (spelling, frequency, base form)):
# word class from endings, (conflict, agreement) weights; measured where the source has an ending table.
WORD_CLASS_WEIGHTS = (0.0, 0.03, 0.05, 0.08, 0.12, 0.2)


def feature_key(spelling: float, frequency: float, base_form: float = 0.0, word_class=(0.0, 0.0)) -> str:
    key = f"spelling={spelling:g} frequency={frequency:g}"
    key = f"{key} base-form={base_form:g}" if base_form else key
    return f"{key} word-class={word_class[0]:g}/{word_class[1]:g}" if any(word_class) else key


BASE_FEATURES = feature_key(SPELLING_WEIGHT, FREQUENCY_WEIGHT, BASE_FORM_WEIGHT)  # the third stage's reference
# what `translate` does by default (the word-class term is 0 for a source without an ending table)
DEFAULT_FEATURES = feature_key(SPELLING_WEIGHT, FREQUENCY_WEIGHT, BASE_FORM_WEIGHT,
                               (WORD_CLASS_CONFLICT_WEIGHT, WORD_CLASS_AGREE_WEIGHT))


def feature_grid(vectors: dict, texts: dict, src: str) -> dict:
    """Re-rank use-m3's CSLS top RERANK_CANDIDATES by CSLS + s x spelling similarity + f x frequency
    - b x inflection - w x word-class conflict + a x word-class agreement (embedspace/maps/rerank.py's
    terms, the ones `translate` adds by default): every (s, f) of the grid without b, every b of
    BASE_FORM_WEIGHTS on top of translate's own (s, f), and every (w, a) of WORD_CLASS_WEIGHTS on top of
    translate's own (s, f, b) (0 where src has no ending table, so those equal BASE_FEATURES there).
    No second model: the terms come from the texts and wordfreq."""
    source, target, gold, queries, top, first = csls_candidates(vectors, texts, src, RERANK_CANDIDATES)
    first = first.astype(np.float64)
    candidates = [[target.texts[j] for j in row] for row in top]
    spelling = np.array([[spelling_similarity(source.texts[q], c) for c in row] for q, row in zip(queries, candidates)])
    frequency = np.array([frequency_feature(row, "en") for row in candidates])
    inflected = np.array([inflection_feature(row) for row in candidates])
    fits = [class_fit(source.texts[q], src, row) for q, row in zip(queries, candidates)]  # 0 without a table
    conflict, agree = (np.array([fit[i] for fit in fits]) for i in (0, 1))
    settings = [(s, f, 0.0, (0.0, 0.0)) for s in SPELLING_WEIGHTS for f in FREQUENCY_WEIGHTS]
    settings += [(SPELLING_WEIGHT, FREQUENCY_WEIGHT, b, (0.0, 0.0)) for b in BASE_FORM_WEIGHTS if b]
    settings += [(SPELLING_WEIGHT, FREQUENCY_WEIGHT, BASE_FORM_WEIGHT, (w, a))
                 for w in WORD_CLASS_WEIGHTS for a in WORD_CLASS_WEIGHTS if w or a]
    out = {}
    for s, f, b, (w, a) in settings:
        terms = s * spelling + f * frequency - b * inflected - w * conflict + a * agree
        ranked = np.take_along_axis(top, rerank_order(first, terms, 1.0), axis=1)
        hits = [[bool(set(row[:n].tolist()) & set(gold[q])) for q, row in zip(queries, ranked)] for n in (1, 5)]
        out[feature_key(s, f, b, (w, a))] = {"p@1": round(float(np.mean(hits[0])), 4),
                                             "p@5": round(float(np.mean(hits[1])), 4), "sources": len(queries)}
    return out


SCRIPT_GROUPS = {"Latin": ("de", "fr", "it", "pt", "nl", "pl", "tr"), "other scripts": ("ja", "ar", "ru")}


def choose_features(report: dict) -> dict:
    """The rule, on DEV halves only, in two stages. First: among the (spelling, frequency) grid points,
    the one with the highest mean dev P@1 over the directions among those that lower no direction's
    dev P@1 below raw CSLS by more than its standard error sqrt(p(1-p)/n); then, per script group, on
    by default when the group's mean dev P@1 rises and no direction in it falls by more than its
    standard error. Second (added later, the same rule): the base-form weight on top of the (spelling,
    frequency) that `translate` uses, measured against that setting. Third (added later, the same rule,
    on the directions whose source has an ending table only): the word-class weights on top of the
    (spelling, frequency, base form) that `translate` uses. Test figures are only reported beside it."""
    dev = {d.split("-")[0]: r["dev"]["features"] for d, r in report["directions"].items() if "features" in r["dev"]}
    grid = next(iter(dev.values()))
    first = _choose(dev, [k for k in grid if "base-form" not in k], feature_key(0.0, 0.0))
    reference = feature_key(SPELLING_WEIGHT, FREQUENCY_WEIGHT)
    second = _choose(dev, [reference, *(k for k in grid if k.startswith(reference + " base-form")
                                        and "word-class" not in k)], reference)
    with_table = {lang: grid for lang, grid in dev.items() if lang in WORD_CLASS_LANGUAGES}
    third = _choose(with_table, [BASE_FEATURES, *(k for k in grid if k.startswith(BASE_FEATURES + " word-class"))],
                    BASE_FEATURES) if with_table else None
    return {**first, "default_in_translate": DEFAULT_FEATURES, "base_form": second, "word_class": third}


def _choose(dev: dict, keys: list, reference: str) -> dict:
    """choose_features' rule over `keys`, each measured against `reference` on the dev halves."""
    def deltas(key):
        return {lang: grid[key]["p@1"] - grid[reference]["p@1"] for lang, grid in dev.items()}

    def standard_error(lang):
        p, n = dev[lang][reference]["p@1"], dev[lang][reference]["sources"]
        return (p * (1 - p) / n) ** 0.5

    def allowed(key, langs):
        return all(deltas(key)[lang] >= -standard_error(lang) for lang in langs)

    chosen = max((k for k in keys if allowed(k, dev)),
                 key=lambda k: (round(float(np.mean(list(deltas(k).values()))), 6), k == reference))
    groups = {}
    for group, langs in SCRIPT_GROUPS.items():
        langs = [lang for lang in langs if lang in dev]
        if langs:
            mean = float(np.mean([deltas(chosen)[lang] for lang in langs]))
            groups[group] = {"directions": langs, "mean_dev_delta": round(mean, 4),
                             "on": bool(mean > 0 and allowed(chosen, langs))}
    return {"chosen_on_dev": chosen, "measured_against": reference,
            "mean_dev_delta": round(float(np.mean(list(deltas(chosen).values()))), 4),
            "dev_delta": {lang: round(v, 4) for lang, v in deltas(chosen).items()},
            "dev_standard_error": {lang: round(standard_error(lang), 4) for lang in dev}, "script_groups": groups}


def fit_on_pairs(space, pairs) -> np.ndarray:
    sources, targets = zip(*pairs)
    return procrustes(embed_texts_cached(space, list(sources)), embed_texts_cached(space, list(targets)))


def refine(space, src: str, words: int, steps: int) -> tuple[np.ndarray, list]:
    """MUSE's refinement from the identity: mutual CSLS nearest neighbours -> Procrustes, repeated."""
    source_words = [r["text"] for r in word_records([src], words)]
    english = [r["text"] for r in word_records(["en"], words)]
    x, y = embed_texts_cached(space, source_words), embed_texts_cached(space, english)
    weight, trace = np.eye(x.shape[1], dtype=np.float32), []
    for _ in range(steps):
        mx = l2_normalize(x @ weight)
        cos = mx @ y.T
        scores = csls_scores(cos, mean_top_k(cos), mean_top_k(cos.T)[None, :])
        forward, backward = scores.argmax(axis=1), scores.argmax(axis=0)
        mutual = [(i, j) for i, j in enumerate(forward) if backward[j] == i]
        weight = procrustes(x[[i for i, _ in mutual]], y[[j for _, j in mutual]])
        trace.append(len(mutual))
    return weight, trace


def halves_of(folder: Path, lang: str) -> dict:
    return {half: folder / f"{lang}-en.{half}.txt" for half in ("dev", "test")
            if (folder / f"{lang}-en.{half}.txt").stat().st_size}


def run_direction(space, folder: Path, lang: str, words: int, refine_words: int, refine_steps: int,
                  second=None) -> dict:
    started = time.time()
    files = halves_of(folder, lang)
    dictionaries = {half: read_dictionary(path) for half, path in files.items()}
    dev_pairs = dictionaries["dev"].pairs
    dev_sources = sorted({s for s, _ in dev_pairs})
    folds = [set(dev_sources[0::2]), set(dev_sources[1::2])]
    names = concept_pairs(lang, "en")
    maps = {"names_map": fit_on_pairs(space, names) if len(names) >= 10 else None}
    maps["refined"], trace = refine(space, lang, refine_words, refine_steps)
    maps["dict_map"] = fit_on_pairs(space, dev_pairs)
    out = {"names_pairs": len(names), "refine_mutual_pairs": trace, "dev_seed_pairs": len(dev_pairs)}
    for half, read in dictionaries.items():
        texts = dictionary_texts(read, lang, "en", words)
        vectors = {code: embed_texts_cached(space, texts[code].texts) for code in (lang, "en")}
        row = {"raw": evaluate(vectors, texts, lang)}
        row["csls_settings"] = csls_grid(vectors, texts, lang)
        row["csls_settings_refined"] = csls_grid(vectors, texts, lang, weight=maps["refined"])
        row["features"] = feature_grid(vectors, texts, lang)
        if second is not None:
            row["rerank_" + second.canonical] = rerank_grid(second, vectors, texts, lang)
        for name in ("names_map", "refined"):
            if maps[name] is not None:
                row[name] = evaluate(vectors, texts, lang, maps[name])
        if half == "dev":  # 2-fold cross-fitting: never score a source the map was fitted on
            parts = []
            for fit_fold, score_fold in ((0, 1), (1, 0)):
                weight = fit_on_pairs(space, [p for p in dev_pairs if p[0] in folds[fit_fold]])
                parts.append(evaluate(vectors, texts, lang, weight, folds[score_fold]))
            row["dict_map"] = merge_folds(parts)
            row["raw_folds"] = merge_folds([evaluate(vectors, texts, lang, None, f) for f in folds])
        else:
            row["dict_map"] = evaluate(vectors, texts, lang, maps["dict_map"])
        out[half] = row
    out["seconds"] = round(time.time() - started, 1)
    return out


def merge_folds(parts: list) -> dict:
    """Source-weighted mean of the folds' precision."""
    total = sum(p["sources"] for p in parts)
    merged = {"sources": total, "pool": parts[0]["pool"]}
    for method in ("nn", "csls"):
        merged[method] = {k: round(sum(p[method][k] * p["sources"] for p in parts) / total, 4)
                          for k in parts[0][method]}
    return merged


def table(report: dict) -> str:
    """Markdown: per direction and half, sources, pool, raw NN/CSLS P@1/P@5 and each map's CSLS P@1."""
    lines = ["| direction | half | sources | pool | NN P@1 | NN P@5 | CSLS P@1 | CSLS P@5 | names map | dict map | refined |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for direction, result in report["directions"].items():
        for half in ("dev", "test"):
            row = result[half]
            raw = row["raw"]
            maps = [f"{row[m]['csls']['p@1']:.3f}" if m in row else "-" for m in ("names_map", "dict_map", "refined")]
            lines.append(f"| {direction} | {half} | {raw['sources']:,} | {raw['pool']:,} | {raw['nn']['p@1']:.3f} | "
                         f"{raw['nn']['p@5']:.3f} | {raw['csls']['p@1']:.3f} | {raw['csls']['p@5']:.3f} | "
                         + " | ".join(maps) + " |")
    return "\n".join(lines)


def candidates_of(row: dict) -> dict:
    """Every setting's CSLS P@1 in one half's row: name -> p@1 (raw = use-m3 CSLS k=10, as translate)."""
    out = {"raw": row["raw"]["csls"]["p@1"]}
    out.update({m: row[m]["csls"]["p@1"] for m in ("names_map", "dict_map", "refined") if m in row})
    out.update({f"csls {k}": v["p@1"] for k, v in row.get("csls_settings", {}).items()})
    out.update({f"refined + csls {k}": v["p@1"] for k, v in row.get("csls_settings_refined", {}).items()})
    for key, grid in row.items():
        if key.startswith("rerank_"):
            out.update({f"rerank e5-small {w}": v["p@1"] for w, v in grid.items()})
    return out


def choices(report: dict) -> str:
    """Markdown: per direction, the setting with the best DEV P@1 (raw unless one beats it), and its
    TEST P@1 beside raw's, both from the same run."""
    lines = ["| direction | chosen on dev | dev P@1 (raw) | test P@1 (raw) |", "|---|---|--:|--:|"]
    for direction, result in report["directions"].items():
        dev, test = candidates_of(result["dev"]), candidates_of(result["test"])
        best = max(dev, key=lambda name: (dev[name], name == "raw"))
        lines.append(f"| {direction} | {best} | {dev[best]:.3f} ({dev['raw']:.3f}) | "
                     f"{test.get(best, float('nan')):.3f} ({test['raw']:.3f}) |")
    return "\n".join(lines)


def default_table(report: dict) -> str:
    """Markdown: per direction, raw use-m3 CSLS vs `translate`'s default re-ranking, dev and test
    P@1/P@5, all from the same run."""
    base = feature_key(0.0, 0.0)
    lines = ["| direction | sources dev / test | dev P@1 raw -> default | dev P@5 raw -> default | "
             "test P@1 raw -> default | test P@5 raw -> default |", "|---|--:|--:|--:|--:|--:|"]
    means = {h: [] for h in ("dev", "test")}
    for direction, result in report["directions"].items():
        if "features" not in result["dev"]:
            continue
        cells = []
        for half in ("dev", "test"):
            grid = result[half]["features"]
            means[half].append(grid[DEFAULT_FEATURES]["p@1"] - grid[base]["p@1"])
            cells += [f"{grid[base][m]:.3f} -> {grid[DEFAULT_FEATURES][m]:.3f}" for m in ("p@1", "p@5")]
        sources = f"{result['dev']['features'][base]['sources']:,} / {result['test']['features'][base]['sources']:,}"
        lines.append(f"| {direction} | {sources} | " + " | ".join(cells) + " |")
    lines.append(f"| mean change of P@1 | | {np.mean(means['dev']) * 100:+.2f} pt | | {np.mean(means['test']) * 100:+.2f} pt | |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dictionaries", default="benchmarks/results/freedict")
    parser.add_argument("--languages", default="de,fr,it,pt,nl,ja,pl,tr,ar,ru")
    parser.add_argument("--space", default="use-m3")
    parser.add_argument("--words", type=int, default=3000)
    parser.add_argument("--refine-words", type=int, default=5000)
    parser.add_argument("--refine-steps", type=int, default=5)
    parser.add_argument("--rerank", default=None, help="a second space to re-rank the top 10 with (e5-small)")
    parser.add_argument("--out", default="benchmarks/results/freedict_translation.json")
    parser.add_argument("--table", action="store_true", help="print --out's figures as a Markdown table and stop")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.table:
        report = json.loads(out.read_text())
        print(table(report) + "\n\n" + choices(report) + "\n\n" + default_table(report))
        return 0
    space = load_space(args.space)
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.update({"space": space.canonical, "command": " ".join(["python", *sys.argv]),
                   "load_before": os.getloadavg()[0]})
    report.setdefault("directions", {})
    for lang in args.languages.split(","):
        result = run_direction(space, Path(args.dictionaries), lang, args.words, args.refine_words, args.refine_steps,
                               load_space(args.rerank) if args.rerank else None)
        report["directions"][f"{lang}-en"] = result
        print(lang, json.dumps({h: {m: v["csls"]["p@1"] for m, v in result[h].items() if "csls" in v}
                                for h in ("dev", "test")}), flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    report["feature_choice"] = choose_features(report)
    report["load_after"] = os.getloadavg()[0]
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
