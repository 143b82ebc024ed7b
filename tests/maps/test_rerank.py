"""Re-ranking translation candidates with a second space (embedspace/maps/rerank.py)."""

from pathlib import Path

import numpy as np
import pytest

from embedspace import query
from embedspace.errors import InputError
from embedspace.index import Index
from embedspace.maps.rerank import RERANK_CANDIDATES, RERANK_WEIGHT, rerank_order

FIXTURE = Path(__file__).parents[1] / "fixtures" / "v1"


def test_rerank_order_adds_the_weighted_second_cosine():
    first = np.array([0.50, 0.45, 0.40, 0.10])
    second = np.array([0.10, 0.20, 0.30, 0.90])
    assert rerank_order(first, second, 0.0).tolist() == [0, 1, 2, 3]  # weight 0: the first order
    assert rerank_order(first, second, 2.0).tolist() == [3, 2, 1, 0]  # 0.1 + 1.8 beats 0.5 + 0.2
    matrix = rerank_order(np.stack([first, first]), np.stack([second, -second]), 2.0)
    assert matrix.tolist() == [[3, 2, 1, 0], [0, 1, 2, 3]]


@pytest.fixture()
def words_index(tmp_path, monkeypatch):
    import shutil

    shutil.copytree(FIXTURE, tmp_path / "v1")
    monkeypatch.setenv("EMBEDSPACE_INDEX_DIR", str(tmp_path / "v1" / "indexes"))
    monkeypatch.setenv("EMBEDSPACE_MAP_DIR", str(tmp_path / "v1" / "indexes" / "maps"))
    return Index.open("plain", tmp_path / "v1" / "indexes")


def test_translate_reranks_csls_top_candidates_with_e5_small(words_index, use_space, e5_space):
    """The re-ranked answer is CSLS's top candidates re-ordered by CSLS + w x e5-small cosine; the setting says so."""
    plain = query.translate(words_index, use_space, "perro", to="en", from_="es", k=RERANK_CANDIDATES, rerank="none")
    reranked = query.translate(words_index, use_space, "perro", to="en", from_="es", k=RERANK_CANDIDATES,
                               rerank="e5-small")
    assert "re-ranked by e5-small" in reranked["setting"] and "no re-ranking" in plain["setting"]
    assert {r["id"] for r in reranked["results"]} == {r["id"] for r in plain["results"]}
    texts = [r["text"] for r in plain["results"]]
    vectors = e5_space.embed_texts(["perro", *texts], role="query")
    expected = np.array([r["score"] for r in plain["results"]]) + RERANK_WEIGHT * (vectors[1:] @ vectors[0])
    assert [r["text"] for r in reranked["results"]] == [texts[i] for i in np.argsort(-expected, kind="stable")]
    assert [r["score"] for r in reranked["results"]] == pytest.approx(sorted(expected, reverse=True), abs=1e-4)
    with pytest.raises(InputError, match="csls"):
        query.translate(words_index, use_space, "perro", to="en", method="nn", rerank="e5-small")
    with pytest.raises(InputError, match="not measured"):
        query.translate(words_index, use_space, "perro", to="en", rerank="glove-6b-50d")


# -- the default: spelling + frequency ---------------------------------------------------------------
def test_spelling_similarity_sees_cognates_across_accents_and_case_and_nothing_across_scripts():
    from embedspace.maps.rerank import spelling_similarity

    assert spelling_similarity("Nación", "nation") > 0.4 > spelling_similarity("nación", "people")
    assert spelling_similarity("CAFÉ", "cafe") == 1.0
    assert spelling_similarity("собака", "dog") == 0.0 and spelling_similarity("犬", "dog") == 0.0


