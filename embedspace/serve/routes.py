"""The endpoints. Each is thin over the Python API (embedspace.query, embedspace.index): it opens
the index (OpenIndexes), calls the function the CLI calls, and returns its answer, the CLI's
`--json` shape. Routes that touch an index are plain functions, run in FastAPI's thread pool."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import FastAPI
from fastapi import Path as PathParam

from .. import __version__, query
from ..errors import EmbedspaceError
from ..index import InlineItem, add_items, describe_index, read_manifest, remove_items
from ..index.store import partition_count
from ..paths import NAME_PATTERN
from .errors import declared
from .guard import OPEN, WRITE
from .models import (
    AnalogyAnswer,
    AnalogyBatch,
    AnalogyBatchAnswer,
    AnalogyQuery,
    EmbedAnswer,
    EmbedRequest,
    FaissInfo,
    Health,
    IndexInfo,
    IndexList,
    IndexSummary,
    ItemsAdded,
    ItemsRemoved,
    Metrics,
    NewItems,
    RemoveItems,
    SearchAnswer,
    SearchBatch,
    SearchBatchAnswer,
    SearchQuery,
    TranslateAnswer,
    TranslateBatch,
    TranslateBatchAnswer,
    TranslateQuery,
)
from .open_indexes import OpenIndexes
from .settings import ServeSettings

IndexName = Annotated[str, PathParam(pattern=NAME_PATTERN.pattern, max_length=100, examples=["demo"],
                                     description="An index of the server's folder (GET /indexes lists them).")]
ACCESS = {"health": OPEN, "docs": OPEN, "openapi": OPEN, "add_items": WRITE, "remove_items": WRITE}
TOKEN = [{"token": []}]  # the OpenAPI security requirement of a route that needs the token


def add_routes(app: FastAPI, indexes: OpenIndexes, metrics, settings: ServeSettings) -> None:
    started = time.monotonic()
    protected = settings.protect_reads
    read = {"responses": declared(400, *((401, 403) if protected else ()), 404, 409, 413, 422, 503),
            "openapi_extra": {"security": TOKEN} if protected else None}
    write = {"responses": declared(400, 401, 403, 404, 409, 413, 422, 503), "openapi_extra": {"security": TOKEN}}
    service = {"responses": declared(400, *((401, 403) if protected else ()), 413),
               "openapi_extra": {"security": TOKEN} if protected else None}

    # -- the service ---------------------------------------------------------------------------------
    @app.get("/health", response_model=Health, name="health", tags=["service"], responses=declared(400, 413),
             summary="Whether the server is up (no index is touched)")
    async def health():
        return {"status": "ok", "version": __version__, "uptime_seconds": round(time.monotonic() - started, 3)}

    @app.get("/metrics", response_model=Metrics, name="metrics", tags=["service"], summary="Requests and latency by "
             "endpoint, since the start", **service)
    async def request_metrics():  # async: the figures are kept on the event loop's thread
        return metrics.snapshot()

    # -- indexes ---------------------------------------------------------------------------------
    @app.get("/indexes", response_model=IndexList, name="list_indexes", tags=["indexes"],
             summary="The indexes of the server's folder", **service)
    def list_all():
        return {"indexes": [_summary(name, settings.index_dir) for name in indexes.names()]}

    @app.get("/indexes/{name}", response_model=IndexInfo, name="index_info", tags=["indexes"],
             summary="What an index holds, and why its FAISS index is what it is", **read)
    def info(name: IndexName):
        return _info(indexes.get(name))

    # -- queries ---------------------------------------------------------------------------------
    @app.post("/indexes/{name}/search", response_model=SearchAnswer, name="search", tags=["queries"],
              summary="Nearest items to a text, an image, a vector or an item", **read)
    def search(name: IndexName, body: SearchQuery):
        opened = indexes.get(name)
        return query.search(opened.index, opened.space, text=body.text, image=body.image, vector=body.vector,
                            item_id=body.id, k=body.k, lang=body.lang, kind=body.kind, image_via=body.image_via,
                            label=body.label)

    @app.post("/indexes/{name}/search/batch", response_model=SearchBatchAnswer, name="search_batch",
              tags=["queries"], summary="Many searches of one kind, with the same options", **read)
    def search_batch(name: IndexName, body: SearchBatch):
        opened = indexes.get(name)
        return {"answers": query.search_many(opened.index, opened.space, texts=body.texts, images=body.images,
                                             vectors=body.vectors, ids=body.ids, k=body.k, lang=body.lang,
                                             kind=body.kind, image_via=body.image_via, label=body.label)}

    @app.post("/indexes/{name}/analogy", response_model=AnalogyAnswer, name="analogy", tags=["queries"],
              summary="a is to b as c is to ?", **read)
    def analogy(name: IndexName, body: AnalogyQuery):
        opened = indexes.get(name)
        return query.analogy(opened.index, opened.space, body.a, body.b, body.c, k=body.k, method=body.method,
                             lang=body.lang, kind=body.kind)

    @app.post("/indexes/{name}/analogy/batch", response_model=AnalogyBatchAnswer, name="analogy_batch",
              tags=["queries"], summary="Many analogies, with the same options", **read)
    def analogy_batch(name: IndexName, body: AnalogyBatch):
        opened = indexes.get(name)
        return {"answers": query.analogy_many(opened.index, opened.space, body.triples, k=body.k, method=body.method,
                                              lang=body.lang, kind=body.kind)}

    @app.post("/indexes/{name}/translate", response_model=TranslateAnswer, name="translate", tags=["queries"],
              summary="Nearest items in another language (CSLS by default)", **read)
    def translate(name: IndexName, body: TranslateQuery):
        opened = indexes.get(name)
        return query.translate(opened.index, opened.space, body.text, to=body.to, from_=body.from_,
                               method=body.method, k=body.k, use_text_map=body.text_map,
                               rerank=body.rerank)

    @app.post("/indexes/{name}/translate/batch", response_model=TranslateBatchAnswer, name="translate_batch",
              tags=["queries"], summary="Many translations, with the same options", **read)
    def translate_batch(name: IndexName, body: TranslateBatch):
        opened = indexes.get(name)
        return {"answers": query.translate_many(opened.index, opened.space, body.texts, to=body.to, from_=body.from_,
                                                method=body.method, k=body.k, use_text_map=body.text_map,
                                                rerank=body.rerank)}

    @app.post("/indexes/{name}/embed", response_model=EmbedAnswer, name="embed", tags=["queries"],
              summary="Vectors of texts or images in the index's own space", **read)
    def embed(name: IndexName, body: EmbedRequest):
        space = indexes.get(name).space
        if body.texts is not None:
            vectors = space.embed_texts(body.texts, role=body.role)
        else:
            vectors = space.embed_images(body.images, via=body.image_via)
        return {"space_id": space.id, "dim": space.dim, "vectors": vectors.tolist()}

    # -- writes ----------------------------------------------------------------------------------
    @app.post("/indexes/{name}/items", response_model=ItemsAdded, name="add_items", tags=["items"],
              summary="Add items given inline: texts with their fields, images in base64 (needs the token)", **write)
    def add(name: IndexName, body: NewItems):
        indexes.check(name)
        items = [InlineItem(text=i.text, image=i.image, lang=i.lang, label=i.label, concept=i.concept, meta=i.meta)
                 for i in body.items]
        report = add_items(name, items, index_dir=settings.index_dir, allow_duplicates=body.allow_duplicates)
        return {"added": report.added, "ids": report.ids, "items": report.total_items,
                "skipped": [{"where": s.get("where"), "reason": s["reason"]} for s in report.skipped]}

    @app.delete("/indexes/{name}/items", response_model=ItemsRemoved, name="remove_items", tags=["items"],
                summary="Remove items by id (needs the token)", **write)
    def remove(name: IndexName, body: RemoveItems):
        indexes.check(name)
        removed = remove_items(name, ids=body.ids, index_dir=settings.index_dir)
        manifest = read_manifest(name, settings.index_dir) or {}
        return {"removed": removed, "items": manifest.get("counts", {}).get("items", 0)}


def _summary(name: str, index_dir) -> IndexSummary:
    try:
        manifest = read_manifest(name, index_dir)
    except EmbedspaceError as exc:
        manifest, problem = None, str(exc)
    else:
        problem = None if manifest else "it was removed while being listed"
    manifest = manifest or {}
    return IndexSummary(name=name, items=manifest.get("counts", {}).get("items"), space_id=manifest.get("space_id"),
                        space_spec=manifest.get("space_spec"), dim=manifest.get("dim"),
                        generation=manifest.get("generation"), updated=manifest.get("updated"), problem=problem)


def _info(opened) -> IndexInfo:
    index, manifest = opened.index, opened.index.manifest
    counts, faiss = manifest.get("counts", {}), manifest["index"]
    return IndexInfo(
        name=index.name, generation=index.generation, space_id=index.space_id, space_spec=manifest["space_spec"],
        dim=index.dim, metric=manifest.get("metric"), items=len(index), by_kind=counts.get("by_kind", {}),
        by_lang=counts.get("by_lang", {}), concepts=counts.get("concepts", 0), next_id=manifest.get("next_id"),
        created=manifest.get("created"), updated=manifest.get("updated"),
        faiss=FaissInfo(kind=faiss["kind"], factory=faiss["factory"], reason=faiss["reason"],
                        requested=faiss.get("requested"), partitions=partition_count(manifest),
                        search_params={k: float(v) for k, v in (faiss.get("search_params") or {}).items()}),
        image_routes=opened.space.image_routes(), description=describe_index(index))
