"""`embedspace serve`: an HTTP API (FastAPI on uvicorn) over the indexes of one folder.

Thin over the Python API: every answer is what embedspace.query returns (the CLI's `--json`
shape), every write goes through embedspace.index. Closed by default: it listens on 127.0.0.1,
answers only to Host names it knows, sends no CORS headers, takes writes only with a token, and
refuses oversized or invalid requests with a JSON error before they reach a model.

    settings.py      what a server starts with, and the limits
    models.py        request and response bodies (the OpenAPI schema)
    guard.py         Host allow-list, token, body size: checked before the body is read
    open_indexes.py  open indexes, reopened when another process commits
    routes.py        the endpoints
    errors.py        one JSON shape for every refusal; embedspace errors -> HTTP statuses
    metrics.py       requests and latency by endpoint
    docs.py          Swagger UI served from the package (no CDN)
    app.py           create_app, run
"""

from .app import create_app, run
from .settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "run"]
