"""Page logic of the app's index panels (search, analogy, translation, item details), no Streamlit.

The app collects what a person typed, uploaded or clicked and calls these functions, which call
the query API (embedspace.query) and shape its results for display. Everything a person can get
wrong raises an EmbedspaceError with a message the page shows as it is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import langcodes
import numpy as np
import pandas as pd

from .. import query as queries
from ..errors import EmbedspaceError, InputError
from ..index.store import Index, index_version, list_indexes
from .compare import describe_failure, read_upload

DEMO = "demo"
MAX_UPLOAD_BYTES = 20 * 2**20  # larger files are refused before decoding (photos are ~2-8 MB)
ANY = "any"  # the filter value that means no filter
DEFAULT_K = 12
MAX_K = 100


# -- indexes -----------------------------------------------------------------------------------------
def index_choices(index_dir=None) -> list[str]:
    """Indexes to pick from, the demo first."""
    names = list_indexes(index_dir)
    return sorted(names, key=lambda name: (name != DEMO, name))


def index_stamp(name: str, index_dir=None) -> str:
    """Changes whenever a writer commits a new generation: a cache key for opened indexes."""
    try:
        return index_version(name, index_dir) or ""
    except EmbedspaceError:
        return ""


@dataclass
class IndexSummary:
    name: str
    items: int
    kinds: str  # "64,170 texts, 1,914 images"
    languages: list  # text languages, most items first
    faiss: str
    space_spec: str
    space_id: str


def summarize_index(index: Index) -> IndexSummary:
    counts = index.items["kind"].value_counts()
    kinds = ", ".join(f"{counts[kind]:,} {kind}s" for kind in ("text", "image") if kind in counts)
    return IndexSummary(index.name, len(index), kinds, index_languages(index),
                        f"{index.manifest['index']['factory']} ({index.kind})",
                        index.manifest.get("space_spec", ""), index.space_id)


def index_languages(index: Index) -> list[str]:
    """Languages of the index's text items, the most frequent first."""
    langs = index.items.loc[index.items["kind"] == "text", "lang"].dropna()
    return langs.value_counts().index.tolist()


def index_kinds(index: Index) -> list[str]:
    return [kind for kind in ("text", "image") if (index.items["kind"] == kind).any()]


def space_problem(exc: BaseException, index: Index) -> str:
    """Why an index's space cannot run here, and what still works."""

    return (f"The space of index '{index.name}' ({index.manifest.get('space_spec')}) can't run here: "
            f"{describe_failure(exc)} Searches, analogies and translations need it; the map and each "
            "item's neighbours still work, since they use the index's stored vectors.")


# -- queries -----------------------------------------------------------------------------------------
@dataclass
class Query:
    """What a search is for: a text, an uploaded image or an index item, and its vector."""

    kind: str  # text | image | item
    label: str  # how the page names it
    vector: np.ndarray = field(repr=False)
    item_id: int | None = None
    text: str | None = None


def text_query(space, text: str | None) -> Query:
    text = (text or "").strip()
    if not text:
        raise InputError("Type a word or a sentence to search for (any language), upload an image, "
                         "or pick an item with 'Use'.")
    return Query("text", text, space.embed_texts([text], role="query")[0], text=text)


def check_upload_size(name: str, size: int) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise InputError(f"'{name}' is {size / 2**20:,.1f} MB; the limit is {MAX_UPLOAD_BYTES / 2**20:,.0f} MB. "
                         "Save a smaller copy (a few megapixels is plenty) and upload that.")
    if size == 0:
        raise InputError(f"'{name}' is empty (0 bytes); upload an image file.")


def image_query(space, name: str, data: bytes, via: str | None = None) -> Query:
    """An uploaded image as a query; a bad, empty or huge file raises InputError naming it."""

    check_upload_size(name, len(data))
    if not space.supports_images:
        raise InputError(f"This index's space takes no images: {space.images_note}")
    upload = read_upload(name, data)
    label = f"image: {name}" + (f" (via {via})" if via and via != next(iter(space.image_routes()), None) else "")
    return Query("image", label, space.embed_images([upload.image], via=via)[0])


def item_query(index: Index, item_id: int) -> Query:
    row = row_of(index, item_id)
    return Query("item", f"item #{item_id}: {item_title(index.result_row(row))}", index.vectors_f32([row])[0],
                 item_id=int(item_id))


