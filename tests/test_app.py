"""The Streamlit app (app.py) driven headless with AppTest, and the page logic it wires.

AppTest in this Streamlit can upload files (FileUploader.set_value), so the image path is
tested through the page too; read_upload is also tested alone for the three kinds of file.
"""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from embedspace import InputError
from embedspace import streamlit_helpers as helpers

pytest.importorskip("streamlit")
pytest.importorskip("plotly")
from streamlit.testing.v1 import AppTest  # noqa: E402

APP = str(Path(__file__).resolve().parent.parent / "app.py")
# The first run loads use-m3, a later one the image classifier: seconds each on 2 cores.
TIMEOUT = 120


def run_app(**changes) -> AppTest:
    """The page after its first run, then after setting widgets by key (value or upload tuple)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    if changes:
        for key, value in changes.items():
            at.get_by_key(key).set_value(value)
        at.run()
    return at


def similarity_table(at):
    """The rendered cosine matrix: the one dataframe whose rows and columns are the same labels."""
    for frame in at.dataframe:
        value = frame.value
        if list(value.index) == list(value.columns):
            return value
    raise AssertionError("no similarity matrix on the page")


def errors(at) -> str:
    return " | ".join(error.value for error in at.error)


def png_bytes(array) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def cat_png(cat_photo) -> bytes:
    return png_bytes(cat_photo)


# -- the page ------------------------------------------------------------------------------
def test_default_page_shows_similarity_and_tokens():
    at = run_app()
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert list(table.index) == ["dog", "perro", "coche"]
    assert np.allclose(np.diag(table.to_numpy()), 1.0, atol=1e-4)
    # The first look has to make the point: a translation is closer than an unrelated word.
    assert table.loc["dog", "perro"] > table.loc["dog", "coche"]
    assert at.get("plotly_chart"), "the heatmap is missing"
    tokens = next(frame.value for frame in at.dataframe if "tokens" in frame.value.columns)
    assert "▁perro" in tokens.set_index("text").loc["perro", "tokens"]
    assert "use-m3" in " ".join(code.value for code in at.sidebar.code)


def test_changing_texts_updates_the_result():
    at = run_app(text_1="cat", text_2="coche", more_texts="gato\n\nauto\n")
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert list(table.index) == ["cat", "coche", "gato", "auto"]  # the blank line is skipped
    assert table.loc["cat", "gato"] > table.loc["cat", "coche"]
    assert table.loc["coche", "auto"] > table.loc["coche", "gato"]


def test_empty_text_shows_an_error_not_an_exception():
    at = run_app(text_2="   ")
    assert not at.exception
    assert "Text 2 is empty" in errors(at)
    assert not at.dataframe


def test_glove_with_an_unknown_word_shows_an_error():
    at = run_app(space_choice="glove-6b-50d", text_1="qzxwvj")
    assert not at.exception
    assert "'qzxwvj' is not among GloVe's" in errors(at)


def test_unknown_typed_spec_shows_an_error():
    at = run_app(space_spec="no-such-space")
    assert not at.exception
    assert "Unknown space 'no-such-space'" in errors(at)
    assert not at.dataframe


@pytest.mark.slow
def test_uploaded_image_is_shown_and_compared(cat_png):
    at = run_app(text_1="cat", text_2="car", more_texts="", image_upload=("chelsea.png", cat_png, "image/png"))
    assert not at.exception and not at.error
    table = similarity_table(at)
    assert list(table.index) == ["cat", "car", "image: chelsea.png"]
    assert table.loc["image: chelsea.png", "cat"] > table.loc["image: chelsea.png", "car"]
    assert [image.captions for image in at.image] == [["chelsea.png"]], "the uploaded image is not shown"


def test_image_to_glove_shows_an_error(cat_png):
    at = run_app(space_choice="glove-6b-50d", image_upload=("chelsea.png", cat_png, "image/png"))
    assert not at.exception
    assert "takes no images" in errors(at)


def test_non_image_upload_shows_an_error_and_texts_are_still_compared():
    at = run_app(image_upload=("notes.png", b"these are notes, not pixels", "image/png"))
    assert not at.exception
    assert "'notes.png' is not an image" in errors(at)
    assert list(similarity_table(at).index) == ["dog", "perro", "coche"]


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
