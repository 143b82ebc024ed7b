"""Learned image maps vs ConSE on the OpenMoji emoji: every variant tried, on the same folds.

Data: the single-codepoint emoji that OpenMoji draws (`embedspace align ... --images openmoji`),
queries = their names (English, and the other languages of use-m3 that the emoji package has).
Each variant is scored by 5 grouped folds (variants of one base emoji share a fold): a map is
fitted on 4 folds (its ridge strength chosen by inner folds of those 4) and every held-out name
queries the held-out images (the pool, ~240 images). ConSE is scored on the same pools.

    python benchmarks/image_maps.py            # writes benchmarks/results/quality.json ("image_maps")

Reproduce one row from the CLI, e.g.:
    embedspace align emoji --space use-m3 --images openmoji --languages en --query-languages es
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedspace.artifacts import save_json  # noqa: E402
from embedspace.maps.alignment import align_images, openmoji_images  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "quality.json"
QUERY_LANGS = ["en", "es", "fr", "de", "it", "pt", "ru", "ja", "zh-Hans", "ko", "ar", "tr"]
VARIANTS = [
    # (label, backbones, method, fit languages)
    ("ridge lite0, English names", ("lite0",), "ridge", ["en"]),
    ("ridge lite0+lite1, English names", ("lite0", "lite1"), "ridge", ["en"]),
    ("ridge lite0+lite1+lite2, English names", ("lite0", "lite1", "lite2"), "ridge", ["en"]),
    ("ridge lite0+lite1+lite2, names in 12 languages", ("lite0", "lite1", "lite2"), "ridge", QUERY_LANGS),
    ("contrastive head lite0+lite1+lite2, English names", ("lite0", "lite1", "lite2"), "contrastive", ["en"]),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="use-m3")
    parser.add_argument("--only", type=int, nargs="*", help="run only these variant numbers (0-based)")
    args = parser.parse_args()
    data = openmoji_images(QUERY_LANGS)
    print(f"{data.description}: {len(data.images)} images, {len(set(data.groups))} groups", flush=True)
    rows = []
    conse = None
    for number, (label, backbones, method, fit_langs) in enumerate(VARIANTS):
        if args.only is not None and number not in args.only:
            continue
        started = time.perf_counter()
        report = align_images("benchmark", args.space, None, languages=fit_langs, query_languages=QUERY_LANGS,
                              backbones=backbones, method=method, save=False, data=data)
        h = report.held_out
        conse = {lang: row["conse"] for lang, row in h["per_language"].items()}
        rows.append({"variant": label, "backbones": list(backbones), "method": method, "fit_languages": fit_langs,
                     "alpha": report.image_map.meta["alpha"],
                     "per_language": {lang: {"queries": row["queries"], **row["map"]}
                                      for lang, row in h["per_language"].items()},
                     "seconds": round(time.perf_counter() - started, 1)})
        en, es = h["per_language"]["en"]["map"], h["per_language"]["es"]["map"]
        print(f"{label:<52} en R@1 {en['recall@1']:.3f} R@10 {en['recall@10']:.3f} | es R@1 {es['recall@1']:.3f} "
              f"R@10 {es['recall@10']:.3f}  ({rows[-1]['seconds']:.0f} s)", flush=True)
    print(f"{'ConSE (lite0, top-10 class names)':<52} en R@1 {conse['en']['recall@1']:.3f} R@10 "
          f"{conse['en']['recall@10']:.3f} | es R@1 {conse['es']['recall@1']:.3f} R@10 {conse['es']['recall@10']:.3f}")
    entry = {
        "space": args.space, "data": data.description, "images": len(data.images), "groups": len(set(data.groups)),
        "folds": 5, "pool": h["pool"], "conse": conse, "variants": rows,
        "not_tried": "augmentation of the rendered images (shifts, scales, backgrounds); a small MLP head",
        "command": "python benchmarks/image_maps.py", "machine": f"{platform.machine()}, {platform.processor() or ''}"
        f" 2 cores", "date": time.strftime("%Y-%m-%d"),
    }
    merge_result("image_maps", entry)
    print(f"saved {RESULTS} (image_maps)")


def merge_result(key: str, entry: dict) -> None:
    """Replace one top-level entry of quality.json, keeping the others."""
    from embedspace.evaluation import read_results

    results = read_results(RESULTS)
    results[key] = entry
    save_json(RESULTS, results)


if __name__ == "__main__":
    main()
