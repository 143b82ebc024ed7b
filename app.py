"""embedspace explorer: `streamlit run app.py` (or `make run`).

The sidebar picks an index (the demo by default) and shows its space. The panels: Search (a text
in any language, an image, or any item), Analogy, Translate (NN and CSLS side by side), Map
(UMAP or PCA, 2-D or 3-D, with the query and the analogy drawn in), Tokens and Compare. Only the
open panel runs. The page only wires widgets: the logic lives in embedspace.explore (explorer:
queries; projection and map_figure: the map; compare: the Compare and Tokens panels).

Streamlit reads Markdown in st.markdown, st.caption, the alerts (st.info, st.warning, st.error),
image captions, widget labels, help tooltips and radio options. There `![x](http://host/p.png)`
makes every viewer's browser fetch the URL, `$x^2$` is typeset, `:red[x]` coloured and `:smile:`
turned into an emoji; backslash escapes do not stop the last (remark-emoji reads the text after
the escapes are gone). So Markdown here gets only this file's own words and numbers. Text from
anywhere else (an index's items and manifest, a space's notes, an uploaded file's name, what a
person typed, an error message that quotes any of these) is shown with st.text, in a dataframe or
as a select box option, which Streamlit shows as plain text. tests/test_app.py checks every panel
with such items.
"""

import hashlib
import logging
import os
import time

import numpy as np
import pandas as pd
import streamlit as st

from embedspace import EmbedspaceError, load_space
from embedspace import query as queries
from embedspace.explore import compare as helpers
from embedspace.explore import explorer, map_figure, projection
from embedspace.explore.layout import layout_status, stored_map
from embedspace.explore.regions import NAMING_HELP, region_labels
from embedspace.index.store import Index
from embedspace.paths import index_root

log = logging.getLogger("embedspace.app")

PANELS = ["Search", "Analogy", "Translate", "Map", "Tokens", "Compare"]
ANY = explorer.ANY
STORED = "stored"  # the Map tab's projection: the index's stored layout of every item
REGION_LEVELS = {0: "broad", 1: "finer", 2: "finest", None: "off"}
SAMPLE_SIZES = [150, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, None]  # None: every item
# UMAP maps up to this many items (seconds on 2 cores) are computed without asking; larger ones
# (minutes) wait for a button. EMBEDSPACE_MAP_ASK_ABOVE changes it (a slow or a fast machine).
COMPUTE_AT_ONCE = int(os.environ.get("EMBEDSPACE_MAP_ASK_ABOVE") or 10_000)
# Widget values, with their defaults. Only the open panel's widgets are drawn, and Streamlit
# forgets the value of a widget it does not draw, so every run first copies these into plain
# session state (the way Streamlit's docs keep widget values across pages); tests set them too.
DEFAULTS = {
    "search_text": "perro", "query_mode": "text", "search_kind": ANY, "search_lang": ANY, "search_k": 12,
    "analogy_a": "man", "analogy_b": "king", "analogy_c": "woman", "analogy_method": "add",
    "analogy_kind": "text", "analogy_lang": "en", "analogy_k": 12,
    "tr_text": "perro", "tr_to": "en", "tr_from": ANY, "tr_k": 10,
    "map_method": "stored", "map_dims": 2, "map_color": "language", "map_sample": 5_000, "map_kinds": [],
    "map_langs": [], "map_labels": [], "map_others": "fade", "map_region_level": 0,
    "map_show_query": True, "map_show_analogy": False, "map_thumbnails": True,
    "text_1": helpers.DEFAULT_TEXTS[0], "text_2": helpers.DEFAULT_TEXTS[1], "more_texts": helpers.DEFAULT_MORE_TEXTS,
}


def keep_widget_state() -> None:
    for key, default in DEFAULTS.items():
        st.session_state[key] = st.session_state.get(key, default)


