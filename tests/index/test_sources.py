"""Readers: tables of every format, captions with images, language normalisation, skipped rows."""

import json

import pandas as pd
import pytest
from PIL import Image

from embedspace import InputError
from embedspace.index.build import build_index
from embedspace.index.sources import ReadOptions, read_chunks
from embedspace.index.store import Index

ROWS = [
    {"word": "perro", "language": "spa", "id_concept": "dog", "pos": "noun"},
    {"word": "Hund", "language": "de-DE", "id_concept": "dog", "pos": "noun"},
    {"word": "", "language": "en", "id_concept": "cat", "pos": "noun"},
    {"word": "狗", "language": "zh-TW", "id_concept": "dog", "pos": "noun"},
]
OPTIONS = ReadOptions(text_column="word", lang_column="language", concept_column="id_concept")


def write(frame: pd.DataFrame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, sep="\t", index=False)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_every_table_format_reads_the_same_items(tmp_path, suffix):
    path = write(pd.DataFrame(ROWS), tmp_path / f"words{suffix}")
    chunks = list(read_chunks([path], OPTIONS))
    items = [item for chunk in chunks for item in chunk.items]
    assert [(i["text"], i["lang"], i["concept"]) for i in items] == [
        ("perro", "es", "dog"), ("Hund", "de", "dog"), ("狗", "zh-Hant", "dog")]
    assert json.loads(items[0]["meta"]) == {"pos": "noun"}
    assert [s["where"] for c in chunks for s in c.skipped] == ["row 3"]
    assert [i["id"] for i in items] == [0, 1, 2]


def test_unknown_columns_and_bad_languages_are_named(tmp_path):
    path = write(pd.DataFrame(ROWS), tmp_path / "w.csv")
    with pytest.raises(InputError, match="no column 'lang'.*word, language"):
        list(read_chunks([path], ReadOptions(text_column="word", lang_column="lang")))
    unnamed = write(pd.DataFrame([{"palabra": "perro"}]), tmp_path / "u.csv")
    with pytest.raises(InputError, match="which column holds the text.*palabra"):
        list(read_chunks([unnamed], ReadOptions()))
    bad = write(pd.DataFrame([{"text": "x", "lang": "klingonish"}]), tmp_path / "bad.csv")
    with pytest.raises(InputError, match="row 1.*not a language code"):
        list(read_chunks([bad], ReadOptions(lang_column="lang")))


def test_table_of_image_paths_with_captions(tmp_path, cat_photo):
    Image.fromarray(cat_photo).save(tmp_path / "cat.jpg")
    table = write(pd.DataFrame([{"image": "cat.jpg", "caption": "un gato", "lang": "es"},
                                {"image": "missing.jpg", "caption": "nada", "lang": "es"}]), tmp_path / "pics.csv")
    report = build_index("pics", [table], space="use-m3", index_dir=tmp_path / "idx",
                         read_options=ReadOptions(image_column="image", text_column="caption", lang_column="lang"))
    assert report.added == 1 and "no such file" in report.skipped[0]["reason"]
    item = Index.open("pics", tmp_path / "idx").items.iloc[0]
    assert (item["kind"], item["text"], item["lang"]) == ("image", "un gato", "es")
    assert item["path"].endswith("cat.jpg")


def test_a_build_with_nothing_to_index_leaves_nothing_behind(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    with pytest.raises(InputError, match="Nothing to index"):
        build_index("e", [empty], space="glove-6b-50d", index_dir=tmp_path)
    assert not (tmp_path / "e").exists() and not (tmp_path / ".e.build").exists()


def test_unknown_file_types_are_refused_up_front(tmp_path):
    odd = tmp_path / "data.xlsx"
    odd.write_bytes(b"PK")
    with pytest.raises(InputError, match="unknown file type '.xlsx'"):
        build_index("x", [odd], index_dir=tmp_path)
