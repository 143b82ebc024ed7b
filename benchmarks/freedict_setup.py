"""General-vocabulary translation dictionaries from Debian's FreeDict packages, in MUSE's format.

    python benchmarks/freedict_setup.py                   # install (root), convert, split, report
    python benchmarks/freedict_setup.py --no-install      # convert what is already installed
    python benchmarks/freedict_setup.py --out DIR --per-half 1500

Writes, for each language X with a dictionary, into --out (default benchmarks/results/freedict):
``X-en.dev.txt`` and ``X-en.test.txt`` (``source<TAB>target`` a line, MUSE's format, read by
``embedspace eval translation --dictionary FILE --pairs X-en``), and ``counts.json``.

Packages. Installed by exact name, one at a time, from ALLOWED only (never a wildcard); before
each install, ``apt-get install --dry-run`` must show that package and nothing else, or it is
refused. English-Spanish and Spanish-English are never installed or read: they are the project's
kept-aside check. Rerunning is safe (installed packages are skipped). apt needs root.

Conversion choices (every one is a rule in this file):

* Direction: every pair is X -> English. An X-eng dictionary gives headword -> translation; an
  eng-X dictionary is read and reversed (translation -> headword). Both are merged (union) when
  both exist. Russian has only eng-rus: reversed.
* Entries: the dictd ``.index`` gives each entry's byte range in the (gzip-readable) ``.dict.dz``.
  The entry's first non-empty line holds its headword(s), comma-separated; pronunciations
  ``/.../``, grammar tags ``<...>`` and markers ``[...]`` are removed. Later lines that start at
  column 0 hold translations; a line that starts with white space (notes, ``see:``,
  ``Synonym:``, examples, domain remarks) is skipped, as is one starting with ``(`` (Japanese
  part-of-speech lines), ``=`` or ``{`` (Polish definitions, cross references). A leading
  sense number ``2.`` is dropped. Translations are split on ``,`` and ``;``.
* Each candidate is normalised with NFKC (Dutch ``ĳ`` becomes ``ij``), parenthetical notes
  ``(...)`` and ``[...]`` are removed, white space collapsed; an English verb's ``to `` is dropped
  (``to run`` -> ``run``, as in MUSE's dictionaries).
* Single words only, on both sides: a candidate is kept when every character is a letter
  (``str.isalpha``: no spaces, hyphens, apostrophes, digits) and it has at least 2 letters, or 1
  CJK ideograph (as embedspace.data.words.is_word). Multi-word entries are dropped, not split.
* No names: a pair whose English side starts with a capital letter is dropped (country,
  language and person names are what the names-based evaluation already covers; this is about
  words). English is lower-case except for names; other languages keep their case (German nouns).
  Exception: a dictionary that capitalises at least 80% of its English (ara-eng capitalises every
  headword) is lower-cased instead, so its names stay in (few: it is a general dictionary).
* Combining marks (Unicode category Mn) are removed from the non-English side: Arabic harakat
  and shadda, which wordfreq's list and everyday text leave out.
* Frequency: a source word must be in wordfreq's word list of its language, looked up
  case-folded (``wordfreq.get_frequency_dict``: no tokenizer, so no MeCab for Japanese; a
  Japanese word that wordfreq's list only holds as several tokens is dropped); sources are
  ordered most frequent first (ties by the word).
* Split: by SOURCE word, so no source is in both halves: sha256("freedict-split:" + lang + ":" +
  source) even -> dev, odd -> test. Deterministic, independent of the order or size of the data,
  and each half gets the same frequency spread. Each half keeps its --per-half most frequent
  sources, with all their English targets (a source is right with any of them).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import re
import subprocess
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

DICTD = Path("/usr/share/dictd")
FORBIDDEN = ("spa",)  # kept aside: never install, never read
ALLOWED = [f"dict-freedict-{pair}" for pair in (
    "deu-eng", "eng-deu", "fra-eng", "eng-fra", "ita-eng", "eng-ita", "por-eng", "eng-por",
    "nld-eng", "eng-nld", "pol-eng", "eng-pol", "tur-eng", "jpn-eng", "ara-eng", "eng-rus")]
LANGUAGES = {"deu": "de", "fra": "fr", "ita": "it", "por": "pt", "nld": "nl", "pol": "pl", "tur": "tr",
             "jpn": "ja", "ara": "ar", "rus": "ru"}
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


# -- install ----------------------------------------------------------------------------------------
def install(packages=ALLOWED) -> dict:
    """Install each allowed package by exact name; refuse any whose dry run pulls in anything else."""
    outcome = {}
    for package in packages:
        if package not in ALLOWED or any(code in package for code in FORBIDDEN):
            raise SystemExit(f"refusing {package}: not on the allowed list")
        dry = subprocess.run(["apt-get", "install", "--dry-run", "--no-install-recommends", package],
                             capture_output=True, text=True, check=True).stdout
        would = [line.split()[1] for line in dry.splitlines() if line.startswith("Inst ")]
        if not would:
            outcome[package] = "already installed"
        elif would != [package]:
            outcome[package] = f"refused: the dry run would also install {', '.join(would)}"
        else:
            done = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", package],
                                  capture_output=True, text=True)
            outcome[package] = "installed" if done.returncode == 0 else f"failed: {done.stderr.strip()[-200:]}"
        print(f"{package}: {outcome[package]}", file=sys.stderr)
    return outcome


# -- dictd reading ----------------------------------------------------------------------------------
def b64_number(text: str) -> int:
    value = 0
    for char in text:
        value = value * 64 + B64.index(char)
    return value


def dictd_entries(name: str, folder: Path = DICTD):
    """Each entry's text of freedict-NAME, once per byte range (several index keys may share one)."""
    if any(code in name.split("-") for code in FORBIDDEN):
        raise SystemExit(f"refusing to read {name}")
    data = gzip.open(folder / f"freedict-{name}.dict.dz").read()
    seen = set()
    for line in (folder / f"freedict-{name}.index").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) < 3 or not fields[0] or fields[0].startswith("00-database") or fields[0].startswith("00database"):
            continue
        span = (b64_number(fields[1]), b64_number(fields[2]))
        if span in seen:
            continue
        seen.add(span)
        yield data[span[0]:span[0] + span[1]].decode("utf-8", errors="replace")