def keep_valid(key: str, options: list, default) -> None:
    """A kept value that is not among the options now (another index) goes back to the default."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]


# -- loading, once per process ---------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the space…")
def cached_space(spec: str):
    # Models take seconds to load and are safe to share between sessions. A failure raises, and
    # Streamlit caches no raise, so a fixed problem is retried.
    return load_space(spec)


@st.cache_resource(show_spinner="Opening the index…", max_entries=8)
def cached_index(name: str, root: str, stamp: int) -> Index:
    # `stamp` changes when the index is rebuilt, so a rebuilt index is opened again.
    return Index.open(name, root)


@st.cache_resource(show_spinner="Embedding the image (the first one loads the image model)…", max_entries=32)
def cached_image_query(_space, space_id: str, name: str, data: bytes, via: str | None = None):
    return explorer.image_query(_space, name, data, via)


@st.cache_resource
def computed_maps() -> dict:
    """Maps computed or loaded in this process, the last few: reopening one costs nothing."""
    return {}


def alert(kind: str, headline: str, detail: str | None = None, where=st) -> None:
    """A coloured box ('info', 'warning' or 'error') with this file's own words, and under it, as plain
    text, a detail that may quote an index, a file name or what a person typed (see the docstring)."""
    getattr(where, kind)(headline)
    if detail:
        where.text(detail)


def show_failure(exc: Exception, where=st) -> None:
    """An error a person can read; a traceback only in the server log, where developers look."""
    if not isinstance(exc, EmbedspaceError):
        log.exception("unexpected error in the app")
    alert("error", "That did not work:", helpers.describe_failure(exc), where)


# -- sidebar: the index and its space ----------------------------------------------------------------
def index_sidebar():
    """(index, space, why the space can't run) for the picked index; None where there is none."""
    sidebar = st.sidebar
    sidebar.title("embedspace")
    names = explorer.index_choices()
    if not names:
        sidebar.info("No index yet. Build the demo with `embedspace demo` (or `make run`), or your own with "
                     "`embedspace build NAME FILES…`, then reload. Compare and Tokens work without one.")
        return None, None, None
    keep_valid("index_name", names, explorer.DEMO)
    name = sidebar.selectbox("Index", names, key="index_name", help="Indexes in ./indexes (EMBEDSPACE_INDEX_DIR).")
    try:
        index = cached_index(name, str(index_root()), explorer.index_stamp(name))
    except Exception as exc:  # noqa: BLE001 - every failure is shown on the page, not raised
        show_failure(exc, sidebar)
        return None, None, None
    summary = explorer.summarize_index(index)
    sidebar.text(f"{summary.items:,} items: {summary.kinds}")
    sidebar.text(f"{len(summary.languages)} languages: {', '.join(summary.languages)}")
    sidebar.text(f"FAISS: {summary.faiss}")
    sidebar.markdown("**Space**")
    sidebar.code(summary.space_id, language=None, wrap_lines=True)
    space = problem = None
    try:
        space = cached_space(summary.space_spec)
        index.check_space(space)
    except Exception as exc:  # noqa: BLE001
        space, problem = None, explorer.space_problem(exc, index)
        alert("warning", "This index's space can't run here:", problem, sidebar)
    if space is not None:
        sidebar.text(space.images_note)
    return index, space, problem


def needs_space(space, problem) -> bool:
    """Whether a panel that embeds can run; says why not where it cannot."""
    if space is None:
        alert("warning", "This panel needs the index's space:" if problem else "Pick an index in the sidebar first.",
              problem)
        return False
    return True


# -- results -----------------------------------------------------------------------------------------
def use_item(item_id: int) -> None:
    """'Use': search with this item's own vector (a callback, so it runs before the page)."""
    st.session_state["query_item"] = int(item_id)
    st.session_state["query_mode"] = "item"
    st.session_state["panel"] = "Search"


def gallery(index, results, prefix: str, score_name: str = "score", columns: int = 4) -> None:
    """Results as cards: the thumbnail of an image, the title, language flag and code and label
    (plain text: they come from the index), then the rank and the score."""
    cards = explorer.cards(index, results)
    for start in range(0, len(cards), columns):
        for column, card in zip(st.columns(columns), cards[start:start + columns]):
            # The key names the card for the browser test (a CSS class, st-key-...).
            with column.container(border=True, key=f"{prefix}_card_{card.id}"):
                if card.image:
                    st.image(card.image, width=96)
                st.text(card.title)
                details = " · ".join(part for part in (card.language, card.label) if part)
                if details:
                    st.text(details)
                # "1 ·", not "1.": markdown would read "1." as a numbered list.
                st.caption(f"{card.rank} · {score_name} **{card.score:.3f}**")
                st.button("Use this item", key=f"{prefix}_use_{card.id}", on_click=use_item, args=(card.id,),
                          type="tertiary", help="Search with this item's vector")


def filters(index, prefix: str, default_kind=ANY) -> tuple:
    kinds = [ANY] + explorer.index_kinds(index)
    langs = [ANY] + explorer.index_languages(index)
    keep_valid(f"{prefix}_kind", kinds, default_kind)
    keep_valid(f"{prefix}_lang", langs, ANY)
    left, middle, right = st.columns([1, 1, 2])
    kind = left.selectbox("Kind", kinds, key=f"{prefix}_kind")
    lang = middle.selectbox("Language", langs, key=f"{prefix}_lang",
                            format_func=lambda code: ANY if code == ANY else explorer.language_label(code))
    k = right.slider("Results (k)", 1, explorer.MAX_K, key=f"{prefix}_k")
    return kind, lang, k


# -- search ------------------------------------------------------------------------------------------
def store_upload() -> None:
    upload = st.session_state.get("search_upload")
    if upload is None:
        st.session_state.pop("upload", None)
        if st.session_state.get("query_mode") == "image":
            st.session_state["query_mode"] = "text"
        return
    st.session_state["upload"] = (upload.name, upload.getvalue())
    st.session_state["query_mode"] = "image"


def current_query(index, space):
    """The Query the Search panel has chosen (also drawn on the map), or an error to show."""
    mode = st.session_state.get("query_mode", "text")
    if mode == "image":
        if "upload" not in st.session_state:
            raise explorer.InputError("Upload an image to search with, or switch to text.")
        name, data = st.session_state["upload"]
        return cached_image_query(space, space.id, name, data, st.session_state.get("image_via"))
    if mode == "item":
        if st.session_state.get("query_item") is None:
            raise explorer.InputError("Press 'Use this item' on a result (or 'Use in Search' beside the map) to "
                                      "search with an item.")
        return explorer.item_query(index, st.session_state["query_item"])
    return explorer.text_query(space, st.session_state.get("search_text"))


def current_search(index, space):
    """(query, results) of the Search panel's settings, kept in the session while they stay the same (the
    Map tab draws the results the Search tab found, without searching again)."""
    def search():
        query = current_query(index, space)
        return query, explorer.search(index, space, query, k=st.session_state["search_k"],
                                      lang=st.session_state["search_lang"], kind=st.session_state["search_kind"])
    return remembered("search_found", (index.name, index.checksum, space.id, search_inputs()), search)


def search_panel(index, space, problem) -> None:
    st.caption("Nearest items to a text in any language, an image, or any item of the index.")
    if not needs_space(space, problem):
        return
    text_column, image_column = st.columns([3, 2], gap="large")
    text_column.text_input("Text (any language)", key="search_text", on_change=st.session_state.update,
                           kwargs={"query_mode": "text"})
    with image_column:
        st.file_uploader("…or an image", type=helpers.UPLOAD_TYPES, key="search_upload", on_change=store_upload,
                         help=f"Up to {explorer.MAX_UPLOAD_BYTES // 2**20} MB. How images enter the space: "
                              "see the sidebar.")
        routes = space.image_routes()
        if len(routes) > 1:  # e.g. a map fitted on drawings, and ConSE for photos
            keep_valid("image_via", list(routes), next(iter(routes)))
            via = st.radio("Image goes in through", list(routes), key="image_via", horizontal=True)
            st.text(routes[via])  # what the route is good for: it names the map file, so plain text
    modes = {"text": "the text", "image": "the image", "item": "the item"}
    text_column.radio("Search with", list(modes), key="query_mode", horizontal=True, format_func=modes.get)
    filters(index, "search")
    try:
        with st.spinner("Searching…"):
            query, results = current_search(index, space)
    except Exception as exc:  # noqa: BLE001 - shown as a message, never as a traceback
        show_failure(exc)
        return
    if query.kind == "image":
        image_column.image(st.session_state["upload"][1], width=160)
        image_column.text(query.label)
    elif query.kind == "item":
        alert("info", "Searching with this item's stored vector (the item itself is left out):", query.label)
    if queries.mixes_kinds(results):
        st.caption(queries.MIXED_KINDS_NOTE)  # this file's own words (the module docstring's rule)
    gallery(index, results, "search", score_name="cosine")


# -- analogy -----------------------------------------------------------------------------------------
def current_analogy(index, space):
    state = st.session_state
    return explorer.analogy(index, space, state["analogy_a"], state["analogy_b"], state["analogy_c"],
                            method=state["analogy_method"], k=state["analogy_k"], lang=state["analogy_lang"],
                            kind=state["analogy_kind"])


def analogy_panel(index, space, problem) -> None:
    st.caption("A is to B as C is to ?  Terms in any language; results from every language unless filtered.")
    if not needs_space(space, problem):
        return
    a, b, c, method = st.columns([2, 2, 2, 3])
    a.text_input("A", key="analogy_a")
    b.text_input("B", key="analogy_b")
    c.text_input("C", key="analogy_c")
    methods = {"add": "3CosAdd: cos(x,B) − cos(x,A) + cos(x,C)", "mul": "3CosMul (Levy & Goldberg 2014)"}
    method.radio("Method", list(methods), key="analogy_method", format_func=methods.get)
    filters(index, "analogy", default_kind="text")
    try:
        result = current_analogy(index, space)
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    a_term, b_term, c_term = result.terms
    st.text(f"{a_term} : {b_term} :: {c_term} : ?   ({methods[result.method].split(':')[0]})")
    show_analogy_on_map_once()
    gallery(index, result.results, "analogy", score_name="score")


def show_analogy_on_map_once() -> None:
    """The map draws the analogy from the first time the person has one (they may turn it off):
    drawing the default man : king :: woman before anyone asked for it cost a first map 0.8 s."""
    if not st.session_state.get("analogy_seen"):
        st.session_state["analogy_seen"] = True
        st.session_state["map_show_analogy"] = True


# -- translation -------------------------------------------------------------------------------------
def translate_panel(index, space, problem) -> None:
    st.caption("The nearest texts in another language: by plain cosine (NN) and by CSLS, which discounts "
               "'hub' words that are near everything (Conneau et al. 2018).")
    if not needs_space(space, problem):
        return
    langs = explorer.index_languages(index)
    if len(langs) < 2:
        st.info(f"This index has texts in {len(langs)} language(s); translation needs two.")
        return
    keep_valid("tr_to", langs, "en")
    keep_valid("tr_from", [ANY] + langs, ANY)
    text, to, from_, k = st.columns([3, 2, 2, 2])
    text.text_input("Text", key="tr_text")
    to.selectbox("Into", langs, key="tr_to", format_func=explorer.language_label)
    from_.selectbox("From", [ANY] + langs, key="tr_from",
                    format_func=lambda code: "any other" if code == ANY else explorer.language_label(code),
                    help="CSLS's source side: its hubness is measured against items of this language "
                         "(any other: every item not in the target language).")
    k.slider("Results", 1, 50, key="tr_k")
    state = st.session_state
    try:
        with st.spinner("Translating (the first time for a language pair measures hubness: seconds)…"):
            result = explorer.translate(index, space, state["tr_text"], state["tr_to"], state["tr_from"], state["tr_k"])
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    number = st.column_config.NumberColumn(format="%.3f")
    st.dataframe(result.side_by_side(), hide_index=True, width="stretch",
                 column_config={"NN score": number, "CSLS score": number})
    st.caption("NN score: cosine. CSLS score: 2·cos(x,y) − r_T(x) − r_S(y), where r is the mean cosine to "
               "the 10 nearest items on the other side. ✱ marks items only one method ranks this high.")


# -- tokens ------------------------------------------------------------------------------------------
def tokens_panel(space, problem) -> None:
    st.caption("How the space's tokenizer splits the texts of the other panels: the model sees these "
               "pieces, not words.")
    if not needs_space(space, problem):
        return
    state = st.session_state
    texts = [state["search_text"], state["analogy_a"], state["analogy_b"], state["analogy_c"], state["tr_text"]]
    texts = list(dict.fromkeys(text.strip() for text in texts if text and text.strip()))
    if not texts:
        st.info("Type a text in Search, Analogy or Translate to see its tokens.")
        return
    try:
        view = helpers.token_view(space, texts)
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    show_tokens(view)


def show_tokens(view) -> None:
    st.dataframe(
        view.table, hide_index=True, width="stretch",
        column_config={
            "text": st.column_config.TextColumn(width="medium"),
            "tokens": st.column_config.TextColumn(width="large"),
            "count": st.column_config.NumberColumn(width="small", help="Tokens the model reads"),
        },
    )
    for note in view.notes:
        st.text(note)
    if view.notes_by_text:
        with st.expander("Notes per text"):
            for text, note in view.notes_by_text.items():
                st.text(f"{text}: {note}")


# -- map ---------------------------------------------------------------------------------------------
def map_settings(index, has_layout: bool) -> tuple[projection.MapParams, bool]:
    """(the map's parameters, whether it is the index's stored layout). On the stored layout the kinds
    and languages fade or hide points; on a UMAP or PCA map they choose the items it is computed from."""
    methods = {STORED: "Stored layout (every item)"} if has_layout else {}
    methods.update({"umap": "UMAP", "pca": "PCA (fast)"})
    keep_valid("map_method", list(methods), STORED)
    langs = explorer.index_languages(index)
    st.session_state["map_langs"] = [lang for lang in st.session_state["map_langs"] if lang in langs]
    kinds = explorer.index_kinds(index)
    st.session_state["map_kinds"] = [kind for kind in st.session_state["map_kinds"] if kind in kinds]
    labels = index_labels(index)
    st.session_state["map_labels"] = [label for label in st.session_state["map_labels"] if label in labels]
    stored = st.session_state["map_method"] == STORED
    row = st.columns([3, 2, 2, 2, 3, 3])
    row[0].radio("Projection", list(methods), key="map_method", format_func=methods.get, horizontal=True,
                 help="The stored layout was computed once for every item of the index; UMAP and PCA maps are "
                      "computed here for a sample, in 2-D or 3-D.")
    row[1].radio("Dimensions", [2, 3], key="map_dims", format_func=lambda dims: f"{dims}-D", horizontal=True,
                 disabled=stored)
    row[2].selectbox("Colour by", list(map_figure.COLOR_BY), key="map_color")
    row[3].selectbox("Items", SAMPLE_SIZES, key="map_sample", disabled=stored,
                     format_func=lambda size: "all" if size is None else f"≤ {size:,}",
                     help="A random sample (always the same one) of at most this many items.")
    row[4].multiselect("Kinds", kinds, key="map_kinds", placeholder="every kind")
    row[5].multiselect("Languages", langs, key="map_langs", placeholder="every language",
                       format_func=explorer.language_label, help="Texts in these languages; images stay unless "
                       "Kinds leaves them out (they have no language).")
    row = st.columns([4, 2, 2, 2, 2])
    # Labels are the index's own words: a select box shows its options as plain text.
    row[0].multiselect("Labels", labels, key="map_labels", placeholder="every label")
    row[1].radio("Items left out", ["fade", "hide"], key="map_others", horizontal=True,
                 help="Items the kinds, languages and labels leave out: drawn faded, or not at all.")
    state = st.session_state
    params = projection.MapParams(method="umap" if stored else state["map_method"], dims=2 if stored else state["map_dims"],
                                  sample=None if stored else state["map_sample"],
                                  kinds=() if stored else tuple(state["map_kinds"]),
                                  langs=() if stored else tuple(state["map_langs"]))
    if stored:
        region_settings(row[2], row[3], langs)
    return params, stored


def region_settings(level_column, lang_column, langs: list) -> None:
    """The level of detail of the region names and their language (the UI's English where the index
    has it, else its most frequent language). Streamlit does not tell the page how far the chart is
    zoomed, so the reader picks the level: finer names for a closer look."""
    level_column.selectbox("Region names", list(REGION_LEVELS), key="map_region_level", format_func=REGION_LEVELS.get,
                           help=NAMING_HELP)
    if langs:
        keep_valid("map_region_lang", langs, "en")
        lang_column.selectbox("Names in", langs, key="map_region_lang", format_func=explorer.language_label,
                              help=NAMING_HELP)


def index_labels(index) -> list:
    return sorted(index.items["label"].dropna().astype(str).unique())


def status_progress(status):
    """The library's progress callback (embedspace.progress) shown in a Streamlit status box:
    a line for each stage, and the count in the box's label while a stage runs."""
    def report(stage: str, done: int, total: int | None) -> None:
        if done == 0:
            status.text(stage)
        elif total:
            status.update(label=f"{stage}: {done:,} of {total:,}")
    return report


def get_map(index, params):
    """The map from memory or disk; computed here (with progress) when it is small, PCA, or asked for."""
    memory = computed_maps()
    key = (index.name, index.checksum, params)
    if key in memory:
        return memory[key]
    pmap = projection.load_projection(index, params)
    if pmap is None:
        rows, eligible = projection.choose_rows(index, params)
        if params.method == "umap" and len(rows) > COMPUTE_AT_ONCE and not st.session_state.get("map_go") == key:
            st.info(f"This UMAP map of {len(rows):,} items is not computed yet: minutes on a 2-core machine (a "
                    "FAISS neighbour graph, then the layout). It is cached on disk, so it opens at once next time. "
                    f"Maps of up to {COMPUTE_AT_ONCE:,} items, and PCA maps, are computed without asking.")
            st.button("Compute the map", key="map_compute", type="primary", on_click=st.session_state.update,
                      kwargs={"map_go": key})
            return None
        with st.status(f"Computing the map: {params.describe()}…", expanded=True) as status:
            pmap = projection.project(index, params, progress=status_progress(status))
            status.update(label=f"Map computed in {sum(pmap.seconds.values()):.1f} s and cached.", state="complete",
                          expanded=False)
    while len(memory) >= 4:
        memory.pop(next(iter(memory)))
    memory[key] = pmap
    return pmap


def map_overlay(index, space, pmap):
    """The search query and the analogy, placed on the map; notes on what could not be drawn. Each part
    is kept in the session until its inputs change: a click or a filter reruns the page without
    changing either, and a map of a sample places by reading every mapped vector."""
    overlay, notes = map_figure.Overlay(), []
    if space is None:
        return overlay, notes
    where = (index.name, index.checksum, space.id, pmap.params, len(pmap))
    if st.session_state["map_show_query"]:
        drawn, note = remembered("map_query_placed", (where, search_inputs()), lambda: placed_query(index, space, pmap))
        overlay.query, overlay.neighbours = drawn.query, drawn.neighbours
        notes += [note] if note else []
    if st.session_state["map_show_analogy"]:
        inputs = tuple(st.session_state[key] for key in ANALOGY_KEYS)
        overlay.arrows, note = remembered("map_analogy_placed", (where, inputs), lambda: placed_analogy(index, space, pmap))
        notes += [note] if note else []
    return overlay, notes


ANALOGY_KEYS = ("analogy_a", "analogy_b", "analogy_c", "analogy_method", "analogy_k", "analogy_lang", "analogy_kind")


def search_inputs() -> tuple:
    """Everything the Search panel's query and results depend on (an upload by its bytes' digest)."""
    state = st.session_state
    mode = state.get("query_mode", "text")
    if mode == "image":  # the route is a Search-panel widget, forgotten on other tabs: part of an image query only
        upload = state.get("upload")
        query = (None if upload is None else (upload[0], hashlib.sha256(upload[1]).hexdigest()), state.get("image_via"))
    else:
        query = state.get("query_item") if mode == "item" else state.get("search_text")
    return mode, query, state["search_k"], state["search_lang"], state["search_kind"]


def remembered(key: str, inputs, compute):
    """compute()'s value, kept in the session under `key` while `inputs` stay the same."""
    kept = st.session_state.get(key)
    if kept is None or kept[0] != inputs:
        kept = (inputs, compute())
        st.session_state[key] = kept
    return kept[1]


def placed_query(index, space, pmap):
    """(Overlay with the query and its results, or an empty one; a note when it could not be drawn)."""
    try:
        query, results = current_search(index, space)
        return map_figure.query_overlay(index, pmap, query.label, query.vector, results), None
    except EmbedspaceError as exc:
        return map_figure.Overlay(), f"Query not drawn: {exc}"


def placed_analogy(index, space, pmap):
    """(the analogy's arrows, or []; a note when they could not be drawn)."""
    try:
        result = current_analogy(index, space)
        return map_figure.analogy_arrows(index, pmap, result.terms, result.vectors, result.results[0]), None
    except EmbedspaceError as exc:
        return [], f"Analogy not drawn: {exc}"


def on_map_select() -> None:
    ids = map_figure.picked_ids(st.session_state["map_chart"].selection)
    st.session_state["map_selected"] = ids
    if ids:
        st.session_state["map_item"] = ids[0]
        # Plotly already shows the clicked point as selected: no ring, so the figure stays the same and
        # Streamlit sends a reference to it, not every point again (its message cache).
        st.session_state["map_item_clicked"] = True


def pick_highlighted() -> None:
    st.session_state.update(map_item=st.session_state["map_pick"], map_item_clicked=False)


@st.cache_resource(show_spinner="Opening the map…", max_entries=4)
def cached_stored_map(_index, name: str, checksum: str):
    # The index's stored layout, once per version of the index; None when it has none.
    return stored_map(_index)


@st.cache_resource(show_spinner="Naming the regions…", max_entries=16)
def cached_regions(_index, name: str, checksum: str, lang: str):
    return region_labels(_index, lang)


@st.cache_resource(max_entries=8)
def cached_point_frame(_index, _pmap, key: str):
    # Coordinates, colour groups and hover texts of every point, built once per map and colouring (about
    # a second on the full demo) rather than on every click or filter change. Read only.
    return map_figure.point_frame(_index, _pmap, key.rsplit("|", 1)[1])


@st.cache_resource(max_entries=4)
def cached_figure(_frame, _overlay, _regions, _shown, key: str, dims: int, thumbnails: bool, fade: bool):
    # The same figure object when nothing drawn changed (a click, a side-panel choice): building one of
    # every item's points takes about half a second on the full demo. Read only (Streamlit copies it).
    return map_figure.map_figure(_frame, dims, _overlay, thumbnails=thumbnails, shown=_shown, fade=fade,
                                 regions=_regions)


def figure_key(frame_key: str, *drawn) -> str:
    """A digest of everything a map figure is drawn from (arrays by their bytes, markers by label,
    place and id), to find it in cached_figure."""
    digest = hashlib.sha256(frame_key.encode())
    for part in drawn:
        if isinstance(part, np.ndarray):
            digest.update(part.tobytes())
        elif isinstance(part, map_figure.Overlay):
            digest.update(f"{len(part.neighbours)},{len(part.arrows)}".encode())
            markers = [part.query, part.picked, *part.neighbours, *(m for pair in part.arrows for m in pair)]
            for marker in markers:
                digest.update(b"-" if marker is None else
                              repr((marker.label, marker.item_id)).encode() + np.asarray(marker.coords).tobytes())
        elif isinstance(part, pd.DataFrame):
            digest.update(part.to_json().encode())
        else:
            digest.update(repr(part).encode())
        digest.update(b"|")
    return digest.hexdigest()


def map_regions(index, langs: list) -> tuple:
    """(the names of the regions at the picked level, or None; a note when there are none in that language)."""
    level, lang = st.session_state["map_region_level"], st.session_state.get("map_region_lang")
    if level is None or lang not in langs:
        return None, None
    regions = cached_regions(index, index.name, index.checksum, lang)
    if regions.empty:
        return None, f"No region names: the index has no texts in {lang}."
    return regions[regions["level"] == level], None


def drawn_map(index, pmap, stored: bool, overlay, params, images_on_map: int) -> tuple:
    """(figure, how many points the filters keep, a note on the region names or None): the map as the
    page's widgets ask for it, from the caches (the same figure object while nothing drawn changes)."""
    state = st.session_state
    dims = pmap.params.dims
    frame_key = f"{index.name}|{index.checksum}|{params if not stored else STORED}|{state['map_color']}"
    frame = cached_point_frame(index, pmap, frame_key)
    if stored:
        shown = map_figure.shown_mask(frame, state["map_kinds"], state["map_langs"], state["map_labels"])
        regions, note = map_regions(index, explorer.index_languages(index))
    else:
        shown = map_figure.shown_mask(frame, labels=state["map_labels"])
        regions, note = None, None
    thumbnails = thumbnails_fit(dims, images_on_map) and state["map_thumbnails"]
    matching = int(shown.sum())
    shown = None if matching == len(frame) else shown
    fade = state["map_others"] == "fade"
    figure = cached_figure(frame, overlay, regions, shown, figure_key(frame_key, dims, overlay, thumbnails, shown, fade,
                                                                     regions), dims, thumbnails, fade)
    return figure, matching, note


def thumbnails_fit(dims: int, images_on_map: int) -> bool:
    return dims == 2 and 0 < images_on_map <= map_figure.MAX_THUMBNAILS


def images_on(index, pmap) -> int:
    return int((index.items["kind"].iloc[pmap.rows] == "image").sum())


def map_panel(index, space, problem) -> None:
    st.caption("Every item of the index on its stored layout (or a UMAP or PCA map of a sample, in 2-D or 3-D). "
               "Click a point (or drag a box or lasso, in 2-D) to see the item beside the map.")
    if problem:
        st.text(problem)
    try:
        layout = cached_stored_map(index, index.name, index.checksum)
        params, stored = map_settings(index, layout is not None)
        pmap = layout if stored else get_map(index, params)
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    if pmap is None:
        return
    state = st.session_state
    dims = pmap.params.dims
    toggles = st.columns(3)
    toggles[0].toggle("Show the search query", key="map_show_query")
    toggles[1].toggle("Show the analogy (A→B, C→answer)", key="map_show_analogy")
    images_on_map = images_on(index, pmap)
    toggles[2].toggle("Thumbnails of images", key="map_thumbnails", disabled=not thumbnails_fit(dims, images_on_map),
                      help=f"Drawn on 2-D maps with at most {map_figure.MAX_THUMBNAILS} images; "
                           f"this one has {images_on_map:,}.")
    overlay, notes = map_overlay(index, space, pmap)
    picked = state.get("map_item")
    if picked is not None and picked in index.row_of_id and not state.get("map_item_clicked"):
        marker = map_figure.item_markers(index, pmap, [{**index.result_row(index.row_of_id[picked]), "rank": 0}])[0]
        overlay.picked = marker
    figure, matching, regions_note = drawn_map(index, pmap, stored, overlay, params, images_on_map)
    if regions_note:
        st.text(regions_note)
    chart, side = st.columns([3, 1], gap="medium")
    with chart:
        st.plotly_chart(figure, key="map_chart", on_select=on_map_select, selection_mode=("points", "box", "lasso"),
                        config={"scrollZoom": True, "displaylogo": False})
        st.caption(stored_caption(pmap, matching) if stored else map_caption(index, pmap))
        if stored:
            status = layout_status(index)  # its message may name the index: plain text
            if status.stale:
                alert("warning", "The stored layout is out of date:", status.message)
            else:
                st.text(status.message)
        for note in notes:
            st.text(note)
    with side:
        item_side_panel(index, pmap, overlay)


PLACED_NOTE = (f"The query and the analogy's terms are placed at the similarity-weighted mean position of their "
               f"{projection.PLACE_K} nearest items on the map, the most similar weighing most.")


def prepare_map(index, space, problem, tab) -> None:
    """Draw the Map tab while another tab is shown, so that opening it only shows what is drawn.

    On an index of up to PREPARE_UP_TO items whose Map tab shows its stored layout (not a UMAP or
    PCA map, which could take seconds to compute on another tab's run), the Map panel is built into
    its tab on every run of another tab. Its figure, query included, is cached: a new query costs
    about 0.3 s of the run on the full demo, after the tab's own results were sent. Streamlit hides a
    closed tab with display: none, where plotly would draw at a default width and draw again when
    shown: the closed panels are laid out instead, invisible and zero high (HIDDEN_TABS_CSS), so
    plotly draws at the width it will be shown at. Opening the tab reruns the script, which builds
    the same figure: Streamlit keeps the chart as it is (no new draw).

    Otherwise only plotly.js is loaded early (a 4.7 MB chunk, about a second to fetch and parse, that
    Streamlit loads at a page's first chart), by a tiny chart hidden at the foot of the sidebar.
    """
    try:
        ready = (len(index) <= PREPARE_UP_TO and st.session_state["map_method"] == STORED
                 and cached_stored_map(index, index.name, index.checksum) is not None)
    except Exception:  # noqa: BLE001 - the Map tab shows the failure when it is opened
        log.exception("reading the stored layout failed")
        ready = False
    if ready:
        time.sleep(RESULTS_SENT_S)
        with tab:
            st.html(HIDDEN_TABS_CSS)
            map_panel(index, space, problem)
        return
    with st.sidebar.container(key="plotly_preload"):
        st.html("<style>.st-key-plotly_preload {display: none}</style>")
        st.plotly_chart(PRELOAD_FIGURE, key="plotly_preload_chart", config={"staticPlot": True})


# A new query redraws the closed map: ~0.3 s of a run and a 2.1 MB message on the full demo (66,084 items),
# linear in the items; above this, opening the Map tab pays it instead of every search.
PREPARE_UP_TO = 100_000
# Streamlit's server thread sends the open tab's results while this script thread builds the map, and
# each message it sends waits for the GIL: a search's cards showed later (benchmarks/map_browser.py, idle,
# runs of 8 searches back to back: median 0.39-0.42 s, against 0.25-0.35 s without the closed map). A
# pause first lets it send them (0.33-0.34 s).
RESULTS_SENT_S = 0.05
# A closed tab's panel (Streamlit gives only the open one role="tabpanel"): laid out at the open panel's
# width, but invisible, zero high and out of reach of the pointer and of screen readers.
HIDDEN_TABS_CSS = ("<style>.st-key-panel [data-testid='stTabPanel']:not([role='tabpanel']) {display: block !important; "
                   "height: 0 !important; padding-top: 0 !important; padding-bottom: 0 !important; overflow: hidden} "
                   ".st-key-panel [data-testid='stTabPanel']:not([role='tabpanel']), "
                   ".st-key-panel [data-testid='stTabPanel']:not([role='tabpanel']) * {visibility: hidden !important}</style>")
# One WebGL point: the map's trace type, so that the browser also sets WebGL up before the first map.
PRELOAD_FIGURE = {"data": [{"type": "scattergl", "x": [0], "y": [0]}], "layout": {"width": 10, "height": 10}}


def stored_caption(pmap, shown: int) -> str:
    drawn = ("as points" if shown <= map_figure.MAX_POINTS else
             f"as a density image with a sample of {map_figure.DENSITY_SAMPLE:,} points on top")
    kept = "" if shown == len(pmap) else f" {shown:,} of them match the kinds, languages and labels;"
    return (f"The index's stored layout: all {len(pmap):,} items, drawn {drawn}.{kept} {PLACED_NOTE} "
            "Distances on the layout are only meaningful locally.")


def map_caption(index, pmap) -> str:
    params = pmap.params
    took = sum(pmap.seconds.values())
    stages = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in pmap.seconds.items())
    how = (f"loaded from the disk cache (it took {took:.1f} s to compute)" if pmap.from_cache
           else f"computed in {took:.1f} s ({stages}) and cached")
    sample = (f"a random sample of {len(pmap):,} of the {pmap.eligible:,} items" if pmap.sampled
              else f"all {len(pmap):,} items")
    if params.kinds or params.langs:
        sample += " that match the kinds and languages"
    caveat = " Distances on a UMAP map are only meaningful locally." if params.method == "umap" else ""
    return (f"{params.describe()} of {sample}; {how}. {pmap.note} {PLACED_NOTE[:-1]} "
            "(umap-learn cannot place new points on a map built from a precomputed neighbour "
            "graph); so are search results that are not in the sample."
            f"{caveat}").replace("  ", " ")


