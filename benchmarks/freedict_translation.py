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
from embedspace.maps.text_map import concept_pairs, procrustes
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
    return figures(translate_pair(mapped, scored, src, "en"))


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


def run_direction(space, folder: Path, lang: str, words: int, refine_words: int, refine_steps: int) -> dict:
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dictionaries", default="benchmarks/results/freedict")
    parser.add_argument("--languages", default="de,fr,it,pt,nl,ja,pl,tr,ar,ru")
    parser.add_argument("--space", default="use-m3")
    parser.add_argument("--words", type=int, default=3000)
    parser.add_argument("--refine-words", type=int, default=5000)
    parser.add_argument("--refine-steps", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/freedict_translation.json")
    args = parser.parse_args(argv)
    space = load_space(args.space)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.is_file() else {}
    report.update({"space": space.canonical, "command": " ".join(["python", *sys.argv]),
                   "load_before": os.getloadavg()[0]})
    report.setdefault("directions", {})
    for lang in args.languages.split(","):
        result = run_direction(space, Path(args.dictionaries), lang, args.words, args.refine_words, args.refine_steps)
        report["directions"][f"{lang}-en"] = result
        print(lang, json.dumps({h: {m: v["csls"]["p@1"] for m, v in result[h].items()}
                                for h in ("dev", "test")}), flush=True)
        out.write_text(json.dumps(report, indent=1) + "\n")
    report["load_after"] = os.getloadavg()[0]
    out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
