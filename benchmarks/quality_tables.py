"""Print the README's quality tables (markdown) from benchmarks/results/quality.json.

    python benchmarks/quality_tables.py [FILE]

The README's tables are this script's output, pasted: nothing is typed in by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SPACES = ("glove-6b-50d", "use-m3", "e5-small")


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def short(space: str) -> str:
    """A space's name without default options; a composite keeps its weights and centring."""
    if not space.startswith("concat:"):
        return space.split("[")[0]
    import re

    def kept(match):
        options = [o for o in match.group(1).split(",") if o.startswith(("center=", "pcs=")) and o != "center=none"]
        return f"[{','.join(options)}]" if options else ""

    return re.sub(r"\[([^\]]*)\]", kept, space)


def entries(table: dict, suite: str):
    """(short space name, config key, record) in SPACES order."""
    rows = []
    for space, configs in table.get(suite, {}).items():
        for key, record in configs.items():
            rows.append((short(space), key, record))
    return sorted(rows, key=lambda r: (SPACES.index(r[0]) if r[0] in SPACES else 99, r[1]))


def analogy(table) -> list:
    lines = ["| space | vocabulary | answered | semantic add / mul | syntactic add / mul | all add / mul | load |",
             "|---|---|---|---|---|---|---|"]
    for space, key, r in entries(table, "analogy"):
        f, c = r["figures"], r["counts"]
        cells = [f"{pct(f[part]['add'])} / {pct(f[part]['mul'])}" for part in ("semantic", "syntactic", "overall")]
        lines.append(f"| {space} | {r['config']['restrict_vocab']:,} ({r['config']['half']}) | "
                     f"{c['answered']:,} of {c['questions']:,} | " + " | ".join(cells) + f" | {_load(r)} |")
    return lines


def translation(table) -> list:
    out = []
    for space, key, r in entries(table, "translation"):
        out += [f"**{space}** ({key}; texts per language: "
                + ", ".join(f"{lang} {c['texts']:,}" for lang, c in r["counts"]["languages"].items()) + ")", "",
                "| direction | pairs | same spelling | NN P@1 | NN P@5 | CSLS P@1 | CSLS P@5 | CSLS P@1, spelled differently |",
                "|---|---|---|---|---|---|---|---|"]
        for direction in r["config"]["pairs"]:  # the order they were asked for, not the file's sorted keys
            d = r["figures"]["directions"][direction]
            c, p = r["counts"]["pairs"][direction], d["precision"]
            out.append(f"| {direction} | {c['pairs']:,} | {c['identical_text']:,} | {pct(p['nn']['p@1'])} | "
                       f"{pct(p['nn']['p@5'])} | {pct(p['csls']['p@1'])} | {pct(p['csls']['p@5'])} | "
                       f"{pct(d['precision_spelled_differently']['csls']['p@1'])} |")
        m = r["figures"]["mean"]
        out += [f"| mean | | | {pct(m['nn']['p@1'])} | {pct(m['nn']['p@5'])} | {pct(m['csls']['p@1'])} | "
                f"{pct(m['csls']['p@5'])} | |", "", f"Load: {_load(r)}.", ""]
    return out


def crosslingual(table) -> list:
    records = entries(table, "crosslingual-analogy")
    if not records:
        return []
    pairs = list(dict.fromkeys(p for _, _, r in records for p in r["config"]["pairs"]))
    lines = ["| pair | questions | " + " | ".join(f"{s} add / mul" for s, _, _ in records) + " |",
             "|---|---|" + "---|" * len(records)]
    for pair in pairs:
        cells, questions = [], "-"
        for _, _, r in records:
            f = r["figures"]["pairs"].get(pair)
            if f:
                questions = f"{r['counts']['pairs'][pair]['questions']:,}"
            cells.append(f"{pct(f['accuracy']['add'])} / {pct(f['accuracy']['mul'])}" if f else "-")
        lines.append(f"| {pair} | {questions} | " + " | ".join(cells) + " |")
    return lines


def image_text(table) -> list:
    lines = ["| space | language | names | name->image R@1 / R@10, NN | CSLS | image->name R@1 / R@10, NN | CSLS |",
             "|---|---|---|---|---|---|---|"]
    for space, key, r in entries(table, "image-text"):
        by_lang = r["figures"]["languages"]
        for lang, f in [(lang, by_lang[lang]) for lang in r["config"]["languages"]] + [("mean", r["figures"]["mean"])]:
            n = r["counts"]["names"].get(lang, "")
            cells = [f"{pct(f[d][m]['r@1'])} / {pct(f[d][m]['r@10'])}" for d in ("name->image", "image->name")
                     for m in ("nn", "csls")]
            lines.append(f"| {space} | {lang} | {n:,} | " + " | ".join(cells) + " |" if n != "" else
                         f"| {space} | {lang} | | " + " | ".join(cells) + " |")
    return lines


def hubness(table) -> list:
    lines = ["| space | items | language | targets | skewness NN / CSLS | hubs NN / CSLS | anti-hubs NN / CSLS | top hub (NN) |",
             "|---|---|---|---|---|---|---|---|"]
    for space, key, r in entries(table, "hubness"):
        for lang in r["config"]["languages"]:
            f = r["figures"]["languages"][lang]
            top = f["nn"]["top"][0] if f["nn"]["top"] else ["-", 0]
            lines.append(f"| {space} | {key} | {lang} | {r['counts']['languages'][lang]['targets']:,} | "
                         f"{_num(f['nn']['skewness'])} / {_num(f['csls']['skewness'])} | "
                         f"{pct(f['nn']['hubs'])} / {pct(f['csls']['hubs'])} | "
                         f"{pct(f['nn']['anti_hubs'])} / {pct(f['csls']['anti_hubs'])} | {top[0]} ({top[1]}) |")
    return lines


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _load(record) -> str:
    m = record["machine"]
    return f"{m.get('cpus')} cores, load {m.get('load_1min_start')} -> {m.get('load_1min')}, {record['date'][:10]}"


def main(path="benchmarks/results/quality.json") -> None:
    table = json.loads(Path(path).read_text())
    for title, lines in (("Analogy", analogy(table)), ("Translation", translation(table)),
                         ("Cross-lingual analogy", crosslingual(table)), ("Image-text", image_text(table)),
                         ("Hubness", hubness(table))):
        print(f"### {title}\n")
        print("\n".join(lines))
        print()


if __name__ == "__main__":
    main(*sys.argv[1:])