def item_side_panel(index, pmap, overlay) -> None:
    """The selected item: its image (or its concept's), translations and nearest neighbours."""
    selected = st.session_state.get("map_selected") or []
    highlighted = {m.item_id: m.label for m in overlay.neighbours if m.item_id is not None}
    if highlighted:
        options = [None] + list(highlighted)
        keep_valid("map_pick", options, None)
        st.selectbox("Show a highlighted item", options, key="map_pick",
                     format_func=lambda item: "(pick one)" if item is None else highlighted[item],
                     on_change=pick_highlighted,
                     help="Plotly cannot select points in 3-D; this works in both.")
    item_id = st.session_state.get("map_item")
    if item_id is None:
        st.caption("Click a point on the map to see the item here.")
        return
    try:
        view = explorer.item_view(index, item_id)
    except EmbedspaceError as exc:
        show_failure(exc)
        return
    if len(selected) > 1:
        st.caption(f"{len(selected):,} points selected; this is the first. The others are listed below.")
    if view.image:
        st.image(view.image, width=160)
        st.text(view.image_caption)
    st.markdown("**Item**")
    st.text(view.title)
    st.text(" · ".join(part for part in (view.language, view.kind, view.label, f"#{view.id}") if part))
    st.button("Use in Search", key="map_use", on_click=use_item, args=(view.id,))
    if not view.same_concept.empty:
        st.markdown("**Same concept**")
        st.text(str(view.concept))
        st.dataframe(view.same_concept, hide_index=True, height=min(36 * (len(view.same_concept) + 1), 250))
    st.markdown("**Nearest in the full space**")
    st.dataframe(view.neighbours[["item", "language", "cosine"]], hide_index=True,
                 column_config={"cosine": st.column_config.NumberColumn(format="%.3f")})
    if len(selected) > 1:
        rows = [index.result_row(index.row_of_id[i]) for i in selected if i in index.row_of_id]
        st.markdown("**Selected**")
        st.dataframe([{"item": explorer.item_title(r), "language": r.get("lang") or ""} for r in rows],
                     hide_index=True, height=250)


