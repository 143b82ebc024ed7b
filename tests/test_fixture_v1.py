"""Indexes and maps on users' disks must keep working: format 1, as commit 435d9c9 wrote it.

Why this test exists: an index and maps built by commit 435d9c9 (the last one before the
package was restructured into layers) must keep opening and answer the same queries. A later
format change must keep this test passing, or migrate these files with a message; it must not
rebuild tests/fixtures/v1 with the new code (that would check the code against itself). How the
fixture was built, and how to rebuild it on purpose from that commit: tests/fixtures/make_v1_fixture.py.

The fixture (tests/fixtures/v1): index `words` (42 texts in en/es/de and 6 OpenMoji images, space
`use-m3[images=map:emoji]`: images go through a learned image map), index `plain` (the same texts,
default space use-m3 with ConSE), the image map `indexes/maps/emoji.npz` (Lite0 -> use-m3) and the
es->en text map under `indexes/maps/text/`. expected.json holds what the old code answered.

The fixture is copied to a temporary folder and EMBEDSPACE_INDEX_DIR / EMBEDSPACE_MAP_DIR point at
the copy, so nothing is written in the repository. Only the public API is used (`embedspace.load_space`,
`embedspace.index.Index.open`, `embedspace.query` and the `embedspace` CLI with --json), because
those keep their names through the restructure.

Comparing results: the same ids in the same order, and every score and cosine within TOL = 1e-4
(absolute) of the recorded one. Vectors depend on BLAS kernels and thread counts, so scores move
in the 6th decimal between machines; 1e-4 is far above that and far below any gap a format bug
would leave. Two results may trade places only if their recorded scores are within 2 * TOL
(both may move by TOL): a near-tie. At the cut-off (rank k), an item may come in or drop out
only if its score ties, within 2 * TOL, with the last recorded one. The recorded answers contain
near-ties in one place (NN translation of "perro" with the text map: bird 0.556821, horse 0.556763,
man 0.556569); everywhere else neighbouring scores are more than 2 * TOL apart.

Paths: format 1 stores the ABSOLUTE path of an image item, resolved at build time (expected.json's
`build_root`). A result's `path` must be that same string, or, if a migration rewrites paths, the
same file under the copied fixture (absolute) or the same tail (relative).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import embedspace
from embedspace import EmbedspaceError, load_space, query
from embedspace.index import Index

FIXTURE = Path(__file__).parent / "fixtures" / "v1"
EXPECTED = json.loads((FIXTURE / "expected.json").read_text(encoding="utf-8"))
TOL = 1e-4  # absolute, on every score and cosine
NEAR_TIE = 2 * TOL  # recorded scores this close may trade places
FIELDS = ("id", "kind", "text", "lang", "label", "concept")
CASES = {case["name"]: case for case in EXPECTED["cases"]}


# -- helpers (kept here: the test may import only embedspace, embedspace.index, embedspace.query) --------
@pytest.fixture(scope="module")
def fixture_copy(tmp_path_factory):
    """The fixture copied to a temporary folder, the environment pointing at the copy."""
    root = tmp_path_factory.mktemp("fixture") / "v1"
    shutil.copytree(FIXTURE, root)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDSPACE_INDEX_DIR", str(root / "indexes"))
        patch.setenv("EMBEDSPACE_MAP_DIR", str(root / "indexes" / "maps"))
        yield root


@pytest.fixture(scope="module")
def opened(fixture_copy):
    """{index name: (Index, space)}, the space loaded from the spec a user typed at build time."""
    return {name: (Index.open(name, fixture_copy / "indexes"), load_space(facts["space"]))
            for name, facts in EXPECTED["indexes"].items()}


def with_words_verdict(maps: Path, out: Path, helps: bool) -> Path:
    """A copy of the maps folder whose es->en text map's report carries a verdict on words, as
    `align-text --words-dictionary` saves it (the v1 map has none, so `translate` no longer applies it).
    The figures are made up: only the verdict decides; the weights stay the old map's."""
    shutil.copytree(maps, out)
    (path,) = (out / "text").rglob("es-en.npz")
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    header = json.loads(bytes(arrays.pop("header")).decode())
    figures = {"P@1": 0.5, "P@5": 0.7}
    header["meta"].setdefault("report", {})["words"] = {
        "helps": helps, "csls_plain": figures, "csls_mapped": {**figures, "P@1": 0.6 if helps else 0.4}}
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return out


