"""Print the quality tables (markdown) of docs/quality.md from benchmarks/results/quality.json.

    python benchmarks/quality_tables.py [FILE] [--all]

Only glove-6b-50d, use-m3 and e5-small, whole question sets, unless --all (composites, dev/test halves).

The tables in docs/quality.md are this script's output, pasted: nothing is typed in by hand.
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


def entries(table: dict, suite: str, everything: bool = False):
    """(short space name, config key, record) in SPACES order; only the three plain spaces unless
    everything (composites and the analogy halves have their own section in docs/composite.md)."""
    rows = []
    for space, configs in table.get(suite, {}).items():
        for key, record in configs.items():
            if everything or (short(space) in SPACES and "half=dev" not in key and "half=test" not in key):
                rows.append((short(space), key, record))
    return sorted(rows, key=lambda r: (SPACES.index(r[0]) if r[0] in SPACES else 99, r[1]))


def analogy(table, everything=False) -> list:
    lines = ["| space | vocabulary | answered | semantic add / mul | syntactic add / mul | all add / mul | time | load |",
             "|---|---|---|---|---|---|---|---|"]
    for space, _key, r in entries(table, "analogy", everything):
        f, c = r["figures"], r["counts"]
        cells = [f"{pct(f[part]['add'])} / {pct(f[part]['mul'])}" for part in ("semantic", "syntactic", "overall")]
        lines.append(f"| {space} | {r['config']['restrict_vocab']:,} ({r['config']['half']}) | "
                     f"{c['answered']:,} of {c['questions']:,} | " + " | ".join(cells) +
                     f" | {_seconds(r)} | {_load(r)} |")
    return lines


def analogy_sections(table, everything=False) -> list:
    """3CosAdd / 3CosMul per category, a column per space and cap."""
    records = entries(table, "analogy", everything)
    if not records:
        return []
    columns = [(f"{space} {r['config']['restrict_vocab'] // 1000}k", r) for space, _, r in records]
    sections = list(records[0][2]["figures"]["sections"])
    lines = ["| category | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---|" * len(columns)]
    for section in sections:
        cells = []
        for _, r in columns:
            f = r["figures"]["sections"].get(section)
            cells.append(f"{pct(f['add'])} / {pct(f['mul'])}" if f else "-")
        lines.append(f"| {section} | " + " | ".join(cells) + " |")
    return lines


def translation(table, everything=False) -> list:
    """One table: a row per direction, NN and CSLS per space (the names suite; dictionaries are
    translation_words')."""
    records = [r for r in entries(table, "translation", everything) if "dictionary=" not in r[1]]
    if not records:
        return []
    head = "| direction | pairs | same spelling | " + " | ".join(
        f"{s} NN P@1 / P@5 | {s} CSLS P@1 / P@5 | {s} default P@1 / P@5" for s, _, _ in records) + " |"
    lines = [head, "|---|---|---|" + "---|---|---|" * len(records)]
    first = records[0][2]
    for direction in first["config"]["pairs"]:  # the order they were asked for, not the file's sorted keys
        c = first["counts"]["pairs"][direction]
        cells = []
        for _, _, r in records:
            p = r["figures"]["directions"][direction]["precision"]
            cells += [f"{pct(p[m]['p@1'])} / {pct(p[m]['p@5'])}" if m in p else "-" for m in ("nn", "csls", "default")]
        lines.append(f"| {direction} | {c['pairs']:,} | {c['identical_text']:,} | " + " | ".join(cells) + " |")
    means = []
    for _, _, r in records:
        m = r["figures"]["mean"]
        means += [f"**{pct(m[x]['p@1'])}** / {pct(m[x]['p@5'])}" if x in m else "-" for x in ("nn", "csls", "default")]
    lines.append("| mean | | | " + " | ".join(means) + " |")
    lines += ["", "Texts per language (names and distractor words): " + "; ".join(
        f"{s}: " + ", ".join(f"{lang} {c['texts']:,}" for lang, c in r["counts"]["languages"].items())
        for s, _, r in records[:1]) + ". " + "; ".join(f"{s}: {_seconds(r)}, {_load(r)}" for s, _, r in records) + "."]
    return lines


def translation_words(table, everything=False) -> list:
    """A row per dictionary record (FreeDict's X-en halves, benchmarks/freedict_setup.py)."""
    records = [r for r in entries(table, "translation", everything) if "dictionary=" in r[1]]
    if not records:
        return []
    lines = ["| space | dictionary | sources | pool | NN P@1 / P@5 | CSLS P@1 / P@5 | default P@1 / P@5 |",
             "|---|---|---|---|---|---|---|"]
    for space, _key, r in sorted(records, key=lambda row: (row[0], row[2]["config"]["dictionary"]["file"])):
        (direction, p), = r["figures"]["directions"].items()
        c = r["counts"]["pairs"][direction]
        lines.append(f"| {space} | {r['config']['dictionary']['file']} | {c['pairs']:,} | {c['target_pool']:,} | "
                     + " | ".join(f"{pct(p['precision'][m]['p@1'])} / {pct(p['precision'][m]['p@5'])}"
                                  if m in p["precision"] else "-" for m in ("nn", "csls", "default")) + " |")
    first = records[0][2]
    lines += ["", f"{first['config']['dictionary']['file']}: {_seconds(first)}, {_load(first)}."]
    return lines


def crosslingual(table, everything=False) -> list:
    records = entries(table, "crosslingual-analogy", everything)
    if not records:
        return []
    pairs = list(dict.fromkeys(p for _, _, r in records for p in r["config"]["pairs"]))
    lines = ["| pair | questions | pool | " + " | ".join(f"{s} add / mul" for s, _, _ in records) + " |",
             "|---|---|---|" + "---|" * len(records)]
    for pair in pairs:
        cells, questions, pool = [], "-", "-"
        for _, _, r in records:
            f = r["figures"]["pairs"].get(pair)
            if f:
                questions = f"{r['counts']['pairs'][pair]['questions']:,}"
                pool = f"{r['counts']['pairs'][pair].get('pool', '-'):,}"
            cells.append(f"{pct(f['accuracy']['add'])} / {pct(f['accuracy']['mul'])}" if f else "-")
        lines.append(f"| {pair} | {questions} | {pool} | " + " | ".join(cells) + " |")
    lines += ["", "; ".join(f"{s}: {_seconds(r)}, {_load(r)}" for s, _, r in records) + "."]
    return lines


def image_text(table, everything=False) -> list:
    """Means over the languages, then name->image CSLS R@10 by language; a map's record adds the
    space's own image tower on the same fold pools."""
    rows = []
    for space, _key, r in entries(table, "image-text", everything):
        c = r["config"]
        if c.get("map"):
            folds = r["counts"]["folds"]
            pool = f"{len(folds)} folds of ~{round(sum(f['pool'] for f in folds) / len(folds)):,}"
            fitted = "English names" if c["fit_languages"] == ["en"] else f"names in {len(c['fit_languages'])} languages"
            label = f"{c['map']} map, {'+'.join(c['backbones'])}, fitted on {fitted}"
            rows.append((space, label, pool, r["figures"], r))
            if "baseline" in r["figures"] and not any(x[0] == space and x[2] == pool and "ConSE" in x[1] for x in rows):
                rows.append((space, "ConSE, the same folds", pool, r["figures"]["baseline"], r))
        else:
            rows.append((space, "ConSE", f"{r['counts']['images']:,}", r["figures"], r))
    if not rows:
        return []
    lines = ["| space | images through | pool | name->image R@1 / R@10, NN | CSLS | image->name R@1 / R@10, NN | CSLS |",
             "|---|---|---|---|---|---|---|"]
    for space, label, pool, figures, _ in rows:
        m = figures["mean"]
        cells = [f"{pct(m[d][x]['r@1'])} / {pct(m[d][x]['r@10'])}" for d in ("name->image", "image->name")
                 for x in ("nn", "csls")]
        lines.append(f"| {space} | {label} | {pool} | " + " | ".join(cells) + " |")
    languages = list(dict.fromkeys(lang for *_, r in rows for lang in r["config"]["languages"]))
    lines += ["", "name->image R@1 / R@10 with CSLS, by language of the name:", "",
              "| space | images through | " + " | ".join(languages) + " |", "|---|---|" + "---|" * len(languages)]
    for space, label, _, figures, _ in rows:
        by_lang = figures["languages"]
        cells = [f"{pct(by_lang[lang]['name->image']['csls']['r@1'])} / {pct(by_lang[lang]['name->image']['csls']['r@10'])}"
                 if lang in by_lang else "-" for lang in languages]
        lines.append(f"| {space} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "; ".join(f"{s} {label}: {_seconds(r)}, {_load(r)}" for s, label, _, _, r in rows
                            if not label.startswith("ConSE, the same")) + "."]
    return lines