# -- compare (a space, no index) ---------------------------------------------------------------------
def compare_panel(index) -> None:
    st.caption("Cosine similarity of texts in any language (and an image) in a space, no index needed: "
               "1 means the same direction, 0 unrelated.")
    choices = helpers.catalogue_choices()
    pick, typed = st.columns(2)
    picked = pick.selectbox("Space", list(choices), key="space_choice", help="The catalogue spaces.")
    pick.caption(choices[picked])
    typed.text_input("…or type any spec", key="space_spec", placeholder="st:/path/to/model",
                     help="Overrides the picker when filled. Examples:\n\n" + helpers.spec_examples())
    try:
        space = cached_space(helpers.chosen_spec(picked, st.session_state.get("space_spec")))
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    st.text(f"Space {space.id}, {space.dim} dimensions, takes {' + '.join(space.modalities)}.")
    texts_column, image_column = st.columns([3, 2], gap="large")
    with texts_column:
        texts = compare_texts()
    with image_column:
        images = compare_image(space)
    if texts is None:
        return
    try:
        with st.spinner("Embedding…"):
            comparison = helpers.compare(space, texts, images)
        tokens = helpers.token_view(space, texts)
    except Exception as exc:  # noqa: BLE001
        show_failure(exc)
        return
    similarity_tab, tokens_tab = st.tabs(["Similarity", "Tokens"])
    with similarity_tab:
        show_similarity(comparison)
    with tokens_tab:
        show_tokens(tokens)