@pytest.fixture(scope="module")
def helpful_maps(fixture_copy, tmp_path_factory):
    """The maps folder with the v1 es->en map marked as helping words: the old answers 'with the map'."""
    return with_words_verdict(fixture_copy / "indexes" / "maps", tmp_path_factory.mktemp("maps") / "maps", True)


def applies_the_map(case) -> bool:
    """The old code applied the saved es->en map: this case recorded text_map true."""
    recorded = case["result"] if "result" in case else case["results"][0]
    return bool(recorded.get("text_map"))


def run_case(case, index, space, root):
    kwargs = dict(case["kwargs"])
    if "image_file" in kwargs:
        kwargs["image"] = str(root / kwargs.pop("image_file"))
    if "image_files" in kwargs:
        kwargs["images"] = [str(root / f) for f in kwargs.pop("image_files")]
    return getattr(query, case["call"])(index, space, **kwargs)


def same_path(actual, expected, root) -> bool:
    """The stored string as recorded, or the same fixture file after a migration of paths."""
    if actual == expected or actual is None or expected is None:
        return actual == expected
    relative = Path(expected).relative_to(EXPECTED["build_root"])
    if Path(actual).is_absolute():
        return Path(actual) == root / relative
    return Path(actual).parts == relative.parts[-len(Path(actual).parts):]


def same_query(actual, expected, root) -> bool:
    if isinstance(expected, dict) and "image" in expected:  # an image query is labelled by its path
        image = Path(expected["image"])
        relative = image.relative_to(EXPECTED["build_root"]) if image.is_absolute() else image
        return isinstance(actual, dict) and actual.keys() == expected.keys() \
            and Path(actual["image"]).parts[-len(relative.parts):] == relative.parts
    return actual == expected


def assert_same_results(actual: dict, expected: dict, next_score, root, where: str) -> None:
    """Same answer: metadata equal, same ids in the same order (near-ties may swap), scores within TOL."""
    for key in expected:
        if key == "query":
            assert same_query(actual["query"], expected["query"], root), f"{where}: query {actual['query']!r}"
        elif key != "results":
            assert actual.get(key) == expected[key], f"{where}: {key} is {actual.get(key)!r}, was {expected[key]!r}"
    got, want = actual["results"], expected["results"]
    assert len(got) == len(want), f"{where}: {len(got)} results, was {len(want)}"
    assert [r["rank"] for r in got] == [r["rank"] for r in want], where
    recorded = {r["id"]: r for r in want}
    last = want[-1]["score"] if want else None
    for position, result in enumerate(got):
        old = recorded.get(result["id"])
        if old is None:  # came in at the cut-off: only a near-tie with the last recorded result may
            assert next_score is not None and abs(result["score"] - last) <= NEAR_TIE, \
                f"{where}: id {result['id']} ({result['text'] or result['path']}) at rank {result['rank']} is new"
            continue
        for field in FIELDS:
            assert result[field] == old[field], f"{where}: id {result['id']} {field} {result[field]!r}, was {old[field]!r}"
        assert same_path(result["path"], old["path"], root), f"{where}: path {result['path']}, was {old['path']}"
        for number in ("score", "cosine"):
            assert abs(result[number] - old[number]) <= TOL, \
                f"{where}: id {result['id']} {number} {result[number]}, was {old[number]} (tolerance {TOL})"
        if old["rank"] != result["rank"]:  # moved: only past a near-tie
            displaced = want[position]
            assert abs(displaced["score"] - old["score"]) <= NEAR_TIE, \
                f"{where}: id {result['id']} at rank {result['rank']}, was rank {old['rank']} (id {displaced['id']} " \
                f"was there, {displaced['score']} vs {old['score']}: not a near-tie)"
    for missing in set(recorded) - {r["id"] for r in got}:  # dropped out at the cut-off
        assert abs(recorded[missing]["score"] - last) <= NEAR_TIE, f"{where}: id {missing} is missing"


