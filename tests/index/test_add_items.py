"""add_items: items given in memory (texts with their fields, images as bytes) join an index like
items read from files, every item is checked before anything is written, and no path is read."""

import io
import json

import pandas as pd
import pytest
from PIL import Image

from embedspace import InputError, query
from embedspace.index import InlineItem, add_items, build_index, index_version, remove_items
from embedspace.index.sources import ReadOptions
from embedspace.index.store import Index


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture()
def words(tmp_path):
    pd.DataFrame({"text": ["dog", "perro", "house", "casa"], "lang": ["en", "es", "en", "es"]}).to_csv(
        tmp_path / "words.csv", index=False)
    build_index("words", [tmp_path / "words.csv"], space="use-m3", index_dir=tmp_path,
                read_options=ReadOptions(lang_column="lang"))
    return tmp_path


def test_texts_with_their_fields_are_added_and_found(words):
    report = add_items("words", [InlineItem("Katze", lang="deu", label="animal", concept="cat", meta={"note": 1}),
                                 InlineItem("  gato ", lang="es", concept="cat")], index_dir=words)
    assert report.added == 2 and report.ids == [4, 5] and report.total_items == 6
    index = Index.open("words", words)
    katze = index.items[index.items["id"] == 4].iloc[0]
    assert (katze["text"], katze["lang"], katze["label"], katze["concept"]) == ("Katze", "de", "animal", "cat")
    assert json.loads(katze["meta"]) == {"note": 1} and katze["source"] == "inline"
    assert index.items.loc[index.items["id"] == 5, "text"].iloc[0] == "gato"  # stripped, as files are
    found = query.search(index, index.load_space(), "cat", k=2, kind="text")["results"]
    assert {r["text"] for r in found} == {"Katze", "gato"}
    assert index.manifest["builds"][-1]["sources"] == ["inline"]
    assert remove_items("words", source="inline", index_dir=words) == 2


def test_duplicates_are_skipped_and_reported(words):
    report = add_items("words", [InlineItem("perro", lang="es"), InlineItem("gato", lang="es"),
                                 InlineItem("gato", lang="es")], index_dir=words)
    assert report.added == 1 and report.ids == [4]
    assert [s["where"] for s in report.skipped] == ["item 1", "item 3"]
    assert {s["reason"] for s in report.skipped} == {"duplicate of an item already in the index"}


def test_an_add_of_only_duplicates_leaves_the_index_as_it_was(words):
    """Nothing new: no new generation (caches keyed by the index's checksum stay valid), and the
    report says the index is unchanged rather than pointing at a skipped.jsonl it did not write."""
    before = index_version("words", words)
    report = add_items("words", [InlineItem("perro", lang="es"), InlineItem("dog", lang="en")], index_dir=words)
    assert report.added == 0 and report.total_items == 4 and len(report.skipped) == 2
    assert index_version("words", words) == before
    assert "unchanged" in report.summary() and "skipped.jsonl" not in report.summary()
    again = build_index("words", [words / "words.csv"], read_options=ReadOptions(lang_column="lang"), add=True,
                        index_dir=words)
    assert again.added == 0 and index_version("words", words) == before


@pytest.mark.parametrize("item, fragment", [
    (InlineItem(""), "Item 2: its text is empty"),
    (InlineItem(), "Item 2: its text is None"),
    (InlineItem("perro\ud800"), "Item 2: its text holds an invalid character \\(a lone surrogate"),
    (InlineItem("x", lang="not a language"), "Item 2: its lang"),
    (InlineItem(image=b"not an image"), "Item 2: .*not an image"),
    (InlineItem(image=png(Image.new("1", (8000, 8000)))), "Item 2: .*decompression bomb"),
    (InlineItem(image="/etc/passwd"), "Item 2: its image must be the image's bytes, not a str"),
    (InlineItem(image=png(Image.new("RGB", (8, 8))), text=" "), "Item 2: its text is empty"),
])
def test_a_bad_item_is_refused_before_anything_is_written(words, item, fragment):
    before = index_version("words", words)
    with pytest.raises(InputError, match=fragment):
        add_items("words", [InlineItem("gato", lang="es"), item], index_dir=words)
    assert index_version("words", words) == before


@pytest.mark.slow  # loads the image model (ConSE)
def test_an_image_given_as_bytes_is_added_without_a_path(words, cat_photo):
    data = png(Image.fromarray(cat_photo))
    report = add_items("words", [InlineItem(image=data, text="a cat", lang="en", label="photo")], index_dir=words)
    assert report.added == 1
    index = Index.open("words", words)
    item = index.items[index.items["id"] == report.ids[0]].iloc[0]
    assert (item["kind"], item["path"], item["text"], item["lang"], item["label"]) == ("image", None, "a cat", "en", "photo")
    again = add_items("words", [InlineItem(image=data)], index_dir=words, allow_duplicates=False)
    assert again.added == 0 and again.skipped[0]["reason"] == "duplicate of an item already in the index"