def row_of(index: Index, item_id) -> int:
    try:
        return index.row_of_id[int(item_id)]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"Index '{index.name}' has no item #{item_id} (it may have been removed).") from None


def filter_value(value: str | None) -> str | None:
    return None if value in (None, "", ANY) else value


def search(index: Index, space, query: Query, k: int = DEFAULT_K, lang: str | None = None,
           kind: str | None = None) -> list[dict]:
    """The query's k nearest items; an item query leaves out the item itself."""
    lang, kind = filter_value(lang), filter_value(kind)
    # an item query searches by the item's id: the search leaves the item out before it merges kinds
    by = {"item_id": query.item_id} if query.item_id is not None else {"vector": query.vector}
    found = queries.search(index, space, k=k, lang=lang, kind=kind, **by)["results"]
    if not found:
        raise InputError(f"No items match the filters (kind: {kind or ANY}, language: {lang or ANY}); widen them.")
    return [{**r, "rank": rank} for rank, r in enumerate(found, start=1)]


# -- analogy -----------------------------------------------------------------------------------------
@dataclass
class Analogy:
    terms: tuple  # (a, b, c)
    method: str
    results: list
    vectors: np.ndarray = field(repr=False)  # (3, dim): a, b, c as the analogy embeds them


def analogy_terms(a, b, c) -> tuple:
    terms = tuple((term or "").strip() for term in (a, b, c))
    for name, term in zip("ABC", terms):
        if not term:
            raise InputError(f"{name} is empty: an analogy reads 'A is to B as C is to ?', so give all three.")
    return terms


def analogy(index: Index, space, a, b, c, method: str = "add", k: int = DEFAULT_K, lang=None, kind=None) -> Analogy:
    terms = analogy_terms(a, b, c)
    result = queries.analogy(index, space, *terms, k=k, method=method, lang=filter_value(lang),
                             kind=filter_value(kind))
    if not result["results"]:
        raise InputError("No items match the filters besides A, B and C; widen them.")
    # Embedded as analogy() embeds its operands (role='item'), for the arrows on the map.
    return Analogy(terms, method, result["results"], space.embed_texts(list(terms), role="item"))


# -- translation -------------------------------------------------------------------------------------
@dataclass
class Translation:
    text: str
    to: str
    from_: str | None
    nn: list
    csls: list

    def side_by_side(self) -> pd.DataFrame:
        """Rank by rank: NN's item and cosine beside CSLS's item and score; ✱ marks the items that
        only one of the two methods ranks this high."""
        nn_ids, csls_ids = {r["id"] for r in self.nn}, {r["id"] for r in self.csls}
        rows = []
        for rank in range(max(len(self.nn), len(self.csls))):
            row = {"rank": rank + 1}
            for method, results, other in (("NN", self.nn, csls_ids), ("CSLS", self.csls, nn_ids)):
                if rank < len(results):
                    r = results[rank]
                    row[method] = r["text"] + ("" if r["id"] in other else " ✱")
                    row[f"{method} score"] = r["score"]
            rows.append(row)
        return pd.DataFrame(rows, columns=["rank", "NN", "NN score", "CSLS", "CSLS score"])


def translate(index: Index, space, text, to, from_=None, k: int = 10) -> Translation:
    """Both methods on one text: nearest neighbour (cosine) and CSLS."""
    text = (text or "").strip()
    if not text:
        raise InputError("Type a word or phrase to translate.")
    to_lang = filter_value(to)
    if not to_lang:
        raise InputError("Pick the language to translate into.")
    from_lang = filter_value(from_)
    if from_lang and from_lang == to_lang:
        raise InputError(f"The source and target language are both '{to_lang}': pick another target.")
    # The panel compares the two methods' own rankings (its caption defines CSLS's score), so CSLS is
    # shown without `translate`'s default re-ranking by spelling + frequency.
    results = {method: queries.translate(index, space, text, to=to_lang, from_=from_lang, method=method, k=k,
                                         rerank="none")["results"]
               for method in ("nn", "csls")}
    return Translation(text, to_lang, from_lang, results["nn"], results["csls"])


