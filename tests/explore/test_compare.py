"""Page logic of the app that needs no Streamlit: uploads, texts, labels, tokens, the heatmap."""

import io

import pytest
from PIL import Image

from embedspace import InputError
from embedspace.explore import compare as helpers


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cat_png(cat_photo) -> bytes:
    return png_bytes(cat_photo)


# -- page logic without Streamlit ----------------------------------------------------------
def test_read_upload_decodes_a_real_png(cat_png):
    upload = helpers.read_upload("chelsea.png", cat_png)
    assert upload.name == "chelsea.png"
    assert upload.image.mode == "RGB" and upload.image.size == (451, 300)


def test_read_upload_names_the_file_of_a_non_image():
    with pytest.raises(InputError, match=r"'notes.txt' is not an image"):
        helpers.read_upload("notes.txt", b"plain text")


def test_read_upload_reports_a_truncated_jpeg(cat_photo):
    buffer = io.BytesIO()
    Image.fromarray(cat_photo).save(buffer, format="JPEG")
    with pytest.raises(InputError, match=r"'half.jpg' is truncated or corrupt"):
        helpers.read_upload("half.jpg", buffer.getvalue()[: len(buffer.getvalue()) // 2])


def test_collect_texts_requires_the_numbered_fields_and_skips_blank_lines():
    assert helpers.collect_texts([" dog ", "perro"], "coche\n\n  \nHund\n") == ["dog", "perro", "coche", "Hund"]
    with pytest.raises(InputError, match="Text 1 is empty"):
        helpers.collect_texts(["", "perro"])


def test_compare_needs_two_things(use_space):
    with pytest.raises(InputError, match="at least two"):
        helpers.compare(use_space, ["dog"])


def test_labels_are_short_and_unique():
    labels = helpers.display_labels(["dog", "dog", "x" * 100])
    assert labels[:2] == ["dog", "dog (2)"]
    assert len(labels[2]) == helpers.MAX_LABEL_CHARS and labels[2].endswith("…")


def test_typed_spec_overrides_the_picker():
    assert helpers.chosen_spec("use-m3", "  e5-small ") == "e5-small"
    assert helpers.chosen_spec("use-m3", "  ") == "use-m3"


def test_token_view_shows_a_note_shared_by_every_text_once(use_space):
    view = helpers.token_view(use_space, ["dog", "perro"])
    assert view.table["tokens"].tolist() == ["<s> · ▁dog · </s>", "<s> · ▁perro · </s>"]
    assert len(view.notes) == 2 and "SentencePiece" in view.notes[0] and view.notes[1].startswith("▁")
    assert view.notes_by_text == {}


def test_token_view_keeps_notes_that_differ_per_text(e5_space):
    view = helpers.token_view(e5_space, ["dog", "A dog runs in the park"])
    assert view.notes == []
    assert view.table["count"].tolist()[1] > view.table["count"].tolist()[0]
    assert set(view.notes_by_text) == {"dog", "A dog runs in the park"}
    assert set(view.table["tokens"]) == {"(not exposed by the package)"}


def test_heatmap_shows_labels_as_typed_not_as_html(use_space):
    comparison = helpers.compare(use_space, ["<b>dog</b>", "perro"])
    figure = helpers.heatmap_figure(comparison)
    assert list(figure.data[0].x) == ["&lt;b&gt;dog&lt;/b&gt;", "perro"]
    assert list(comparison.table().index) == ["<b>dog</b>", "perro"]  # the table shows plain text
