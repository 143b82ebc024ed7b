"""The request and response bodies of the HTTP API, every field named, with the limits stated in
the schema (so /openapi.json tells a client what is refused before it sends it).

Requests refuse unknown fields (a typo is a 422, not a silently ignored option). Texts are whole
Unicode (a lone surrogate such as "\\ud800" is refused); images are base64 and are decoded here.
The answers are the CLI's `--json` shapes: {"query": ..., "results": [...]}.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from ..text import describe_lone_surrogate
from .settings import (
    IMAGE_PIXELS,
    MAX_BATCH,
    MAX_DIM,
    MAX_IDS,
    MAX_IMAGE_BASE64,
    MAX_IMAGE_BYTES,
    MAX_IMAGES,
    MAX_ITEMS,
    MAX_K,
    MAX_META_FIELDS,
    MAX_NAME_CHARS,
    MAX_TEXT_CHARS,
)

MAX_ID = 2**63 - 1  # item ids are int64


def whole_characters(value: str) -> str:
    """Refuse a lone surrogate (JSON's "\\ud800"): no model reads it, and no answer could carry it as UTF-8."""
    problem = describe_lone_surrogate(value)
    if problem:
        raise ValueError(f"holds {problem}; send whole characters")
    return value


def decode_image(value: str) -> bytes:
    """base64 (standard alphabet, padded), optionally as a data: URL, to the image's bytes."""
    if value.startswith("data:"):
        header, _, value = value.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("a data: URL must be base64 (data:image/png;base64,...)")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64 (standard alphabet, with padding)") from None
    if not data:
        raise ValueError("is empty: give the image's bytes in base64")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"is {len(data):,} bytes; the limit is {MAX_IMAGE_BYTES:,}")
    return data


def _text(max_length: int, description: str):
    return Annotated[str, Field(min_length=1, max_length=max_length, description=description),
                     AfterValidator(whole_characters)]


QueryText = _text(MAX_TEXT_CHARS, "A text in any language the index's space reads.")
Term = _text(MAX_TEXT_CHARS, "A word or phrase.")
Lang = _text(35, "A language: a code or a name (es, de-DE, zh-Hans, spa, Spanish).")
Name = _text(MAX_NAME_CHARS, "A name (label, concept, image route).")
Image = Annotated[str, Field(min_length=4, max_length=MAX_IMAGE_BASE64,
                             description=f"An image file (png, jpeg, webp, gif, ...) in base64, or a data: URL; "
                                         f"at most {MAX_IMAGE_BYTES:,} bytes and {IMAGE_PIXELS:,} pixels."),
                  AfterValidator(decode_image)]
Number = Annotated[float, Field(allow_inf_nan=False)]
Vector = Annotated[list[Number], Field(min_length=1, max_length=MAX_DIM,
                                       description="A vector in the index's space (its `dim` numbers).")]
ItemId = Annotated[int, Field(ge=0, le=MAX_ID, description="An item's id (ids never change).")]
K = Annotated[int, Field(ge=1, le=MAX_K, description="How many results.")]
Kind = Literal["text", "image"]
MetaValue = Annotated[str, Field(max_length=1000), AfterValidator(whole_characters)] | int | Number | bool | None
MetaKey = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(whole_characters)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


