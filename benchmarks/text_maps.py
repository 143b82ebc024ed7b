"""Text maps (`align-text`) and bitext mining (`mine`) on the demo's shared concepts.

Seed pairs: country, language and emoji names (CLDR via babel and the emoji package) that share
a concept in both languages. `align-text` holds out 20% of the source words, fits an orthogonal
Procrustes map on the rest and reports P@1/@5 with NN and CSLS, with and without the map, over a
pool of every target name. Mining: the Spanish and English country and language names, each side
shuffled, 1,000 frequent words of each language added as sentences with no pair; precision and
recall of the ratio-margin miner at several thresholds.

    python benchmarks/text_maps.py          # writes benchmarks/results/quality.json ("text_maps", "mining")
"""

from __future__ import annotations

import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from image_maps import merge_result  # noqa: E402

from embedspace import demo  # noqa: E402
from embedspace.maps.mining import mine, mining_quality  # noqa: E402
from embedspace.maps.text_map import align_text, concept_pairs  # noqa: E402
from embedspace.spaces.registry import load_space  # noqa: E402

DIRECTIONS = [("es", "en"), ("en", "es"), ("de", "en"), ("fr", "en"), ("ja", "en"), ("zh-Hans", "en"), ("ru", "en"),
              ("ar", "en")]


def main(space_spec: str = "use-m3", only: str = "") -> None:
    import os

    os.environ.setdefault("EMBEDSPACE_MAP_DIR", tempfile.mkdtemp(prefix="text-maps-"))  # not the user's maps
    started = time.perf_counter()
    rows = []
    for source, target in ([] if only == "mining" else DIRECTIONS):
        report = align_text(space_spec, concept_pairs(source, target), source, target, save=False)
        rows.append(report)
        print(f"{source}->{target}: {report['pairs']} pairs, {report['held_out_sources']} held out, pool "
              f"{report['pool']}: NN P@1 {report['nn_plain']['P@1']:.3f} -> {report['nn_mapped']['P@1']:.3f}, "
              f"CSLS P@1 {report['csls_plain']['P@1']:.3f} -> {report['csls_mapped']['P@1']:.3f}", flush=True)
    if only != "mining":
        merge_result("text_maps", {"space": space_spec, "directions": rows, "held_out_share": 0.2,
                                   "command": "python benchmarks/text_maps.py", "date": time.strftime("%Y-%m-%d"),
                                   "seconds": round(time.perf_counter() - started, 1)})

    space = load_space(space_spec)
    by = {}
    for row in demo.babel_records(["es", "en"]):
        by.setdefault(row["concept"], {})[row["lang"]] = row["text"]
    gold = {(v["es"], v["en"]) for v in by.values() if "es" in v and "en" in v}
    sources = sorted({s for s, _ in gold} | {r["text"] for r in demo.word_records(["es"], 1000)})
    targets = sorted({t for _, t in gold} | {r["text"] for r in demo.word_records(["en"], 1000)})
    found = mine(sources, targets, space.embed_texts(sources), space.embed_texts(targets), threshold=0.9)
    quality = mining_quality(found, gold, thresholds=(0.95, 1.0, 1.02, 1.04, 1.06, 1.08, 1.1, 1.15, 1.2))
    for row in quality:
        print(f"mine es-en threshold {row['threshold']:.2f}: {row['mined']} mined, precision {row['precision']:.3f}, "
              f"recall {row['recall']:.3f}, F1 {row['f1']:.3f}")
    merge_result("mining", {"space": space_spec, "gold_pairs": len(gold), "source_lines": len(sources),
                            "target_lines": len(targets), "k": 4, "thresholds": quality,
                            "data": "es/en CLDR country and language names + 1,000 frequent words a side as noise",
                            "precision": "over mined pairs that touch a known pair's sentence (word-word pairs "
                                         "may be true translations nobody listed)",
                            "command": "python benchmarks/text_maps.py", "machine": platform.machine(),
                            "date": time.strftime("%Y-%m-%d")})


if __name__ == "__main__":
    main(*sys.argv[1:])
