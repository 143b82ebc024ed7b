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
    plain = query.translate(words_index, use_space, "perro", to="en", from_="es", k=RERANK_CANDIDATES)
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