def hubness(table, everything=False) -> list:
    lines = ["| space | items | language | targets | skewness NN / CSLS | hubs NN / CSLS | anti-hubs NN / CSLS | "
             "top hub NN | top hub CSLS |", "|---|---|---|---|---|---|---|---|---|"]
    for space, key, r in entries(table, "hubness", everything):
        for lang in r["config"]["languages"]:
            f = r["figures"]["languages"][lang]
            tops = [f"{f[m]['top'][0][0]} ({f[m]['top'][0][1]:,})" if f[m]["top"] else "-" for m in ("nn", "csls")]
            lines.append(f"| {space} | {key} | {lang} | {r['counts']['languages'][lang]['targets']:,} | "
                         f"{_num(f['nn']['skewness'])} / {_num(f['csls']['skewness'])} | "
                         f"{pct(f['nn']['hubs'])} / {pct(f['csls']['hubs'])} | "
                         f"{pct(f['nn']['anti_hubs'])} / {pct(f['csls']['anti_hubs'])} | {tops[0]} | {tops[1]} |")
    return lines


def _seconds(record) -> str:
    return f"{record['seconds']['total']:.0f} s"


def _num(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _load(record) -> str:
    m = record["machine"]
    return f"{m.get('cpus')} cores, load {m.get('load_1min_start')} -> {m.get('load_1min')}, {record['date'][:10]}"


def main(*argv) -> None:
    everything = "--all" in argv
    paths = [a for a in argv if a != "--all"]
    table = json.loads(Path(paths[0] if paths else "benchmarks/results/quality.json").read_text())
    for title, make in (("Analogy", analogy), ("Analogy by category", analogy_sections), ("Translation", translation),
                        ("Translation: general vocabulary", translation_words),
                        ("Cross-lingual analogy", crosslingual), ("Image-text", image_text), ("Hubness", hubness)):
        lines = make(table, everything)
        print(f"### {title}\n")
        print("\n".join(lines))
        print()


if __name__ == "__main__":
    main(*sys.argv[1:])