def test_frequency_feature_is_centred_and_zero_without_a_wordfreq_entry():
    from embedspace.maps.rerank import frequency_feature, zipf_frequency

    feature = frequency_feature(["the", "nation", "xqzvkjw", "united states"], "en")
    assert feature[2] == 0.0 and feature[3] == 0.0  # no entry (a made-up word, a phrase): neutral
    assert feature[0] > 0 > feature[1] and feature[0] - feature[1] == pytest.approx(
        zipf_frequency("the", "en") - zipf_frequency("nation", "en"))
    assert frequency_feature(["xqzvkjw", "qqxwz"], "en").tolist() == [0.0, 0.0]
    assert frequency_feature(["dog"], "xx-not-a-language").tolist() == [0.0]


def test_feature_rerank_lets_a_cognate_overtake_a_near_equal_csls_score_and_leaves_other_scripts_to_frequency():
    from embedspace.maps.rerank import FREQUENCY_WEIGHT, feature_rerank, feature_scores, frequency_feature

    csls = np.array([0.300, 0.295])  # 'country' first by CSLS, 'nation' a hair behind
    order, combined = feature_rerank("nación", ["country", "nation"], csls, "en")
    assert order.tolist() == [1, 0] and combined[0] > combined[1]
    # Cyrillic shares no trigram with English: only the frequency term is added.
    candidates = ["country", "nation"]
    assert feature_scores("нация", candidates, "en") == pytest.approx(FREQUENCY_WEIGHT * frequency_feature(candidates, "en"))


def test_an_english_inflection_of_another_candidate_is_marked_and_yields_to_its_base_form():
    from embedspace.maps.rerank import BASE_FORM_WEIGHT, english_inflections, feature_rerank, inflection_feature

    assert {"knows", "knowing", "known"} & english_inflections("know") == {"knows", "knowing"}  # regular only
    assert {"making", "made"} & english_inflections("make") == {"making"}
    assert {"stopping", "stopped", "carries", "carried"} <= english_inflections("stop") | english_inflections("carry")
    candidates = ["knowing", "Know", "knowledge", "walks", "known"]
    assert inflection_feature(candidates).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]  # walks: no "walk" among them
    # CSLS puts "knowing" a little ahead of "know": the base form comes first; a wide lead is kept.
    close = feature_rerank("conoscere", ["knowing", "know"], np.array([0.300, 0.300 - BASE_FORM_WEIGHT / 2]), "en")[0]
    wide = feature_rerank("conoscere", ["knowing", "know"], np.array([0.300, 0.300 - 2 * BASE_FORM_WEIGHT]), "en")[0]
    assert close.tolist() == [1, 0] and wide.tolist() == [0, 1]


def test_the_word_class_term_needs_the_query_language_and_puts_a_fitting_class_first():
    from embedspace.maps.rerank import (
        WORD_CLASS_AGREE_WEIGHT,
        WORD_CLASS_CONFLICT_WEIGHT,
        feature_rerank,
        feature_scores,
        feature_setting,
        word_class_feature,
    )

    candidates = ["criticism", "criticize", "blame"]
    assert word_class_feature("critiquer", "fr", candidates).tolist() == pytest.approx(
        [-WORD_CLASS_CONFLICT_WEIGHT, WORD_CLASS_AGREE_WEIGHT, WORD_CLASS_AGREE_WEIGHT])
    for source in (None, "de", "ja"):  # no language given, or one without an ending table: no term
        assert word_class_feature("critiquer", source, candidates).tolist() == [0.0, 0.0, 0.0]
    assert (feature_scores("critiquer", candidates, "en", source="fr") - feature_scores("critiquer", candidates, "en")
            == pytest.approx(word_class_feature("critiquer", "fr", candidates)))
    csls = np.array([0.40, 0.35, 0.10])  # CSLS: the noun a little ahead of the verb
    assert feature_rerank("critiquer", candidates, csls, "en")[0].tolist()[:2] == [0, 1]
    assert feature_rerank("critiquer", candidates, csls, "en", "fr")[0].tolist()[:2] == [1, 0]
    assert "word class" in feature_setting("es") and "the es query" in feature_setting("es")
    assert "no --from given" in feature_setting(None) and "no ending table for de" in feature_setting("de")