def examples(*bodies: dict) -> ConfigDict:
    """A request model's config with examples: the docs page fills them in, and the schema tests send them."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(bodies)})


def exactly_one(model, fields: tuple) -> None:
    given = [f for f in fields if getattr(model, f) is not None]
    if len(given) != 1:
        raise ValueError(f"give exactly one of {', '.join(fields)} (got {', '.join(given) or 'none'})")


# -- search ----------------------------------------------------------------------------------------
class SearchOptions(Request):
    k: K = 10
    kind: Kind | None = Field(None, description="Only items of this kind.")
    lang: Lang | None = Field(None, description="Only items in this language.")
    label: Name | None = Field(None, description="Only items with this label.")
    image_via: Name | None = Field(None, description="How an image query enters the space: one of the index's "
                                                     "`image_routes` (default: the space's own).")


class SearchQuery(SearchOptions):
    """Exactly one of text, image, vector or id (an item of the index: its neighbours, itself left out)."""

    model_config = examples({"text": "perro", "k": 5}, {"text": "Hund", "k": 3, "lang": "es", "kind": "text"})

    text: QueryText | None = None
    image: Image | None = None
    vector: Vector | None = None
    id: ItemId | None = None

    @model_validator(mode="after")
    def _one_query(self):
        exactly_one(self, ("text", "image", "vector", "id"))
        if self.image_via is not None and self.image is None:
            raise ValueError("image_via goes with an image query")
        return self


class SearchBatch(SearchOptions):
    """Many queries of one kind with the same options: exactly one of texts, images, vectors or ids."""

    model_config = examples({"texts": ["perro", "casa"], "k": 3})

    texts: list[QueryText] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    images: list[Image] | None = Field(None, min_length=1, max_length=MAX_IMAGES)
    vectors: list[Vector] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    ids: list[ItemId] | None = Field(None, min_length=1, max_length=MAX_BATCH)

    @model_validator(mode="after")
    def _one_kind(self):
        exactly_one(self, ("texts", "images", "vectors", "ids"))
        if self.image_via is not None and self.images is None:
            raise ValueError("image_via goes with image queries")
        return self


class Result(BaseModel):
    """One item found, best first."""

    rank: int = Field(description="1 for the best.")
    id: int = Field(description="The item's id.")
    kind: str = Field(description="text or image.")
    text: str | None = Field(description="The text, or an image's caption.")
    lang: str | None = Field(description="The text's language.")
    label: str | None
    concept: str | None = Field(description="The id shared by translations of one thing.")
    path: str | None = Field(description="An image item's file, as indexed.")
    score: float = Field(description="The method's own score (cosine for search).")
    cosine: float = Field(description="Plain cosine between the query and the item.")


class ImageLabel(BaseModel):
    image: str = Field(description="The image, described (its size in bytes).")
    via: str | None = Field(None, exclude_if=lambda via: via is None, description="The image route asked for, if one "
                                                                                 "was (absent otherwise, as in the CLI).")


class VectorLabel(BaseModel):
    vector: bool


class ItemLabel(BaseModel):
    id: int = Field(description="The item searched from.")


class SearchAnswer(BaseModel):
    query: str | ImageLabel | VectorLabel | ItemLabel = Field(description="What was searched for.")
    results: list[Result]


class SearchBatchAnswer(BaseModel):
    answers: list[SearchAnswer] = Field(description="One per query, in order.")


# -- analogy ---------------------------------------------------------------------------------------
class AnalogyOptions(Request):
    k: K = 10
    method: Literal["add", "mul"] = Field("add", description="3CosAdd or 3CosMul.")
    lang: Lang | None = Field(None, description="Only answers in this language.")
    kind: Kind | None = Field(None, description="Only answers of this kind.")


class AnalogyQuery(AnalogyOptions):
    """a is to b as c is to ?  (any item whose text is a, b or c is left out)."""

    model_config = examples({"a": "man", "b": "king", "c": "woman", "k": 3})

    a: Term
    b: Term
    c: Term


class AnalogyBatch(AnalogyOptions):
    model_config = examples({"triples": [["man", "king", "woman"], ["hombre", "rey", "mujer"]], "k": 3})

    triples: list[Annotated[list[Term], Field(min_length=3, max_length=3)]] = Field(
        min_length=1, max_length=MAX_BATCH, description="Analogies [a, b, c], each read as a is to b as c is to ?")


class AnalogyAnswer(BaseModel):
    query: list[str] = Field(description="[a, b, c].")
    method: str
    results: list[Result]


class AnalogyBatchAnswer(BaseModel):
    answers: list[AnalogyAnswer]


# -- translation -----------------------------------------------------------------------------------
class TranslateOptions(Request):
    to: Lang = Field(description="The target language.")
    from_: Lang | None = Field(None, alias="from", description="The source language (CSLS measures hubness "
                                                               "against its items; a text map applies if saved).")
    method: Literal["csls", "nn"] = Field("csls", description="CSLS (default) or plain nearest neighbour.")
    k: K = 10
    text_map: bool = Field(True, description="Use a text map saved by `align-text` for this space and direction.")
    rerank: Literal["spelling-frequency", "none"] = Field(
        "spelling-frequency", description="Re-order CSLS's top 10 of a one-word query into English by spelling, "
        "frequency, base form and, with `from` es/fr/it/pt, word class (default), or keep CSLS's order (none).")


class TranslateQuery(TranslateOptions):
    model_config = examples({"text": "perro", "to": "en", "from": "es", "k": 3})

    text: QueryText


class TranslateBatch(TranslateOptions):
    model_config = examples({"texts": ["perro", "gato"], "to": "de"})

    texts: list[QueryText] = Field(min_length=1, max_length=MAX_BATCH)


class TranslateAnswer(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    query: str
    to: str
    from_: str | None = Field(alias="from")
    method: str
    text_map: bool = Field(description="Whether a text map was applied.")
    setting: str = Field("", description="The method, which text map was used or why none, and the re-ranking "
                         "(what each result's score is).")
    results: list[Result]


class TranslateBatchAnswer(BaseModel):
    answers: list[TranslateAnswer]


# -- embed -----------------------------------------------------------------------------------------
class EmbedRequest(Request):
    """Exactly one of texts or images, embedded in the index's own space."""

    model_config = examples({"texts": ["perro", "dog"]})

    texts: list[QueryText] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    images: list[Image] | None = Field(None, min_length=1, max_length=MAX_IMAGES)
    role: Literal["query", "item"] = Field("item", description="Texts: as items or as search queries (only "
                                                               "spaces with asymmetric prefixes differ).")
    image_via: Name | None = Field(None, description="Images: one of the index's `image_routes`.")

    @model_validator(mode="after")
    def _one_kind(self):
        exactly_one(self, ("texts", "images"))
        return self