def compare_texts():
    """The texts to compare, or None after showing why they cannot be used."""
    fields = [st.text_input("Text 1", key="text_1"), st.text_input("Text 2", key="text_2")]
    more = st.text_area("More texts, one per line", key="more_texts", height=80)
    try:
        return helpers.collect_texts(fields, more)
    except EmbedspaceError as exc:
        show_failure(exc)
        return None


def compare_image(space) -> list:
    """The uploaded image, shown, as a list of zero or one; a bad file is reported and left out."""
    upload = st.file_uploader("Image (optional)", type=helpers.UPLOAD_TYPES, key="image_upload")
    if not space.supports_images:
        st.text(space.images_note)
    if upload is None:
        return []
    try:
        explorer.check_upload_size(upload.name, upload.size)
        image = helpers.read_upload(upload.name, upload.getvalue())
    except EmbedspaceError as exc:
        show_failure(exc)
        st.caption("Comparing the texts without it.")
        return []
    st.image(image.image, width=260)
    st.text(image.name)
    return [image]


def show_similarity(comparison) -> None:
    # No plotly toolbar: it covers the top labels, and hovering a cell already gives its value.
    st.plotly_chart(helpers.heatmap_figure(comparison), width="content", key="similarity_heatmap",
                    config={"displayModeBar": False})
    number = st.column_config.NumberColumn(format="%.3f")
    st.markdown("**Cosine similarity**")
    columns = {label: number for label in comparison.labels}
    # Row labels are the texts: wide enough to read them, no wider, so the numbers fit too.
    label_width = min(60 + 7 * max(len(label) for label in comparison.labels), 230)
    columns["_index"] = st.column_config.Column(width=label_width)
    st.dataframe(comparison.table(), column_config=columns)
    st.markdown("**Pairs, most similar first**")
    st.dataframe(comparison.pairs(), column_config={"cosine": number}, hide_index=True)


