"""Page logic for the Streamlit app (app.py) that needs no Streamlit, so it can be tested alone.

The app only wires widgets to these functions: it collects what a person typed or uploaded,
and everything that can go wrong with that input raises an EmbedspaceError whose message the
page shows as it is. pandas and plotly are imported here because only the app uses this module
(both come with the `app` extra).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import EmbedspaceError, InputError
from ..images import describe, load_image
from ..spaces.catalogue import CATALOGUE
from ..spaces.registry import DEFAULT_SPACE, HUB_EXAMPLES
from ..spaces.space import Tokens

# A first look that means something in every catalogue space (GloVe knows all three words):
# a word, its Spanish translation, and an unrelated Spanish word.
DEFAULT_TEXTS = ("dog", "perro")
DEFAULT_MORE_TEXTS = "coche"
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "gif"]
# Labels name the rows and columns of the matrix: long texts would push the numbers off screen.
MAX_LABEL_CHARS = 32
WORD_START = "▁"  # SentencePiece writes a leading space as this character


# -- choosing a space ----------------------------------------------------------------------
def catalogue_choices() -> dict[str, str]:
    """{name: description} of the catalogue spaces, the default first.

    Read from the catalogue rather than list_spaces(): that also asks the hub about its
    examples, which can wait on a network a picker should not wait for.
    """
    names = [DEFAULT_SPACE] + [name for name in CATALOGUE if name != DEFAULT_SPACE]
    return {name: CATALOGUE[name].description for name in names}


def spec_examples() -> str:
    """Example specs for the free-text spec field's help, one per line."""
    lines = ["e5-small[prefix=asymmetric]", "use-m3[images=none]", "st:/path/to/model", *HUB_EXAMPLES]
    return "\n".join(f"- `{spec}`" for spec in lines)


def chosen_spec(picked: str, typed: str | None) -> str:
    """A typed spec wins over the picker, so any space can be tried without a catalogue entry."""
    typed = (typed or "").strip()
    return typed or picked


def describe_languages(languages: Sequence[str]) -> tuple[str, str]:
    if not languages:
        return "?", "not stated"
    if tuple(languages) == ("*",):
        return "?", "not listed by the model (any it saw in training)"
    return str(len(languages)), ", ".join(languages)


def describe_failure(exc: BaseException) -> str:
    """The message a person sees: an EmbedspaceError's own text, anything else flagged as a bug."""
    if isinstance(exc, EmbedspaceError):
        return str(exc)
    return (
        f"Something failed inside embedspace ({type(exc).__name__}: {exc}). This is a bug, not a "
        "problem with your input; the full traceback is in the server's log."
    )


# -- what a person typed and uploaded ------------------------------------------------------
def collect_texts(fields: Sequence[str | None], more: str | None = "") -> list[str]:
    """Texts from the numbered fields (each must be filled) and the one-per-line area.

    Blank lines in the area are skipped, since a trailing newline is easy to type and means
    nothing; an empty numbered field is an error named as the page names it ("Text 2").
    """
    texts = []
    for number, text in enumerate(fields, start=1):
        text = (text or "").strip()
        if not text:
            raise InputError(f"Text {number} is empty: type a word or a sentence in any language.")
        texts.append(text)
    texts += [line.strip() for line in (more or "").splitlines() if line.strip()]
    return texts


@dataclass
class UploadedImage:
    name: str
    image: object  # an RGB PIL image, ready to show and to embed


def read_upload(name: str, data: bytes) -> UploadedImage:
    """Decode an uploaded file, or raise InputError that names the file as the person knows it."""
    try:
        image = load_image(bytes(data))
    except InputError as exc:
        # load_image names bytes by their size ("<1,234 bytes>"); the file name is clearer here.
        raise InputError(str(exc).replace(describe(bytes(data)), f"'{name}'")) from None
    return UploadedImage(name, image)


# -- comparing -----------------------------------------------------------------------------
@dataclass
class Comparison:
    labels: list[str]  # unique and short: row and column names
    matrix: np.ndarray  # cosine similarity, labels x labels

    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.matrix.astype(float), index=self.labels, columns=self.labels)

    def pairs(self) -> pd.DataFrame:
        """Every pair once, most similar first: the answer people look for in the matrix."""
        rows = [
            (self.labels[i], self.labels[j], float(self.matrix[i, j]))
            for i in range(len(self.labels))
            for j in range(i + 1, len(self.labels))
        ]
        pairs = pd.DataFrame(rows, columns=["first", "second", "cosine"])
        return pairs.sort_values("cosine", ascending=False, ignore_index=True)