class EmbedAnswer(BaseModel):
    space_id: str
    dim: int
    vectors: list[list[float]] = Field(description="One unit-length row per input, in order.")


# -- items -----------------------------------------------------------------------------------------
class NewItem(Request):
    """A text, or an image (base64) with an optional caption in `text`."""

    text: QueryText | None = None
    image: Image | None = None
    lang: Lang | None = None
    label: Name | None = None
    concept: Name | None = None
    meta: dict[MetaKey, MetaValue] | None = Field(None, max_length=MAX_META_FIELDS,
                                                  description="More fields, kept with the item.")

    @model_validator(mode="after")
    def _text_or_image(self):
        if self.text is None and self.image is None:
            raise ValueError("give a text, an image, or both (an image and its caption)")
        return self


class NewItems(Request):
    model_config = examples({"items": [{"text": "Löwe", "lang": "de", "label": "animal", "concept": "lion"}]})

    items: list[NewItem] = Field(min_length=1, max_length=MAX_ITEMS)
    allow_duplicates: bool = Field(False, description="Keep exact duplicates instead of skipping them.")


class Skipped(BaseModel):
    where: str | None = Field(description="Which item (item N, counting from 1).")
    reason: str


class ItemsAdded(BaseModel):
    added: int
    ids: list[int] = Field(description="The ids given to the new items.")
    skipped: list[Skipped]
    items: int = Field(description="Items in the index after the write.")


class RemoveItems(Request):
    ids: list[ItemId] = Field(min_length=1, max_length=MAX_IDS)


class ItemsRemoved(BaseModel):
    removed: int
    items: int = Field(description="Items in the index after the write.")


# -- indexes ---------------------------------------------------------------------------------------
class IndexSummary(BaseModel):
    name: str
    items: int | None
    space_id: str | None
    space_spec: str | None
    dim: int | None
    generation: str | None = Field(description="The committed version being served.")
    updated: str | None
    problem: str | None = Field(description="Why the index cannot be read, if it cannot.")


class IndexList(BaseModel):
    indexes: list[IndexSummary]


class FaissInfo(BaseModel):
    kind: str
    factory: str
    reason: str = Field(description="Why this FAISS index was chosen.")
    requested: str | None
    partitions: int
    search_params: dict[str, float]


class IndexInfo(BaseModel):
    name: str
    generation: str | None
    space_id: str
    space_spec: str
    dim: int
    metric: str | None
    items: int
    by_kind: dict[str, int]
    by_lang: dict[str, int] = Field(description="Text items per language.")
    concepts: int
    next_id: int | None = Field(description="The id the next item gets (ids are never reused).")
    created: str | None
    updated: str | None
    faiss: FaissInfo
    image_routes: dict[str, str] = Field(description="How images enter the space (`image_via`), its own first; "
                                                     "empty when it takes no images.")
    description: str = Field(description="`embedspace info NAME`: the index in plain words.")


# -- service ---------------------------------------------------------------------------------------
class Health(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_seconds: float


class Latency(BaseModel):
    mean: float
    p50: float
    p90: float
    p99: float
    max: float


class EndpointMetrics(BaseModel):
    endpoint: str = Field(description="METHOD /path template, or 'unmatched'.")
    count: int
    by_status: dict[str, int]
    latency_ms: Latency = Field(description="Over the endpoint's most recent requests (`window`).")
    window: int


class Metrics(BaseModel):
    since: str
    requests: int
    endpoints: list[EndpointMetrics]


class ErrorDetail(BaseModel):
    field: str = Field(description="Where in the request, e.g. body.k.")
    problem: str


class ErrorBody(BaseModel):
    """Every refusal: the status, a short code, and a message that says what to do."""

    status: int
    error: str
    message: str
    details: list[ErrorDetail] | None = None