def open_to_the_network() -> bool:
    """Streamlit without server.address listens on every interface. The checkout's
    .streamlit/config.toml sets 127.0.0.1; a server started elsewhere without it would not."""
    return not st.get_option("server.address")


def main() -> None:
    st.set_page_config(page_title="embedspace", layout="wide")
    if open_to_the_network():  # closed by default: say so and show nothing rather than serve the network
        alert("error", "This app is listening on every network interface, so it shows nothing.",
              "Start it from the embedspace folder (make run, or streamlit run app.py there: its .streamlit/config.toml "
              "keeps it on 127.0.0.1), or pass --server.address 127.0.0.1. To open it to the network on purpose, "
              "pass --server.address 0.0.0.0 (docs/app.md, 'Who can connect').")
        st.stop()
    keep_widget_state()
    index, space, problem = index_sidebar()
    tabs = dict(zip(PANELS, st.tabs(PANELS, key="panel", bind="query-params")))
    if tabs["Compare"].open:
        with tabs["Compare"]:
            compare_panel(index)
        return
    if tabs["Tokens"].open:
        with tabs["Tokens"]:
            tokens_panel(space, problem)
        return
    if index is None:
        for name in ("Search", "Analogy", "Translate", "Map"):
            if tabs[name].open:
                tabs[name].info("Pick or build an index first (see the sidebar).")
        return
    panels = {"Search": search_panel, "Analogy": analogy_panel, "Translate": translate_panel, "Map": map_panel}
    for name, panel in panels.items():
        if tabs[name].open:
            with tabs[name]:
                panel(index, space, problem)
    if not tabs["Map"].open:
        prepare_map(index, space, problem, tabs["Map"])


main()
