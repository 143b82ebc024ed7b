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


def read_all(path, options=None):
    """(texts kept, skip records) of one source."""
    chunks = list(read_chunks([path], options or ReadOptions()))
    return [i["text"] for c in chunks for i in c.items], [s for c in chunks for s in c.skipped]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_every_table_format_reads_the_same_items(tmp_path, suffix):
    path = write(pd.DataFrame(ROWS), tmp_path / f"words{suffix}")
    chunks = list(read_chunks([path], OPTIONS))
    items = [item for chunk in chunks for item in chunk.items]
    assert [(i["text"], i["lang"], i["concept"]) for i in items] == [
        ("perro", "es", "dog"), ("Hund", "de", "dog"), ("狗", "zh-Hant", "dog")]
    assert json.loads(items[0]["meta"]) == {"pos": "noun"}
    # where a person finds the empty cell: the line an editor shows (the header is line 1), or the row
    where = {".csv": "line 4", ".tsv": "line 4", ".jsonl": "line 3", ".parquet": "row 3"}[suffix]
    assert [s["where"] for c in chunks for s in c.skipped] == [where]
    assert [i["id"] for i in items] == [0, 1, 2]


def test_unknown_columns_and_bad_languages_are_named(tmp_path):
    path = write(pd.DataFrame(ROWS), tmp_path / "w.csv")
    with pytest.raises(InputError, match="no column 'lang'.*word, language"):
        list(read_chunks([path], ReadOptions(text_column="word", lang_column="lang")))
    unnamed = write(pd.DataFrame([{"palabra": "perro"}]), tmp_path / "u.csv")
    with pytest.raises(InputError, match="which column holds the text.*palabra"):
        list(read_chunks([unnamed], ReadOptions()))
    bad = write(pd.DataFrame([{"text": "x", "lang": "klingonish"}, {"text": "y", "lang": "es"}]), tmp_path / "bad.csv")
    texts, skipped = read_all(bad, ReadOptions(lang_column="lang"))  # one row's bad code costs that row only
    assert texts == ["y"] and skipped[0]["where"] == "line 2" and "'klingonish' is not a language code" in skipped[0]["reason"]
    with pytest.raises(InputError, match="--lang for .*not a language code"):
        list(read_chunks([bad], ReadOptions(lang="klingonish")))


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


# -- bad input never loses good input: one bad line or cell is skipped with where and why -------
def test_a_bad_utf8_line_in_a_text_file_is_skipped_and_the_rest_kept(tmp_path):
    path = tmp_path / "words.txt"
    path.write_bytes(b"perro\nga\xfft\nHund\n")
    texts, skipped = read_all(path)
    assert texts == ["perro", "Hund"]
    assert [(s["where"], s["source"]) for s in skipped] == [("line 2, byte 3", str(path.resolve()))]
    assert "not UTF-8 (byte 0xFF)" in skipped[0]["reason"]