def test_feature_rerank_moves_only_the_top_candidates_so_the_top_does_not_depend_on_k():
    from embedspace.maps.rerank import RERANK_CANDIDATES, feature_rerank

    texts = [f"word{i}" for i in range(RERANK_CANDIDATES)] + ["nacion"]
    csls = np.linspace(0.5, 0.4, len(texts))
    order, _ = feature_rerank("nacion", texts, csls, "en")  # the exact spelling sits 11th: it stays there
    assert order[-1] == RERANK_CANDIDATES and sorted(order[:-1].tolist()) == list(range(RERANK_CANDIDATES))


def test_translate_reranks_by_spelling_and_frequency_by_default_and_none_keeps_csls(words_index, use_space):
    """The default answer is CSLS's top 10 re-ordered by CSLS + the feature terms; the setting says so
    and each score is that sum; --rerank none gives CSLS's order; phrases and other targets are not re-ranked."""
    from embedspace.maps.rerank import feature_scores

    plain = query.translate(words_index, use_space, "perro", to="en", from_="es", k=RERANK_CANDIDATES, rerank="none")
    default = query.translate(words_index, use_space, "perro", to="en", from_="es", k=RERANK_CANDIDATES)
    assert "no re-ranking" in plain["setting"] and "re-ranked by spelling + frequency" in default["setting"]
    scores = [r["score"] for r in plain["results"]]
    assert scores == sorted(scores, reverse=True)  # none: CSLS's order
    texts = [r["text"] for r in plain["results"]]
    expected = np.array(scores) + feature_scores("perro", texts, "en", source="es")
    assert [r["text"] for r in default["results"]] == [texts[i] for i in np.argsort(-expected, kind="stable")]
    assert [r["score"] for r in default["results"]] == pytest.approx(sorted(expected, reverse=True), abs=1e-4)
    top3 = query.translate(words_index, use_space, "perro", to="en", from_="es", k=3)
    assert [r["id"] for r in top3["results"]] == [r["id"] for r in default["results"][:3]]
    for text, to in (("perro grande", "en"), ("perro", "de")):
        kept = query.translate(words_index, use_space, text, to=to, from_="es")
        raw = query.translate(words_index, use_space, text, to=to, from_="es", rerank="none")
        assert "not re-ranked" in kept["setting"] and kept["results"] == raw["results"]
    nn = query.translate(words_index, use_space, "perro", to="en", method="nn")
    assert "not re-ranked" in nn["setting"]
    no_from = query.translate(words_index, use_space, "perro", to="en")
    assert "word class not used: no --from given" in no_from["setting"] and "word class:" in default["setting"]


def test_the_default_re_ranking_is_left_out_for_spaces_it_was_not_measured_on(tmp_path, e5_space):
    """Its weights are in units of use-m3's CSLS scores: an e5-small index gets CSLS's own order, and says why."""
    import pandas as pd

    from embedspace.index import build_index
    from embedspace.index.sources import ReadOptions
    from embedspace.maps.rerank import feature_rerank_skipped

    assert feature_rerank_skipped("perro", "en", "csls", "use-m3") is None
    assert "use-m3 only" in feature_rerank_skipped("perro", "en", "csls", "e5-small")
    assert "use-m3 only" in feature_rerank_skipped("perro", "en", "csls", None)  # a composite space
    words = {"en": "dog cat house water perro table", "es": "perro gato casa agua mesa"}
    rows = [{"text": w, "lang": lang} for lang, ws in words.items() for w in ws.split()]
    pd.DataFrame(rows).to_csv(tmp_path / "words.csv", index=False)
    build_index("e5words", [tmp_path / "words.csv"], space="e5-small", index_dir=tmp_path,
                read_options=ReadOptions(lang_column="lang"), progress=False, layout=None)
    index = Index.open("e5words", tmp_path)
    default = query.translate(index, e5_space, "perro", to="en", from_="es", k=5)
    raw = query.translate(index, e5_space, "perro", to="en", from_="es", k=5, rerank="none")
    assert "use-m3 only" in default["setting"] and default["results"] == raw["results"]
