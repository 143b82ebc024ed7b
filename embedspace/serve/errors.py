"""Every refusal as one JSON shape (models.ErrorBody), and the map from embedspace's errors to
HTTP statuses, kept in one place. A refusal's message says what to do; none is a 500."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import EmbedspaceError, IndexStateError, MissingDataError, SpaceUnavailableError
from ..text import excerpt
from .models import ErrorBody

log = logging.getLogger("embedspace.serve")

CODES = {
    400: ("bad_request", "The request could not be read: a Host name this server does not answer to, or a body "
                         "that is not JSON."),
    401: ("token_required", "This needs the server's token: send `Authorization: Bearer TOKEN`."),
    403: ("forbidden", "The token is wrong, or the server takes no writes (it was started without a token)."),
    404: ("not_found", "No such index (GET /indexes lists them), or no such path."),
    405: ("method_not_allowed", "This path does not take that method."),
    409: ("conflict", "The index is being written by another process, or cannot be read; the message says which."),
    413: ("too_large", "The request body is over the server's limit."),
    422: ("invalid", "A field is missing, unknown or invalid, or the index cannot answer it; `details` says where."),
    503: ("unavailable", "The index's space cannot be loaded on this server (its model is missing)."),
}


class IndexNotFound(EmbedspaceError):
    """No index of that name in the server's folder."""


MESSAGE_CHARS = 2000


def printable(text: str) -> str:
    """A message that encodes as UTF-8 whatever a client sent into it (lone surrogates escaped, cut
    if a client's text made it huge)."""
    return excerpt(text, MESSAGE_CHARS)


def error_response(status: int, message: str, details: list | None = None, headers: dict | None = None) -> JSONResponse:
    body = ErrorBody(status=status, error=CODES.get(status, ("error", ""))[0], message=printable(message),
                     details=details)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status, headers=headers)


def declared(*statuses: int) -> dict:
    """The `responses` of a route for OpenAPI: each refusal it can give, with the error body."""
    return {status: {"model": ErrorBody, "description": CODES[status][1]} for status in statuses}


def status_of(exc: EmbedspaceError) -> int:
    if isinstance(exc, IndexNotFound):
        return 404
    if isinstance(exc, IndexStateError):  # being written by another process, or damaged
        return 409
    if isinstance(exc, (SpaceUnavailableError, MissingDataError)):
        return 503
    return 422  # InputError, SpecError, UnsupportedError: the request asks what this index cannot do


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(EmbedspaceError)
    async def _embedspace_error(request: Request, exc: EmbedspaceError):
        return error_response(status_of(exc), str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        # the client's input is never echoed back: it may be huge, or not even encodable
        details = [{"field": printable(".".join(str(part) for part in error.get("loc", ()))),
                    "problem": printable(error.get("msg", "invalid"))} for error in exc.errors()[:20]]
        return error_response(422, "Invalid request: " + "; ".join(f"{d['field']}: {d['problem']}" for d in details[:3]),
                              details)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if exc.status_code in (404, 405):  # routing's own "Not Found": say where the paths are listed
            message = (f"No such path: {request.method} {request.url.path}. The API's paths are listed at /docs "
                       "and /openapi.json.") if exc.status_code == 404 else (
                       f"{request.url.path} does not take {request.method}; /docs lists what it takes.")
        else:
            message = exc.detail if isinstance(exc.detail, str) else CODES.get(exc.status_code, ("", "Refused."))[1]
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "Internal error: this is a bug in embedspace, not in the request. The server's "
                                   "log has the details.")
