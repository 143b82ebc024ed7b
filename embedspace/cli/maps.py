"""`embedspace align`, `align-text`, `mine`: learned maps and bitext mining."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from ..errors import InputError
from ..languages import normalize_lang
from ..maps.alignment import align_images
from ..maps.mining import DEFAULT_THRESHOLD, mine_texts, mining_quality
from ..maps.text_map import align_text, concept_pairs, read_pairs
from ..spaces.image_map import NeighbourPart


def _split_codes(text):
    return [code.strip() for code in text.split(",") if code.strip()] if text else None


def _neighbour_part(args):
    """The nearest-training-images part `align --neighbours K` asks for, or None."""
    if args.neighbours is None:
        return None
    part = NeighbourPart(k=args.neighbours, temperature=args.temperature, ridge_weight=args.ridge_weight)
    part.check()
    return part


def cmd_align(args) -> int:
    if args.index_dir:
        os.environ["EMBEDSPACE_INDEX_DIR"] = args.index_dir
    report = align_images(args.name, args.space, args.images, args.labels_from, args.caption_column, args.lang_column,
                          _split_codes(args.languages), _split_codes(args.query_languages),
                          tuple(_split_codes(args.backbones)), args.method, args.folds, args.output,
                          progress=not args.json,
                          cross_style=[d.strip() for d in (args.cross_style or "").split(",") if d.strip()],
                          alpha=args.alpha, neighbours=_neighbour_part(args))
    if args.json:
        print(json.dumps({"map": str(report.map_path), "held_out": report.held_out,
                          "training": report.image_map.meta["training"],
                          "cross_style": report.cross_style, "seconds": round(report.seconds, 1)}, indent=2))
    else:
        print(report.summary())
    return 0


def cmd_align_text(args) -> int:
    if args.index_dir:
        os.environ["EMBEDSPACE_INDEX_DIR"] = args.index_dir

    pairs = concept_pairs(normalize_lang(args.from_), normalize_lang(args.to)) if args.pairs == "concepts" \
        else read_pairs(args.pairs)
    words = read_pairs(args.words_dictionary) if args.words_dictionary else None
    report = align_text(args.space, pairs, args.from_, args.to, words=words)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _print_figures(f"{report['pairs']} pairs ({report['train_pairs']} to fit), {report['held_out_sources']} held-out "
                   f"source words over a pool of {report['pool']} targets:", report)
    print(f"The map {'helps' if report['helps'] else 'does not help'} on the held-out seed pairs.")
    words = report["words"]
    if words is None:
        use = ("not applied by `translate`: it was not checked on words (give --words-dictionary FILE; "
               "a map fitted on names was measured to lower P@1 on words in 8 of 10 directions)")
    else:
        _print_figures(f"Words ({args.words_dictionary}): {words['held_out_sources']} source words the map was not "
                       f"fitted on, over a pool of {words['pool']} targets:", words)
        use = "applied by `translate`" if words["helps"] else "not applied by `translate`: it does not help words"
    print(f"Saved {report['path']}; {use}.")
    return 0


def _print_figures(title: str, figures: dict) -> None:
    print(title)
    for method in ("nn", "csls"):
        plain, mapped = figures[f"{method}_plain"], figures[f"{method}_mapped"]
        print(f"  {method:<5} P@1 {plain['P@1']:.3f} -> {mapped['P@1']:.3f} with the map   "
              f"P@5 {plain['P@5']:.3f} -> {mapped['P@5']:.3f}")


def cmd_mine(args) -> int:
    sides = []
    for path in (args.source_a, args.source_b):
        if not Path(path).is_file():
            raise InputError(f"No text file at {path}: give one sentence per line.")
        sides.append(Path(path).read_text(encoding="utf-8").splitlines())
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    floor = min(threshold, 1.0) if args.gold else threshold
    pairs = mine_texts(args.space, sides[0], sides[1], floor)
    for pair in pairs:
        if pair.score < threshold:
            continue
        if args.json:
            print(json.dumps({"score": round(pair.score, 4), "source": pair.source, "target": pair.target},
                             ensure_ascii=False))
        else:
            print(f"{pair.score:.4f}\t{pair.source}\t{pair.target}")
    if args.gold:
        gold = set(read_pairs(args.gold))
        for row in mining_quality(pairs, gold):
            print(json.dumps(row) if args.json else
                  f"# threshold {row['threshold']:.2f}: {row['mined']} mined, precision {row['precision']:.3f}, "
                  f"recall {row['recall']:.3f}, F1 {row['f1']:.3f}", file=sys.stderr)
    return 0
