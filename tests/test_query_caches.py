"""The CSLS cache of query.py: a damaged or misplaced file is computed again, never used."""

import shutil

import numpy as np
import pandas as pd
import pytest
from cache_damage import DAMAGES, damage

from embedspace import query
from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index

WORDS = [  # en, es, de
    ("dog", "perro", "Hund"), ("cat", "gato", "Katze"), ("bear", "oso", "Bär"), ("baby", "bebé", "Baby"),
    ("dad", "papá", "Papa"), ("house", "casa", "Haus"), ("king", "rey", "König"), ("water", "agua", "Wasser"),
    ("bread", "pan", "Brot"), ("book", "libro", "Buch"), ("tree", "árbol", "Baum"), ("sun", "sol", "Sonne"),
    ("moon", "luna", "Mond"), ("city", "ciudad", "Stadt"), ("money", "dinero", "Geld"), ("car", "coche", "Auto"),
]


@pytest.fixture(scope="module")
def words_root(tmp_path_factory):
    rows = [{"text": word, "lang": lang} for names in WORDS for lang, word in zip(("en", "es", "de"), names)]
    root = tmp_path_factory.mktemp("indexes")
    pd.DataFrame(rows).to_csv(root / "words.csv", index=False)
    build_index("words", [root / "words.csv"], space="use-m3", read_options=ReadOptions(lang_column="lang"),
                index_dir=root)
    return root


def translate(root, to="en"):
    """'perro' translated by CSLS in a freshly opened index (as a new process would: no memo)."""
    index = Index.open("words", root)
    return query.translate(index, index.load_space(), "perro", to=to, k=5)["results"]


def assert_same_translation(found, expected):
    assert [r["id"] for r in found] == [r["id"] for r in expected]
    np.testing.assert_allclose([r["score"] for r in found], [r["score"] for r in expected], atol=1e-6)


@pytest.mark.parametrize("kind", DAMAGES)
def test_a_damaged_csls_cache_is_computed_again_not_used(words_root, kind, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    expected = translate(words_root)
    [path] = (tmp_path / "csls").iterdir()
    written = path.read_bytes()
    damage(path, kind, query.csls_source_hubness(Index.open("words", words_root), "en", None))
    found = translate(words_root)
    assert np.isfinite([r["score"] for r in found]).all()
    assert_same_translation(found, expected)
    assert path.read_bytes() == written  # rewritten, so the next process reads good values


def test_a_csls_cache_of_another_language_is_not_used(words_root, tmp_path, monkeypatch):
    """A file moved or copied to another entry's name passes every check of shape: its key tells."""
    monkeypatch.setenv("EMBEDSPACE_CACHE_DIR", str(tmp_path))
    expected = translate(words_root, to="en")
    [en_path] = (tmp_path / "csls").iterdir()
    translate(words_root, to="de")
    [de_path] = [p for p in (tmp_path / "csls").iterdir() if p != en_path]
    written = en_path.read_bytes()
    shutil.copyfile(de_path, en_path)
    assert_same_translation(translate(words_root, to="en"), expected)
    assert en_path.read_bytes() == written