# -- showing items -----------------------------------------------------------------------------------
def item_title(result: dict) -> str:
    """A text item's text; an image's emoji/concept and file name."""
    if result.get("kind") == "image":
        name = Path(result["path"]).name if result.get("path") else "image"
        return f"{result['concept']} {name}" if result.get("concept") else name
    return result.get("text") or ""


@lru_cache(maxsize=512)
def flag(lang: str | None) -> str:
    """The flag of a language's most likely country (CLDR's likely subtags): a hint beside the code."""
    if not lang:
        return ""

    try:
        territory = langcodes.Language.get(lang).maximize().territory
    except (ValueError, LookupError, AttributeError):
        return ""
    if not territory or len(territory) != 2 or not territory.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in territory.upper())


def language_label(lang: str | None) -> str:
    return f"{flag(lang)} {lang}".strip() if lang else ""


@dataclass
class Card:
    """One result as the gallery shows it."""

    id: int
    kind: str
    title: str
    language: str  # flag and code, or ""
    label: str
    score: float
    cosine: float
    image: str | None  # path of an image to show
    rank: int


def cards(index: Index, results: list) -> list[Card]:
    out = []
    for r in results:
        image = r.get("path") if r.get("kind") == "image" else None
        if image and not os.path.isfile(image):
            image = None  # the file moved since the build: show the title only
        out.append(Card(r["id"], r["kind"], item_title(r), language_label(r.get("lang")), r.get("label") or "",
                        r["score"], r["cosine"], image, r["rank"]))
    return out


def results_table(results: list, score_name: str = "score") -> pd.DataFrame:
    rows = [{"rank": r["rank"], "item": item_title(r), "language": language_label(r.get("lang")),
             "kind": r["kind"], "label": r.get("label") or "", score_name: r["score"], "cosine": r["cosine"],
             "id": r["id"]} for r in results]
    return pd.DataFrame(rows, columns=["rank", "item", "language", "kind", "label", score_name, "cosine", "id"])


@dataclass
class ItemView:
    """An item for the map's side panel: what it is, its image, its translations and neighbours."""

    id: int
    kind: str
    title: str
    language: str
    label: str
    concept: str | None
    image: str | None  # its own image, or the image of its concept
    image_caption: str
    same_concept: pd.DataFrame  # the other items of its concept (translations)
    neighbours: pd.DataFrame  # nearest items in the full space
    meta: dict


def item_view(index: Index, item_id: int, k: int = 8) -> ItemView:
    row = row_of(index, item_id)
    item = index.result_row(row)
    image, caption = _image_of(index, item)
    concept = item.get("concept")
    same = pd.DataFrame(columns=["item", "language", "kind"])
    if concept:
        rows = np.flatnonzero((index.items["concept"] == concept).to_numpy())
        others = [index.result_row(r) for r in rows if r != row]
        same = pd.DataFrame([{"item": item_title(o), "language": language_label(o.get("lang")), "kind": o["kind"]}
                             for o in others], columns=["item", "language", "kind"])
    # The query API's candidate search, on the stored vector: works without loading the space.
    rows, cosines = queries.nearest(index, index.vectors_f32([row])[0], k + 1)
    neighbours = [{**index.result_row(r), "rank": 0, "score": float(c), "cosine": float(c)}
                  for r, c in zip(rows, cosines) if r != row][:k]
    for rank, r in enumerate(neighbours, start=1):
        r["rank"] = rank
    table = results_table(neighbours).drop(columns=["score", "id"])
    return ItemView(int(item_id), item["kind"], item_title(item), language_label(item.get("lang")),
                    item.get("label") or "", concept, image, caption, same, table, _meta(index, row))


def _image_of(index: Index, item: dict) -> tuple[str | None, str]:
    if item["kind"] == "image" and item.get("path") and os.path.isfile(item["path"]):
        return item["path"], item_title(item)
    concept = item.get("concept")
    if concept:
        images = index.items[(index.items["concept"] == concept) & (index.items["kind"] == "image")]
        for path in images["path"].dropna():
            if os.path.isfile(path):
                return path, f"the image of its concept {concept}"
    return None, ""


def _meta(index: Index, row: int) -> dict:
    if "meta" not in index.items.columns:
        return {}
    raw = index.items["meta"].iat[row]
    try:
        return json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}

