"""The modality gap on the demo: each emoji name searched with no filter, does its image show?

For each emoji image of the demo index and each demo language, every name of that emoji is a
query over the whole index (texts and images). Figures: recall@1/@10 of the image in the
images-only list ('images'), in one list by plain cosine ('cosine', what search showed before),
and in the list `embedspace search` shows ('search': each kind by cosine, merged by rank). Twice:
with the demo's own image vectors (its map was fitted on these very emoji) and with each image
mapped by a map fitted without its fold (5 folds, variants with their base; `cross_fitted_images`),
the figure for images the map never saw.

    python benchmarks/mixed_search.py [--index-dir /work/demo/indexes]   # writes quality.json "mixed_search"
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.image_maps import merge_result  # noqa: E402
from embedspace.evaluation.image_text import cross_fitted_images, mixed_search  # noqa: E402
from embedspace.index.store import Index  # noqa: E402
from embedspace.runtime import load_now  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", default="demo")
    parser.add_argument("--index-dir", default=None)
    args = parser.parse_args()
    load_before, started = load_now(), time.perf_counter()
    index = Index.open(args.index, args.index_dir)
    space = index.load_space()
    fit_languages = space.image_map.meta["training"]["languages"] if space.image_map else ["en"]
    entry = {"index": args.index, "space_id": index.manifest["space_id"]}
    entry["demo_map"] = mixed_search(index, space)
    show("demo's map (fitted on these emoji)", entry["demo_map"])
    image_map = space.image_map
    recipe = {"alpha": image_map.meta["alpha"] if image_map and image_map.meta.get("alpha_fixed") else None,
              "neighbours": image_map.neighbour_part if image_map else None}
    if image_map:
        recipe["backbones"] = image_map.backbones
    held_out = cross_fitted_images(index, space, fit_languages, **recipe)
    entry["held_out"] = mixed_search(index, space, image_vectors=held_out)
    entry["map_recipe"] = image_map.meta.get("recipe", "ridge, strength by inner folds") if image_map else None
    entry["held_out_note"] = (f"each image mapped by a map of the demo's recipe ({entry['map_recipe']}) on "
                              f"{'+'.join(recipe.get('backbones', ('lite0',)))} features fitted on the other 4 of 5 "
                              f"folds, names in {', '.join(fit_languages)}; "
                              "texts as indexed")
    show("held-out folds", entry["held_out"])
    entry.update({"command": "python benchmarks/mixed_search.py", "seconds": round(time.perf_counter() - started),
                  "load_before": load_before, "machine": f"{platform.machine()}", "date": time.strftime("%Y-%m-%d")})
    merge_result("mixed_search", entry)


def show(label: str, figures: dict) -> None:
    print(f"{label}: {figures['images']} images, {figures['texts']} texts")
    print(f"  {'lang':<8}{'names':>6}  {'images R@1/R@10':>16}  {'cosine R@1/R@10':>16}  {'search R@1/R@10':>16}")
    for lang, row in {**figures["languages"], "mean": {"names": 0, **figures["mean"]}}.items():
        cells = "  ".join(f"{row[n]['r@1']:>7.3f} /{row[n]['r@10']:>6.3f}" for n in ("images", "cosine", "search"))
        print(f"  {lang:<8}{row['names'] or '':>6}  {cells}", flush=True)


if __name__ == "__main__":
    main()
