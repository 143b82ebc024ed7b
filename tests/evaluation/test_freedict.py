"""FreeDict general-vocabulary dictionaries: the set-up script's rules, and the pinned slice scored."""

from __future__ import annotations

import gzip
import runpy
from pathlib import Path

import pytest

from embedspace.evaluation import translation

ROOT = Path(__file__).resolve().parents[2]
SLICES = ROOT / "tests" / "fixtures" / "freedict"


@pytest.fixture(scope="module")
def setup():
    return runpy.run_path(str(ROOT / "benchmarks" / "freedict_setup.py"))


def test_entries_keep_single_words_and_drop_notes(setup):
    entry = ("Haus /haʊs/ <neut, n, sg>\n1. house <n>\n2. home, building society\n"
             " see: {Häuser}\n         Note: Gebäude\n")
    assert setup["entry_pairs"](entry, False) == [("Haus", "house"), ("Haus", "home")]
    english_first = "run /rʌn/\n1. laufen, rennen\n2. (ugs.) flitzen; davon laufen\n"
    assert setup["entry_pairs"](english_first, True) == [("run", "laufen"), ("run", "rennen"), ("run", "flitzen")]
    assert setup["entry_pairs"]("gehen /ɡeːən/ <v>\nto go\nto walk on\n", False) == [("gehen", "go")]
    assert setup["entry_pairs"]("x /x/\nex\n", False) == []  # one letter: not a word


def test_names_are_dropped_unless_a_dictionary_capitalises_everything(setup):
    drop = setup["drop_names"]
    assert drop({("Haus", "house"), ("Berlin", "Berlin")}) == {("Haus", "house")}
    capitalised = {("a", "Axiom"), ("b", "Bread"), ("c", "Cat"), ("d", "Dog"), ("e", "egg")}
    assert drop(capitalised) == {("a", "axiom"), ("b", "bread"), ("c", "cat"), ("d", "dog"), ("e", "egg")}


def test_dictd_files_are_read_by_their_index(setup, tmp_path):
    entries = ["Haus /haʊs/\nhouse\n", "Hund\ndog\n"]
    body = "".join(entries).encode()
    with gzip.open(tmp_path / "freedict-deu-eng.dict.dz", "wb") as out:
        out.write(body)

    def b64(n):
        return "".join(setup["B64"][(n >> s) & 63] for s in (12, 6, 0)).lstrip("A") or "A"

    first = len(entries[0].encode())
    (tmp_path / "freedict-deu-eng.index").write_text(
        f"00-database-info\tA\tA\nHaus\t{b64(0)}\t{b64(first)}\nHund\t{b64(first)}\t{b64(len(body) - first)}\n"
        f"haus\t{b64(0)}\t{b64(first)}\n", encoding="utf-8")
    assert list(setup["dictd_entries"]("deu-eng", tmp_path)) == entries  # the repeated range once
    assert setup["b64_number"]("BA") == 64 and setup["b64_number"]("/") == 63


def test_kept_aside_dictionaries_are_refused(setup, tmp_path):
    with pytest.raises(SystemExit):
        list(setup["dictd_entries"]("eng-spa", tmp_path))
    with pytest.raises(SystemExit):
        setup["install"](["dict-freedict-spa-eng"])


def test_split_is_by_source_and_stable(setup):
    pairs = {(f"w{i}", f"e{i % 7}") for i in range(400)} | {("w1", "extra")}
    halves = setup["split"]("en", pairs, 10_000)
    dev, test = ({s for s, _ in halves[h]} for h in ("dev", "test"))
    assert not dev & test
    more = setup["split"]("en", pairs | {("w999", "new")}, 10_000)  # adding words moves none
    assert {s for s, _ in more["dev"]} - {"w999"} == dev


def test_pinned_slices_carry_the_licence_and_score(use_space):
    """Raw use-m3 CSLS on the German slice's 89 frequent words (pool 1,122): measured 0.584 P@1, 0.742 P@5
    (benchmarks/freedict_translation.py measures the whole halves); a floor well below catches a
    broken reader or ranking, not noise."""
    assert (SLICES / "COPYRIGHT-freedict").is_file() and (SLICES / "README.md").is_file()
    for path in SLICES.glob("*-en.dev-slice.txt"):
        read = translation.read_dictionary(path)
        assert 250 <= len(read.pairs) <= 400 and not read.skipped, path.name
    result = translation.run(use_space, pairs=[("de", "en")], dictionary=SLICES / "de-en.dev-slice.txt", words=1000)
    precision = result["figures"]["directions"]["de-en"]["precision"]
    assert result["counts"]["pairs"]["de-en"]["pairs"] == len({s for s, _ in translation.read_dictionary(
        SLICES / "de-en.dev-slice.txt").pairs})
    assert precision["csls"]["p@1"] >= 0.45 and precision["csls"]["p@5"] >= precision["csls"]["p@1"]
