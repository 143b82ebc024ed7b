"""embedspace explorer: `streamlit run app.py` (or `make run`).

The sidebar picks the space; the main area holds the explorer's sections, today one:
Compare (cosine similarity of texts in any language and an image, and their tokens).
The page only wires widgets: the logic lives in embedspace.streamlit_helpers.
"""

import logging

import streamlit as st

from embedspace import EmbedspaceError, load_space
from embedspace import streamlit_helpers as helpers

log = logging.getLogger("embedspace.app")


@st.cache_resource(show_spinner="Loading the space…")
def cached_space(spec: str):
    # Once per process: models take seconds to load and are safe to share between sessions.
    # A spec that fails raises, and Streamlit does not cache a raise, so a fix is retried.
    return load_space(spec)


def show_failure(exc: Exception) -> None:
    """An error a person can read; a traceback only in the server log, where developers look."""
    if not isinstance(exc, EmbedspaceError):
        log.exception("unexpected error in the app")
    st.error(helpers.describe_failure(exc))


# -- sidebar: the space --------------------------------------------------------------------
def space_sidebar():
    """The space picker and what the space is; returns the Space, or None after an error."""
    st.sidebar.title("embedspace")
    choices = helpers.catalogue_choices()
    picked = st.sidebar.selectbox("Space", list(choices), key="space_choice", help="The catalogue spaces.")
    st.sidebar.caption(choices[picked])
    typed = st.sidebar.text_input(
        "…or type any spec",
        key="space_spec",
        placeholder="st:/path/to/model",
        help="Overrides the picker when filled. Examples:\n\n" + helpers.spec_examples(),
    )
    spec = helpers.chosen_spec(picked, typed)
    try:
        space = cached_space(spec)
    except Exception as exc:  # noqa: BLE001 - every failure is shown on the page, not raised
        with st.sidebar:
            show_failure(exc)
        return None
    show_space_summary(helpers.summarize_space(space))
    return space


def show_space_summary(summary) -> None:
    sidebar = st.sidebar
    sidebar.markdown("**Space id**")
    sidebar.code(summary.id, language=None, wrap_lines=True)
    sidebar.markdown(f"**{summary.dim}** dimensions · takes **{summary.modalities}**")
    sidebar.markdown(f"**Languages** ({summary.language_count})")
    sidebar.caption(summary.languages)
    sidebar.markdown("**Images**")
    sidebar.caption(summary.images_note)


# -- section: compare ----------------------------------------------------------------------
def compare_section(space) -> None:
    st.header("Compare")
    st.caption(
        "Cosine similarity of texts in any language (and an image) in this space: "
        "1 means the same direction, 0 unrelated."
    )
    texts_column, image_column = st.columns([3, 2], gap="large")
    with texts_column:
        texts = text_inputs()
    with image_column:
        images = image_input(space)
    if texts is None:
        return
    try:
        # The first image loads the image classifier: seconds, worth saying so.
        with st.spinner("Embedding…"):
            comparison = helpers.compare(space, texts, images)
        tokens = helpers.token_view(space, texts)
    except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback
        show_failure(exc)
        return
    similarity_tab, tokens_tab = st.tabs(["Similarity", "Tokens"])
    with similarity_tab:
        show_similarity(comparison)
    with tokens_tab:
        show_tokens(tokens)


def text_inputs():
    """The texts to compare, or None after showing why they cannot be used."""
    first, second = helpers.DEFAULT_TEXTS
    fields = [
        st.text_input("Text 1", value=first, key="text_1"),
        st.text_input("Text 2", value=second, key="text_2"),
    ]
    more = st.text_area(
        "More texts, one per line", value=helpers.DEFAULT_MORE_TEXTS, key="more_texts", height=80
    )
    try:
        return helpers.collect_texts(fields, more)
    except EmbedspaceError as exc:
        show_failure(exc)
        return None


def image_input(space) -> list:
    """The uploaded image, shown, as a list of zero or one; a bad file is reported and left out."""
    upload = st.file_uploader("Image (optional)", type=helpers.UPLOAD_TYPES, key="image_upload")
    if not space.supports_images:
        st.caption(space.images_note)
    if upload is None:
        return []
    try:
        image = helpers.read_upload(upload.name, upload.getvalue())
    except EmbedspaceError as exc:
        show_failure(exc)
        st.caption("Comparing the texts without it.")
        return []
    st.image(image.image, caption=image.name, width=260)
    return [image]


def show_similarity(comparison) -> None:
    # No plotly toolbar: it covers the top labels, and hovering a cell already gives its value.
    st.plotly_chart(
        helpers.heatmap_figure(comparison), width="content", key="similarity_heatmap",
        config={"displayModeBar": False},
    )
    number = st.column_config.NumberColumn(format="%.3f")
    st.markdown("**Cosine similarity**")
    columns = {label: number for label in comparison.labels}
    # Row labels are the texts: wide enough to read them, no wider, so the numbers fit too.
    label_width = min(60 + 7 * max(len(label) for label in comparison.labels), 230)
    columns["_index"] = st.column_config.Column(width=label_width)
    st.dataframe(comparison.table(), column_config=columns)
    st.markdown("**Pairs, most similar first**")
    st.dataframe(comparison.pairs(), column_config={"cosine": number}, hide_index=True)


def show_tokens(view) -> None:
    st.caption("How the space's tokenizer splits each text.")
    st.dataframe(
        view.table, hide_index=True, width="stretch",
        column_config={
            "text": st.column_config.TextColumn(width="medium"),
            "tokens": st.column_config.TextColumn(width="large"),
            "count": st.column_config.NumberColumn(width="small", help="Tokens the model reads"),
        },
    )
    for note in view.notes:
        st.caption(note)
    if view.notes_by_text:
        with st.expander("Notes per text"):
            for text, note in view.notes_by_text.items():
                st.markdown(f"**{text}**: {note}")


def main() -> None:
    st.set_page_config(page_title="embedspace", layout="wide")
    space = space_sidebar()
    if space is None:
        st.info("Pick a space in the sidebar, or fix the spec typed there.")
        return
    compare_section(space)


main()