# -- the tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(EXPECTED["indexes"]))
def test_indexes_open_with_the_same_manifest_facts(opened, name):
    index, space = opened[name]
    facts = EXPECTED["indexes"][name]
    assert len(index) == facts["count"]
    assert index.space_id == facts["space_id"]
    assert space.id == index.space_id  # the space loaded from the spec typed then is the one it was built with
    assert index.dim == facts["dim"] and space.dim == facts["dim"]
    assert index.kind == facts["kind"]
    manifest = index.manifest
    assert manifest["space_spec"] == facts["space_spec"]
    assert manifest["index"]["factory"] == facts["factory"]
    assert {k: manifest["counts"][k] for k in facts["counts"]} == facts["counts"]


def test_image_queries_go_through_the_map(opened):
    index, space = opened["words"]
    assert "images=map:emoji" in index.space_id and "images=map:emoji" in index.manifest["space_spec"]
    assert list(space.image_routes()) == EXPECTED["indexes"]["words"]["image_routes"] == ["map", "conse"]
    # the id tells the map from ConSE: the default space (images through ConSE) is refused
    _, conse_space = opened["plain"]
    assert conse_space.id != index.space_id
    with pytest.raises(EmbedspaceError):
        query.search(index, conse_space, text="perro", k=1)
    # the image cases of test_queries_answer_as_before are answered through this space
    assert any({"image_file", "image_files"} & set(c["kwargs"]) for c in EXPECTED["cases"] if c["index"] == "words")


# Answers changed on purpose (issue 18): an unfiltered search of an index holding texts and images
# now alternates each kind's list (rank fusion, query.nearest_mixed). What must not change is each
# kind's own ranking and cosines: checked against the old answer's items of that kind.
FUSED = {"search perro", "search image dog (not indexed)", "search_many texts", "search_many images"}


def assert_kinds_ranked_as_before(actual: dict, want: dict, name: str) -> None:
    old_cosines = {r["id"]: r["cosine"] for r in want["results"]}
    for kind in ("text", "image"):
        got = [r["id"] for r in actual["results"] if r["kind"] == kind]
        old = [r["id"] for r in want["results"] if r["kind"] == kind]
        shared = min(len(got), len(old))
        assert got[:shared] == old[:shared], (name, kind, got, old)
    for r in actual["results"]:
        if r["id"] in old_cosines:
            assert r["cosine"] == pytest.approx(old_cosines[r["id"]], abs=1e-4), (name, r)


# Answers changed on purpose (issue 19): `translate` now re-orders CSLS's top 10 of a one-word query
# into English by spelling + frequency by default, and its score is CSLS plus those terms. The v1
# answers are CSLS's own, so they are asked with re-ranking off; tests/maps/test_rerank.py checks
# that the default answer is exactly CSLS's top 10 re-ordered by the added terms.
CSLS_AS_RECORDED = {"translate": {"rerank": "none"}, "translate_many": {"rerank": "none"}}
CLI_CSLS_AS_RECORDED = {"translate": ["--rerank", "none"]}


