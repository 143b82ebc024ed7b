"""Indexes: build/add/remove/search/analogy/translate round trips, checked against brute force."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from embedspace import InputError, load_space, query
from embedspace.errors import IndexStateError
from embedspace.index.build import build_index, remove_items
from embedspace.index.export import export_index
from embedspace.index.faiss_index import recall_at_k
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index, IndexLock
from embedspace.vectors import exact_neighbours

CONCEPTS = [  # concept, en, es, de
    ("dog", "dog", "perro", "Hund"), ("cat", "cat", "gato", "Katze"), ("car", "car", "coche", "Auto"),
    ("house", "house", "casa", "Haus"), ("king", "king", "rey", "König"), ("queen", "queen", "reina", "Königin"),
    ("man", "man", "hombre", "Mann"), ("woman", "woman", "mujer", "Frau"), ("water", "water", "agua", "Wasser"),
    ("bread", "bread", "pan", "Brot"), ("book", "book", "libro", "Buch"), ("tree", "tree", "árbol", "Baum"),
    ("sun", "sun", "sol", "Sonne"), ("moon", "moon", "luna", "Mond"), ("city", "city", "ciudad", "Stadt"),
    ("red", "red", "rojo", "rot"), ("money", "money", "dinero", "Geld"), ("school", "school", "escuela", "Schule"),
]


@pytest.fixture(scope="module")
def words_csv(tmp_path_factory):
    rows = [{"text": word, "lang": lang, "concept": concept, "note": f"{lang}-{concept}"}
            for concept, *names in CONCEPTS for lang, word in zip(("en", "es", "de"), names)]
    path = tmp_path_factory.mktemp("data") / "words.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def words_index(words_csv, tmp_path_factory):
    root = tmp_path_factory.mktemp("indexes")
    options = ReadOptions(lang_column="lang", concept_column="concept")
    build_index("words", [words_csv], space="use-m3", read_options=options, index_dir=root)
    return Index.open("words", root)


@pytest.fixture(scope="module")
def glove_words(tmp_path_factory):
    """20,000 frequent GloVe words for the index, and 300 other words as queries."""
    space = load_space("glove-6b-50d")
    words = [w for w in space.words[:40_000] if re.fullmatch("[a-z]+", w)]
    folder = tmp_path_factory.mktemp("glove")
    (folder / "words.txt").write_text("\n".join(words[:20_000]))
    return folder, words[:20_000], words[20_000:20_300]


def test_build_stores_items_with_columns_and_metadata(words_index):
    items = words_index.items
    assert len(items) == 3 * len(CONCEPTS)
    assert items["id"].tolist() == list(range(len(items)))
    perro = items[items["text"] == "perro"].iloc[0]
    assert (perro["lang"], perro["concept"], perro["kind"]) == ("es", "dog", "text")
    assert json.loads(perro["meta"]) == {"note": "es-dog"}
    manifest = words_index.manifest
    assert manifest["counts"]["by_lang"] == {"en": 18, "es": 18, "de": 18}
    assert manifest["index"]["kind"] == "flat" and "below 10,000" in manifest["index"]["reason"]
    assert manifest["space_id"] == load_space("use-m3").id
    assert words_index.vectors.dtype == np.float16


def test_flat_search_equals_brute_force(words_index):
    space = words_index.load_space()
    result = query.search(words_index, space, "perro", k=5)
    vectors = np.asarray(words_index.vectors, dtype=np.float32)
    q = space.embed_text("perro")
    expected = np.argsort(-(vectors @ q))[:5]
    assert [r["id"] for r in result["results"]] == words_index.items["id"].to_numpy()[expected].tolist()
    assert {r["text"] for r in result["results"][:3]} >= {"perro", "dog"}
    assert set(result["results"][0]) == {"rank", "id", "kind", "text", "lang", "label", "concept", "path", "score", "cosine"}


def test_search_filters_by_language_and_kind(words_index):
    space = words_index.load_space()
    result = query.search(words_index, space, "dog", k=3, lang="de")
    assert [r["lang"] for r in result["results"]] == ["de"] * 3
    assert result["results"][0]["text"] == "Hund"
    assert query.search(words_index, space, "dog", kind="image")["results"] == []


def test_translate_finds_the_same_concept(words_index):
    space = words_index.load_space()
    for text, to, concept in (("perro", "en", "dog"), ("Königin", "es", "queen"), ("libro", "de", "book")):
        for method in ("nn", "csls"):
            top = query.translate(words_index, space, text, to=to, method=method, k=1)["results"][0]
            assert (top["concept"], top["lang"]) == (concept, to), (text, method, top)


def test_csls_matches_the_published_formula(words_index):
    """CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y) (Conneau et al. 2018), k = 10, by hand."""
    space = words_index.load_space()
    items, vectors = words_index.items, np.asarray(words_index.vectors, dtype=np.float32)
    x = space.embed_texts(["perro"])[0]
    target = (items["lang"] == "en").to_numpy()
    source = (items["lang"] == "es").to_numpy()

    def mean_top10(v, pool):
        return np.sort(vectors[pool] @ v)[::-1][:10].mean()

    cos = vectors[target] @ x
    r_t = mean_top10(x, target)
    r_s = np.array([mean_top10(y, source) for y in vectors[target]])
    expected = 2 * cos - r_t - r_s
    order = np.argsort(-expected)[:5]
    # CSLS itself: translate's default re-ranking by spelling + frequency adds terms (tests/maps/test_rerank.py)
    result = query.translate(words_index, space, "perro", to="en", from_="es", k=5, rerank="none")["results"]
    assert [r["id"] for r in result] == items["id"].to_numpy()[target][order].tolist()
    np.testing.assert_allclose([r["score"] for r in result], expected[order], atol=1e-4)
    np.testing.assert_allclose([r["cosine"] for r in result], cos[order], atol=1e-4)


def test_3cosmul_and_3cosadd_match_hand_computed_scores(words_index):
    space = words_index.load_space()
    items, vectors = words_index.items, np.asarray(words_index.vectors, dtype=np.float32)
    a, b, c = space.embed_texts(["man", "king", "woman"])
    allowed = ~items["text"].isin(["man", "king", "woman"]).to_numpy()
    cos_a, cos_b, cos_c = (vectors[allowed] @ v for v in (a, b, c))
    shift = lambda s: (1 + s) / 2  # noqa: E731
    hand = {"add": cos_b - cos_a + cos_c, "mul": shift(cos_b) * shift(cos_c) / (shift(cos_a) + 0.001)}
    for method, expected in hand.items():
        result = query.analogy(words_index, space, "man", "king", "woman", k=5, method=method)["results"]
        order = np.argsort(-expected)[:5]
        assert [r["id"] for r in result] == items["id"].to_numpy()[allowed][order].tolist()
        np.testing.assert_allclose([r["score"] for r in result], expected[order], atol=1e-4)
        assert not {"man", "king", "woman"} & {r["text"] for r in result}


def test_glove_analogy_answers_queen_from_the_cli(glove_words, tmp_path, capsys):
    from embedspace.cli import main

    folder, _, _ = glove_words
    # an explicit HNSW: with "auto", a busy machine can time exact search as faster and keep that
    assert main(["build", "g", str(folder / "words.txt"), "--space", "glove-6b-50d", "--lang", "en",
                 "--index-type", "hnsw", "--index-dir", str(tmp_path), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["analogy", "g", "man", "king", "woman", "--index-dir", str(tmp_path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["query"] == ["man", "king", "woman"] and result["results"][0]["text"] == "queen"
    assert main(["info", "g", "--index-dir", str(tmp_path)]) == 0
    info = capsys.readouterr().out
    assert "HNSW" in info and "efSearch=" in info and "recall@10" in info


@pytest.mark.slow
@pytest.mark.parametrize("index_type", ["hnsw", "ivf-pq"])
def test_tuned_approximate_indexes_reach_recall_95_against_numpy(glove_words, tmp_path, index_type):
    folder, words, held_out = glove_words
    build_index("ann", [folder / "words.txt"], space="glove-6b-50d", read_options=ReadOptions(lang="en"),
                index_type=index_type, index_dir=tmp_path)
    index = Index.open("ann", tmp_path)
    assert index.kind == index_type and index.manifest["index"]["search_params"]
    space = index.load_space()
    queries = space.embed_texts(held_out)  # words that are not items of the index
    found = np.array([[words.index(r["text"]) for r in res["results"]]
                      for res in query.search_many(index, space, texts=held_out, k=10)])
    truth = exact_neighbours(queries, np.asarray(index.vectors, dtype=np.float32), 10)[0]
    assert recall_at_k(found, truth) >= 0.95


def test_add_skips_duplicates_and_keeps_ids(words_csv, tmp_path):
    options = ReadOptions(lang_column="lang", concept_column="concept")
    build_index("w", [words_csv], space="use-m3", read_options=options, index_dir=tmp_path)
    again = build_index("w", [words_csv], read_options=options, add=True, index_dir=tmp_path)
    assert again.added == 0 and len(again.skipped) == len(CONCEPTS) * 3
    assert {s["reason"] for s in again.skipped} == {"duplicate of an item already in the index"}
    extra = tmp_path / "extra.txt"
    extra.write_text("perro\nlobo\n\nlobo\n")
    report = build_index("w", [extra], read_options=ReadOptions(lang="es"), add=True, index_dir=tmp_path)
    assert report.added == 1  # 'lobo'; 'perro'/es and the second 'lobo' are exact duplicates
    assert sorted(s["reason"] for s in report.skipped) == [
        "duplicate of an item already in the index"] * 2 + ["empty line"]
    index = Index.open("w", tmp_path)
    lobo_id = int(index.items.loc[index.items["text"] == "lobo", "id"].iloc[0])
    assert lobo_id == len(CONCEPTS) * 3
    assert remove_items("w", filters={"lang": "de"}, index_dir=tmp_path) == len(CONCEPTS)
    index = Index.open("w", tmp_path)
    assert "de" not in set(index.items["lang"]) and len(index) == 2 * len(CONCEPTS) + 1
    assert int(index.items.loc[index.items["text"] == "lobo", "id"].iloc[0]) == lobo_id  # ids never change
    build_index("w", [extra], read_options=ReadOptions(lang="pt"), add=True, index_dir=tmp_path)
    index = Index.open("w", tmp_path)
    assert index.items["id"].max() == lobo_id + 2 and index.items["id"].is_unique
    assert (Index.open("w", tmp_path).folder / "skipped.jsonl").read_text().count("empty line") >= 2


def test_images_and_bad_files_are_skipped_and_listed(tmp_path, cat_photo):
    from PIL import Image

    folder = tmp_path / "photos"
    (folder / "cats").mkdir(parents=True)
    Image.fromarray(cat_photo).save(folder / "cats" / "chelsea.jpg")
    Image.fromarray(cat_photo[:, ::-1].copy()).save(folder / "cats" / "flipped.png")
    (folder / "cats" / "notes.jpg").write_text("not an image")
    (folder / "cats" / "copy.jpg").write_bytes((folder / "cats" / "chelsea.jpg").read_bytes())
    report = build_index("pics", [folder], space="use-m3", index_dir=tmp_path)
    assert report.added == 2
    assert sorted(s["reason"].split(" ")[0] for s in report.skipped) == ["duplicate", f"{folder}/cats/notes.jpg"] or \
        any("not an image" in s["reason"] for s in report.skipped)
    index = Index.open("pics", tmp_path)
    assert set(index.items["label"]) == {"cats"} and set(index.items["kind"]) == {"image"}
    skipped = [json.loads(line) for line in (index.folder / "skipped.jsonl").read_text().splitlines()]
    assert any("not an image" in s["reason"] for s in skipped)
    result = query.search(index, index.load_space(), "gato", k=1)
    assert result["results"][0]["path"].endswith(("chelsea.jpg", "flipped.png"))
    image_query = query.search(index, index.load_space(), image=folder / "cats" / "chelsea.jpg", k=1)
    assert image_query["query"]["image"].endswith("chelsea.jpg")
    assert image_query["results"][0]["cosine"] > 0.99


@pytest.mark.parametrize("victim", ["index.faiss", "items.parquet", "vectors.npy", "manifest.json"])
def test_a_changed_file_is_refused(words_csv, tmp_path, victim):
    build_index("c", [words_csv], space="use-m3", read_options=ReadOptions(lang_column="lang"), index_dir=tmp_path)
    path = Index.open("c", tmp_path).folder / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IndexStateError, match="checksum|corrupt|Rebuild"):
        Index.open("c", tmp_path)


def test_another_space_is_refused(words_index):
    with pytest.raises(IndexStateError, match="built with space use-m3"):
        query.search(words_index, load_space("e5-small"), "perro")
    with pytest.raises(IndexStateError, match="built with space"):
        query.search(words_index, load_space("use-m3[topk=3]"), "perro")


def test_a_second_writer_is_refused(words_csv, tmp_path):
    with IndexLock("busy", tmp_path):
        with pytest.raises(IndexStateError, match="being written"):
            build_index("busy", [words_csv], space="glove-6b-50d", index_dir=tmp_path)


def test_bad_requests_get_clear_errors(words_index, tmp_path):
    space = words_index.load_space()
    with pytest.raises(InputError, match="no text items in 'fr'"):
        query.translate(words_index, space, "perro", to="fr")
    with pytest.raises(InputError, match="add .* or mul"):
        query.analogy(words_index, space, "a", "b", "c", method="sub")
    with pytest.raises(IndexStateError, match="No index 'nope'"):
        Index.open("nope", tmp_path)
    with pytest.raises(InputError, match="no such file"):
        build_index("x", [tmp_path / "missing.txt"], index_dir=tmp_path)
    with pytest.raises(InputError, match="Index name"):
        build_index("../evil", [tmp_path], index_dir=tmp_path)


def test_export_for_the_embedding_projector(words_index, tmp_path):
    files = export_index(words_index, "projector", tmp_path / "out")
    vectors = np.loadtxt(files[0], delimiter="\t")
    assert vectors.shape == (len(words_index), 512)
    lines = files[1].read_text().splitlines()
    assert lines[0].split("\t")[:4] == ["name", "id", "kind", "text"] and len(lines) == len(words_index) + 1
    parquet = export_index(words_index, "parquet", tmp_path / "pq")[0]
    table = pd.read_parquet(parquet)
    assert len(table) == len(words_index) and len(table["vector"].iloc[0]) == 512


def test_small_batches_search_on_one_thread_and_the_setting_is_restored(monkeypatch):
    """Below ONE_THREAD_BELOW queries a search runs on one OpenMP thread (benchmarks/search_threads.py
    measures why); larger batches keep FAISS's width; EMBEDSPACE_SEARCH_THREADS overrides both."""
    import faiss

    from embedspace.index.faiss_index import ONE_THREAD_BELOW, faiss_search, search_threads, search_threads_for

    monkeypatch.delenv("EMBEDSPACE_SEARCH_THREADS", raising=False)
    assert search_threads_for(1) == 1 and search_threads_for(ONE_THREAD_BELOW - 1) == 1
    assert search_threads_for(ONE_THREAD_BELOW) is None
    before = faiss.omp_get_max_threads()
    seen = []

    class Spy:
        ntotal = 5

        def search(self, queries, k):
            seen.append(faiss.omp_get_max_threads())
            return np.zeros((len(queries), k), np.float32), np.zeros((len(queries), k), np.int64)

    faiss_search(Spy(), np.ones((1, 4), np.float32), 3, "flat")
    faiss_search(Spy(), np.ones((ONE_THREAD_BELOW, 4), np.float32), 3, "flat")
    assert seen == [1, before] and faiss.omp_get_max_threads() == before
    # every kind, the float16 flat index of a small kind too: FAISS's scalar quantizer opens a
    # parallel region for one query, and waking its idle thread stalled searches by milliseconds
    for kind in ("float16-flat", "ivf-fastscan", "hnsw", "ivf-rabitq"):
        seen.clear()
        faiss_search(Spy(), np.ones((1, 4), np.float32), 3, kind)
        assert seen == [1], kind
    monkeypatch.setenv("EMBEDSPACE_SEARCH_THREADS", "3")
    assert search_threads_for(1) == search_threads_for(500) == 3
    monkeypatch.setenv("EMBEDSPACE_SEARCH_THREADS", "many")
    with pytest.raises(InputError, match="EMBEDSPACE_SEARCH_THREADS"):
        with search_threads(1):
            pass
    assert faiss.omp_get_max_threads() == before
