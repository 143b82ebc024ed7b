"""Search composite spaces on the analogy suite's dev half; report the test half of every variant.

    python benchmarks/composite_search.py [--variants NAME ...] [--out benchmarks/results/quality.json]
    python benchmarks/composite_search.py --table      (the table in docs/composite.md, from the summary)

Every variant is the spec of a space (parts alone included). Each is run by the analogy suite
(`embedspace eval analogy --half dev`, then `--half test`, 30,000-word cap), and both records go
to quality.json with the command that reproduces them. Choices are made on dev only: the summary
(benchmarks/results/composite_search.json) lists every variant tried with its dev and test
figures and marks the one with the best dev figure for each method.

Part vectors come from the evaluation's text cache, so after the parts' first run (e5-small takes
minutes for 30,000 words) a variant costs only its scoring.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedspace.artifacts import save_json  # noqa: E402
from embedspace.evaluation import run_suite, save_results  # noqa: E402

G, U, E = "glove-6b-50d", "use-m3", "e5-small"
C = "[center=glove:30000]"


def concat(*parts) -> str:
    return "concat:" + "+".join(parts)


# name -> spec, in the order they were tried (groups: parts alone, plain concatenations, centred,
# weights on the centred three-part composite).
VARIANTS = {
    "glove": G,
    "use": U,
    "e5": E,
    "glove+use": concat(G, U),
    "glove+e5": concat(G, E),
    "glove+use+e5": concat(G, U, E),
    "glove+use (centred)": concat(G + C, U + C),
    "glove+e5 (centred)": concat(G + C, E + C),
    "glove+use+e5 (centred)": concat(G + C, U + C, E + C),
    "use+e5 (centred)": concat(U + C, E + C),
}
# centring helped e5 and hurt use-m3 on dev: from here on only e5 (and sometimes GloVe) is centred
VARIANTS["glove+use+e5 (e5 centred)"] = concat(G, U, E + C)
VARIANTS["glove+use+e5 (glove, e5 centred)"] = concat(G + C, U, E + C)
for u in ("0.5", "0.7"):
    VARIANTS[f"glove+use*{u}+e5 (e5 centred)"] = concat(G, f"{U}*{u}", E + C)
for g in ("1.5", "2"):
    for u in ("0.5", "0.7", "1"):
        VARIANTS[f"glove*{g}+use*{u}+e5 (e5 centred)"] = concat(f"{G}*{g}", f"{U}*{u}", E + C)
VARIANTS["glove*1.5+e5 (e5 centred)"] = concat(f"{G}*1.5", E + C)
# best on dev so far: glove*1.5+use*0.7 (add) and glove*1.5+use*1 (mul), e5 centred; then
# all-but-the-top (pcs=D: the reference's top principal directions removed after centring)
P2 = "[center=glove:30000,pcs=2]"
VARIANTS["glove*1.5+use*0.7+e5 (e5 centred, pcs=2)"] = concat(f"{G}*1.5", f"{U}*0.7", E + P2)
VARIANTS["glove*1.5+use*0.7+e5 (e5 centred, pcs=5)"] = concat(f"{G}*1.5", f"{U}*0.7", E + "[center=glove:30000,pcs=5]")
VARIANTS["glove*1.5+use*0.7+e5 (use, e5 centred, pcs=2)"] = concat(f"{G}*1.5", f"{U}{P2}*0.7", E + P2)
VARIANTS["glove*1.5+use*0.7+e5 (glove pcs=1, e5 pcs=2)"] = concat(f"{G}[center=glove:30000,pcs=1]*1.5", f"{U}*0.7",
                                                                  E + P2)
VARIANTS["glove*1.75+use*0.85+e5 (e5 centred)"] = concat(f"{G}*1.75", f"{U}*0.85", E + C)


def figures(record: dict) -> dict:
    return {m: record["figures"]["overall"][m] for m in ("add", "mul")}


def table(summary: dict) -> str:
    """The table in docs/composite.md: every variant tried, dev and test, best on dev marked."""
    best = summary["best_on_dev"]
    lines = ["| variant | dev add / mul | test add / mul | spec |", "|---|---|---|---|"]
    order = [n for n in VARIANTS if n in summary["variants"]]  # the order they were tried
    for name in order + sorted(set(summary["variants"]) - set(order)):
        row = summary["variants"][name]
        marks = "".join(f" **best dev {m}**" for m in ("add", "mul") if best[m] == name)
        lines.append(f"| {name}{marks} | {100 * row['dev']['add']:.1f} / {100 * row['dev']['mul']:.1f} | "
                     f"{100 * row['test']['add']:.1f} / {100 * row['test']['mul']:.1f} | `{row['spec']}` |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", help="names from VARIANTS (default: all)")
    parser.add_argument("--out", default="benchmarks/results/quality.json")
    parser.add_argument("--summary", default="benchmarks/results/composite_search.json")
    parser.add_argument("--restrict-vocab", type=int, default=30_000)
    parser.add_argument("--table", action="store_true", help="print docs/composite.md's table from the summary, stop")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.summary).read_text())))
        return 0
    names = args.variants or list(VARIANTS)
    summary_path = Path(args.summary)
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {"variants": {}}
    for name in names:
        spec = VARIANTS[name]
        row = {"spec": spec}
        for half in ("dev", "test"):
            record = run_suite("analogy", spec, restrict_vocab=args.restrict_vocab, half=half)
            save_results(args.out, [record])
            row[half] = figures(record)
            row[f"{half}_answered"] = record["counts"]["answered"]
            row[f"{half}_load_1min"] = record["machine"]["load_1min"]
            row["space_id"] = record["space_id"]
            row[f"{half}_command"] = record["command"]
        summary["variants"][name] = row
        print(f"{name:<40} dev add {row['dev']['add']:.4f} mul {row['dev']['mul']:.4f}   "
              f"test add {row['test']['add']:.4f} mul {row['test']['mul']:.4f}", flush=True)
        summary["best_on_dev"] = {m: max(summary["variants"], key=lambda n: summary["variants"][n]["dev"][m])
                                  for m in ("add", "mul")}
        summary["restrict_vocab"] = args.restrict_vocab
        summary["machine_load_1min"] = os.getloadavg()[0]
        save_json(summary_path, summary)
    print("best on dev:", summary["best_on_dev"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