@pytest.mark.parametrize("name", list(CASES))
def test_queries_answer_as_before(opened, fixture_copy, helpful_maps, monkeypatch, name):
    """A case that applied the old map is asked with that map marked as helping words (now the condition)."""
    case = CASES[name]
    index, space = opened[case["index"]]
    if applies_the_map(case):
        monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(helpful_maps))
    case = {**case, "kwargs": {**case["kwargs"], **CSLS_AS_RECORDED.get(case["call"], {})}}
    actual = run_case(case, index, space, fixture_copy)
    if name in FUSED:
        wants = case["results"] if "results" in case else [case["result"]]
        for got, want in zip(actual if "results" in case else [actual], wants, strict=True):
            assert_kinds_ranked_as_before(got, want, name)
        return
    if "results" in case:  # a *_many form: one answer a query, in order
        assert isinstance(actual, list) and len(actual) == len(case["results"])
        for i, (got, want, next_score) in enumerate(zip(actual, case["results"], case["next_scores"])):
            assert_same_results(got, want, next_score, fixture_copy, f"{name} [{i}]")
    else:
        assert_same_results(actual, case["result"], case["next_score"], fixture_copy, name)


def test_translation_uses_the_saved_text_map(opened, fixture_copy, tmp_path, monkeypatch):
    """The v1 es->en map (fitted on pairs, checked on no words) is found but not applied, and the
    answer says why; the same map marked as helping words is applied (changing the scores); marked
    as not helping, it is not. `text_map` says whether it was applied, `setting` which and why."""
    index, space = opened["words"]
    without = query.translate(index, space, "perro", to="en", from_="es", use_text_map=False)
    unverified = query.translate(index, space, "perro", to="en", from_="es")
    assert CASES["translate perro es->en csls map"]["result"]["text_map"] is True  # the old code applied it
    assert unverified["text_map"] is False and "no verdict on words" in unverified["setting"]
    assert [r["score"] for r in unverified["results"]] == [r["score"] for r in without["results"]]

    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(with_words_verdict(fixture_copy / "indexes" / "maps",
                                                                    tmp_path / "helps", True)))
    with_map = query.translate(index, space, "perro", to="en", from_="es")
    assert with_map["text_map"] is True and "es->en text map applied" in with_map["setting"]
    assert abs(with_map["results"][0]["score"] - without["results"][0]["score"]) > 0.01
    no_source = query.translate(index, space, "perro", to="en")  # no --from: no map applies
    assert no_source["text_map"] is False and "give --from" in no_source["setting"]

    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(with_words_verdict(fixture_copy / "indexes" / "maps",
                                                                    tmp_path / "hurts", False)))
    hurts = query.translate(index, space, "perro", to="en", from_="es")
    assert hurts["text_map"] is False and "does not help words" in hurts["setting"]


@pytest.mark.parametrize("case", EXPECTED["cli"], ids=lambda c: c["name"])
def test_cli_json_answers_as_before(fixture_copy, helpful_maps, case):
    """The CLI, in a subprocess importing this same embedspace, run from the copied fixture. Every
    recorded key keeps its meaning; translate adds `setting` (which map, or why none)."""
    package_root = str(Path(embedspace.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    if applies_the_map(case):
        env["EMBEDSPACE_MAP_DIR"] = str(helpful_maps)
    argv = [*case["argv"], *CLI_CSLS_AS_RECORDED.get(case["argv"][0], [])]
    done = subprocess.run([sys.executable, "-m", "embedspace.cli", *argv], cwd=fixture_copy, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    actual = json.loads(done.stdout)
    added = {"setting"} if case["argv"][0] == "translate" else set()
    assert set(actual) == set(case["result"]) | added
    assert all(set(r) == set(case["result"]["results"][0]) for r in actual["results"])  # the JSON shape
    assert_same_results(actual, case["result"], case["next_score"], fixture_copy, case["name"])


def test_fixture_files_are_the_ones_the_old_code_wrote():
    """Nothing rebuilt or rewrote the fixture in the repository (this test run included)."""
    files = {str(p.relative_to(FIXTURE)): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(FIXTURE.rglob("*")) if p.is_file() and p.name != "expected.json"}
    assert files == EXPECTED["files"]
    assert EXPECTED["built_by"]["commit"].startswith("435d9c9")
    manifests = [json.loads((FIXTURE / "indexes" / name / "manifest.json").read_text()) for name in EXPECTED["indexes"]]
    assert [m["format_version"] for m in manifests] == [1, 1]
