"""The application: routes, refusals, docs and metrics put together (create_app), and running it
on uvicorn (run)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

from .. import __version__
from .docs import add_docs
from .errors import install_handlers
from .guard import Guard
from .metrics import MetricsMiddleware, RequestMetrics
from .open_indexes import OpenIndexes
from .routes import ACCESS, add_routes
from .settings import MAX_BODY_BYTES, ServeSettings

DESCRIPTION = f"""Nearest neighbours, analogies, translation and embeddings over the indexes of one folder,
the same answers as `embedspace search|analogy|translate --json`.

Writes (`/indexes/{{name}}/items`) need the server's token (`Authorization: Bearer TOKEN`); a server
started without one takes none. Every refusal is JSON: `{{status, error, message, details}}`.
Request bodies are limited to {MAX_BODY_BYTES:,} bytes."""


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    app = FastAPI(title="embedspace", version=__version__, description=DESCRIPTION, docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json", generate_unique_id_function=lambda route: route.name)
    indexes, metrics = OpenIndexes(settings.index_dir), RequestMetrics()
    app.state.settings, app.state.indexes, app.state.metrics = settings, indexes, metrics
    install_handlers(app)
    add_routes(app, indexes, metrics, settings)
    add_docs(app)
    # the last added runs first: metrics around everything, CORS (only if asked for), then the guard
    app.add_middleware(Guard, settings=settings, routes=app.router.routes, access=ACCESS)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST",
                           "DELETE"], allow_headers=["Authorization", "Content-Type"])
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.openapi = lambda: _openapi(app)
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, plus the bearer token that the routes marked `security` need."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {})["securitySchemes"] = {
            "token": {"type": "http", "scheme": "bearer", "description": "The token the server was started with "
                                                                          "(--token or EMBEDSPACE_TOKEN)."}}
        app.openapi_schema = schema
    return app.openapi_schema


def run(app: FastAPI, settings: ServeSettings, access_log: bool = False) -> None:
    import uvicorn

    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=access_log,
                server_header=False, proxy_headers=False)