def test_a_ragged_csv_row_is_skipped_by_its_line_and_the_rest_kept(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text('text,lang\nperro,es\n"Hund, der",de,extra\ngato\n"multi\nline",en\nchat,fr\n')
    texts, skipped = read_all(path, ReadOptions(lang_column="lang"))
    assert texts == ["perro", "multi\nline", "chat"]
    assert [s["where"] for s in skipped] == ["line 3", "line 4"]  # as an editor numbers them
    assert "3 fields" in skipped[0]["reason"] and "1 field" in skipped[1]["reason"]


def test_a_broken_jsonl_line_is_skipped_by_its_line_and_the_rest_kept(tmp_path):
    path = tmp_path / "words.jsonl"
    path.write_text('{"text": "perro"}\n{"text": "Hund"\n\n[1, 2]\n{"text": "gato"}\n')
    texts, skipped = read_all(path)
    assert texts == ["perro", "gato"]
    assert [s["where"] for s in skipped] == ["line 2, character 16", "line 4"]
    assert "not valid JSON" in skipped[0]["reason"] and "not a JSON object" in skipped[1]["reason"]


def test_a_lone_surrogate_in_a_text_item_is_skipped_not_a_crash(tmp_path):
    path = tmp_path / "words.jsonl"
    path.write_text('{"text": "perro"}\n{"text": "ga\\ud800to"}\n{"text": "Hund"}\n')
    texts, skipped = read_all(path)
    assert texts == ["perro", "Hund"]
    assert skipped[0]["where"] == "line 2" and "lone surrogate U+D800" in skipped[0]["reason"]
    json.dumps(skipped, ensure_ascii=False).encode()  # the record itself can be written as UTF-8


def test_parquet_cells_that_are_not_text_are_skipped_with_their_type(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "cells.parquet"
    table = pa.table({"text": pa.array(["perro", None, "Hund"], pa.string()),
                      "number": pa.array([1.5, 2.0, float("nan")], pa.float64())})
    pq.write_table(table, path)
    texts, skipped = read_all(path)
    assert texts == ["perro", "Hund"] and [s["where"] for s in skipped] == ["row 2"]
    assert "empty 'text' cell" in skipped[0]["reason"]
    texts, skipped = read_all(path, ReadOptions(text_column="number"))
    assert texts == [] and [s["where"] for s in skipped] == ["row 1", "row 2", "row 3"]
    assert "'number' holds a float" in skipped[0]["reason"] and "empty 'number' cell" in skipped[2]["reason"]
    lists = tmp_path / "lists.parquet"
    pq.write_table(pa.table({"text": [[1, 2], [3]], "n": [1, 2]}), lists)
    assert "'text' holds a list" in read_all(lists)[1][0]["reason"]
    assert "'n' holds an int" in read_all(lists, ReadOptions(text_column="n"))[1][0]["reason"]


def test_a_skip_record_keeps_an_excerpt_not_the_whole_text(tmp_path):
    long_line = "a" * 5_242_880
    path = tmp_path / "long.txt"
    path.write_text(f"perro\n{long_line}\nHund\n")
    report = build_index("long", [path], space="use-m3", index_dir=tmp_path)
    assert report.added == 2 and len(report.skipped) == 1
    def skipped_file():
        return Index.open("long", tmp_path).folder / "skipped.jsonl"

    assert skipped_file().stat().st_size < 2_000
    record = json.loads(skipped_file().read_text())
    assert "5,242,880 characters" in record["where"]
    (tmp_path / "more.txt").write_text("gato\n")
    build_index("long", [tmp_path / "more.txt"], add=True, index_dir=tmp_path)
    assert skipped_file().stat().st_size < 2_000 and len(Index.open("long", tmp_path).skipped()) == 1


def test_an_image_whose_file_name_is_not_utf8_is_skipped_not_a_crash(tmp_path, cat_photo):
    import os

    folder = tmp_path / "pics"
    folder.mkdir()
    Image.fromarray(cat_photo).save(folder / "cat.png")
    Image.fromarray(cat_photo[::2]).save(os.fsdecode(bytes(folder) + b"/g\xffto.png"))
    report = build_index("pics", [folder], space="use-m3", index_dir=tmp_path / "idx")
    assert report.added == 1 and len(report.skipped) == 1
    assert "not UTF-8" in report.skipped[0]["reason"] and report.skipped[0]["where"] == "g\\udcffto.png"
    with pytest.raises(InputError, match="name is not UTF-8"):
        build_index("one", [os.fsdecode(bytes(folder) + b"/g\xffto.png")], space="use-m3", index_dir=tmp_path / "idx")


def test_a_table_naming_a_device_or_a_fifo_as_an_image_skips_it_and_ends(tmp_path, cat_photo):
    """Only regular files are read: hashing /dev/zero or a FIFO named in a table never ended."""
    import os

    Image.fromarray(cat_photo).save(tmp_path / "cat.jpg")
    os.mkfifo(tmp_path / "pipe.png")
    table = write(pd.DataFrame([{"image": "cat.jpg"}, {"image": "/dev/zero"}, {"image": "pipe.png"}]), tmp_path / "t.csv")
    report = build_index("pics", [table], space="use-m3", index_dir=tmp_path / "idx",
                         read_options=ReadOptions(image_column="image"))
    assert report.added == 1 and len(report.skipped) == 2
    assert all("not a regular file" in s["reason"] for s in report.skipped)


def test_skips_after_a_chunk_boundary_are_reported(tmp_path):
    """A reader's skips land in the chunk being filled, also after the reader crossed a chunk
    boundary. Runners take a chunk's skips when it is yielded (embed_chunk copies them), so a skip
    added to an already yielded chunk is lost: the snapshot below is what a runner sees."""
    path = tmp_path / "words.txt"
    path.write_text("uno\ndos\n\ntres\n\n")
    seen = [(chunk.items, list(chunk.skipped)) for chunk in read_chunks([path], ReadOptions(lang="es"), chunk_size=1)]
    assert [item["text"] for items, _ in seen for item in items] == ["uno", "dos", "tres"]
    assert sorted(skip["where"] for _, skipped in seen for skip in skipped) == ["line 3", "line 5"]
    report = build_index("words", [path], space="use-m3", read_options=ReadOptions(lang="es"), index_dir=tmp_path,
                         chunk_size=1)
    assert sorted(skip["where"] for skip in report.skipped) == ["line 3", "line 5"]