MARKUP = re.compile(r"/[^/]*/|<[^>]*>|\[[^\]]*\]|\([^)]*\)|\{[^}]*\}")
SENSE_NUMBER = re.compile(r"^\d+\.\s*")


def clean(text: str, english: bool) -> str:
    text = unicodedata.normalize("NFKC", text)
    if not english:  # Arabic harakat and shadda: wordfreq's lists and everyday text go without
        text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    text = " ".join(MARKUP.sub(" ", text).split())
    if english and text.startswith("to "):
        text = text[3:]
    return text


def is_single_word(word: str) -> bool:
    if not word.isalpha():
        return False
    return len(word) >= 2 or unicodedata.name(word, "").startswith("CJK")


def entry_pairs(entry: str, headword_english: bool) -> list:
    """(headword, translation) pairs of one entry, both single words, cleaned."""
    lines = [line for line in entry.splitlines() if line.strip()]
    if not lines:
        return []
    heads = [clean(h, headword_english) for h in MARKUP.sub(" ", lines[0]).split(",")]
    translations = []
    for line in lines[1:]:
        if line[0].isspace() or line[0] in "(={" or "Note:" in line:
            continue
        translations += [clean(t, not headword_english) for t in re.split(r"[,;]", SENSE_NUMBER.sub("", line))]
    return [(h, t) for h in heads if is_single_word(h) for t in translations if is_single_word(t)]


def language_pairs(code3: str, folder: Path = DICTD) -> set:
    """Every (X word, English word) pair for one language, from X-eng and reversed eng-X."""
    pairs = set()
    if (folder / f"freedict-{code3}-eng.index").is_file():
        pairs |= drop_names({p for e in dictd_entries(f"{code3}-eng", folder) for p in entry_pairs(e, False)})
    if (folder / f"freedict-eng-{code3}.index").is_file():
        pairs |= drop_names({(x, en) for e in dictd_entries(f"eng-{code3}", folder) for en, x in entry_pairs(e, True)})
    return pairs


def drop_names(pairs: set) -> set:
    """Pairs whose English is not capitalised; a dictionary that capitalises nearly all its English
    (ara-eng: 'Axiom') is lower-cased instead, as its capitals say nothing about names."""
    capitalised = sum(en[0].isupper() for _, en in pairs)
    if pairs and capitalised >= 0.8 * len(pairs):
        return {(x, en.lower()) for x, en in pairs}
    return {(x, en) for x, en in pairs if not en[0].isupper()}


# -- split ------------------------------------------------------------------------------------------
def half_of(lang: str, source: str) -> str:
    digest = hashlib.sha256(f"freedict-split:{lang}:{source}".encode()).digest()
    return "dev" if digest[0] % 2 == 0 else "test"


def split(lang: str, pairs, per_half: int) -> dict:
    """{'dev': [(src, en)], 'test': [...]}: frequent sources first, per_half sources a half."""
    import wordfreq

    targets = defaultdict(set)
    for source, english in pairs:
        targets[source].add(english)
    listed = wordfreq.get_frequency_dict(lang)
    frequency = {s: listed.get(s.casefold(), 0.0) for s in targets}
    ordered = sorted((s for s in targets if frequency[s] > 0), key=lambda s: (-frequency[s], s))
    halves = {"dev": [], "test": []}
    for source in ordered:
        half = halves[half_of(lang, source)]
        if len({s for s, _ in half}) < per_half:
            half.extend((source, en) for en in sorted(targets[source]))
    return halves


def write_half(path: Path, pairs) -> None:
    path.write_text("".join(f"{s}\t{t}\n" for s, t in pairs), encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="benchmarks/results/freedict")
    parser.add_argument("--per-half", type=int, default=1500, help="sources per half (most frequent first)")
    parser.add_argument("--no-install", action="store_true")
    parser.add_argument("--languages", default=",".join(LANGUAGES.values()))
    args = parser.parse_args(argv)
    installed = {} if args.no_install else install()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = args.languages.split(",")
    counts = {"install": installed, "per_half": args.per_half, "directions": {}}
    for code3, lang in LANGUAGES.items():
        if lang not in wanted:
            continue
        pairs = language_pairs(code3)
        halves = split(lang, pairs, args.per_half)
        entry = {"pairs_all": len(pairs), "sources_all": len({s for s, _ in pairs})}
        for half, rows in halves.items():
            write_half(out / f"{lang}-en.{half}.txt", rows)
            entry[half] = {"pairs": len(rows), "sources": len({s for s, _ in rows})}
        counts["directions"][f"{lang}-en"] = entry
        print(f"{lang}-en: {entry}", file=sys.stderr)
    (out / "counts.json").write_text(json.dumps(counts, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