def compare(space, texts: Sequence[str], images: Sequence[UploadedImage] = ()) -> Comparison:
    """Cosine similarity among texts and images, or an EmbedspaceError saying what to fix."""
    if len(texts) + len(images) < 2:
        raise InputError("Give at least two things to compare: two texts, or a text and an image.")
    _, matrix = space.compare(list(texts), [upload.image for upload in images])
    labels = display_labels(list(texts) + [f"image: {upload.name}" for upload in images])
    return Comparison(labels, np.clip(matrix, -1.0, 1.0))  # float32 rounding gives 1.0000002


def display_labels(names: Sequence[str]) -> list[str]:
    """Shortened names, made unique: a table and a heatmap merge rows that share a name."""
    labels, seen = [], {}
    for name in names:
        label = name if len(name) <= MAX_LABEL_CHARS else name[: MAX_LABEL_CHARS - 1].rstrip() + "…"
        seen[label] = seen.get(label, 0) + 1
        labels.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return labels


def heatmap_figure(comparison: Comparison):
    """A plotly heatmap with the value in every cell, rows in the same order as the table."""
    import plotly.graph_objects as go

    # A fixed scale from 0 (or the lowest value, if negative) to 1, so that a space whose
    # cosines all crowd near 0.9 (e5) looks like that instead of being stretched to full colour.
    low = min(0.0, float(comparison.matrix.min()))
    # Plotly reads tick labels as HTML: a text such as "<s>" or "a<br>b" must show as typed.
    labels = [html.escape(label) for label in comparison.labels]
    figure = go.Figure(
        go.Heatmap(
            z=comparison.matrix,
            x=labels,
            y=labels,
            zmin=low,
            zmax=1.0,
            colorscale="Blues",
            text=np.vectorize(lambda value: f"{value:.2f}")(comparison.matrix),
            texttemplate="%{text}",
            textfont={"size": 15},
            hovertemplate="%{y} ↔ %{x}<br>cosine %{z:.4f}<extra></extra>",
            colorbar={"title": {"text": "cosine"}},
        )
    )
    # Square cells of about 70 px, room for the labels and the colour bar; the figure stays
    # on one screen and the colour bar stays beside the cells instead of across the page.
    height = min(max(140 + 70 * len(comparison.labels), 300), 800)
    label_room = 6 * max(len(label) for label in comparison.labels)
    figure.update_layout(
        height=height,
        width=height + label_room + 60,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        yaxis={"autorange": "reversed", "scaleanchor": "x", "constrain": "domain"},
        xaxis={"side": "top", "constrain": "domain"},
    )
    return figure


# -- tokens --------------------------------------------------------------------------------
@dataclass
class TokenView:
    table: pd.DataFrame  # text, tokens, count: one row per text
    notes: list[str]  # notes that hold for every text, each once
    notes_by_text: dict[str, str]  # notes that differ between texts (e5 writes the count in)


def token_view(space, texts: Sequence[str]) -> TokenView:
    """How the space's tokenizer sees each text; the notes are split so none is repeated."""
    tokenized: list[tuple[str, Tokens]] = [(text, space.tokenize(text)) for text in texts]
    rows = [{"text": text, "tokens": format_pieces(tokens), "count": tokens.count} for text, tokens in tokenized]
    notes = list(dict.fromkeys(tokens.note for _, tokens in tokenized if tokens.note))
    notes_by_text = {}
    if len(notes) > 1:
        notes_by_text, notes = {text: tokens.note for text, tokens in tokenized if tokens.note}, []
    if any(WORD_START in row["tokens"] for row in rows):
        notes.append(f"{WORD_START} marks a piece that starts a word (SentencePiece's sign for a space).")
    return TokenView(pd.DataFrame(rows, columns=["text", "tokens", "count"]), notes, notes_by_text)


def format_pieces(tokens: Tokens) -> str:
    if tokens.tokens is None:
        return "(not exposed by the package)"
    # A visible separator: SentencePiece pieces carry their own WORD_START for a leading space.
    return " · ".join(tokens.tokens)
