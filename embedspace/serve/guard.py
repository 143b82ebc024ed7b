"""The checks made before a request reaches its route, in this order, and before its body is read:

1. the Host header names this server (a browser tricked by DNS rebinding sends another name);
2. the token, for writes always (refused outright if the server has none) and for reads when the
   server protects them: missing is 401, wrong is 403, compared in constant time;
3. the body's size: a Content-Length over the limit is refused before anything is read, and a body
   sent in chunks is counted as it arrives and refused as soon as it passes the limit.

Then the body, read whole (it is small: at most MAX_BODY_BYTES), is handed to the route.
"""

from __future__ import annotations

import hmac

from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import error_response
from .settings import MAX_BODY_BYTES, ServeSettings

OPEN, READ, WRITE = "open", "read", "write"
# on every answer: a browser must not guess another type than the one declared (JSON as HTML)
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]


class BodyTooLarge(Exception):
    pass


class Guard:
    def __init__(self, app: ASGIApp, settings: ServeSettings, routes: list, access: dict,
                 max_body_bytes: int = MAX_BODY_BYTES):
        self.app = app
        self.settings = settings
        self.routes = routes  # the application's routes (the same list, so later routes count too)
        self.access = access  # route name -> OPEN | READ | WRITE; unnamed routes are READ
        self.hosts = settings.host_names()
        self.token = settings.token.encode() if settings.token else None
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_headers(send, SECURITY_HEADERS)
        refusal = self.check_host(scope) or self.check_token(scope) or self.check_length(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        try:
            body = await self.read_body(receive)
        except BodyTooLarge:
            await self.too_large()(scope, receive, send)
            return
        await self.app(scope, replay(body, receive), send)

    # -- 1. host --------------------------------------------------------------------------------
    def check_host(self, scope: Scope):
        if "*" in self.hosts:
            return None
        host = header(scope, b"host")
        name = host_name(host) if host else ""
        if name in self.hosts:
            return None
        return error_response(400, f"This server does not answer to the Host name {name or '(none)'!r}. Start it with "
                                   "--allow-host NAME to add a name it is reached by.")

    # -- 2. token -------------------------------------------------------------------------------
    def check_token(self, scope: Scope):
        access = self.route_access(scope)
        if access == OPEN or (access == READ and not self.settings.protect_reads):
            return None
        if access == WRITE and self.token is None:
            return error_response(403, "This server takes no writes: it was started without a token. Start it with "
                                       "--token TOKEN (or EMBEDSPACE_TOKEN) to allow them.")
        sent = bearer(header(scope, b"authorization"))
        if sent is None:
            return error_response(401, "This needs the server's token: send the header `Authorization: Bearer TOKEN`.",
                                  headers={"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(sent, self.token):
            return error_response(403, "Wrong token.")
        return None

    def route_access(self, scope: Scope) -> str:
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                scope["route"] = route  # for the metrics, also when the request is refused here
                return self.access.get(getattr(route, "name", None), READ)
            if match == Match.PARTIAL and partial is None:
                partial = route  # the path matches, the method does not: 405 after the same checks
        if partial is not None:
            return self.access.get(getattr(partial, "name", None), READ)
        return READ

    # -- 3. size --------------------------------------------------------------------------------
    def check_length(self, scope: Scope):
        length = header(scope, b"content-length")
        if length is None:
            return None
        if not length.isdigit():
            return error_response(400, "The Content-Length header is not a number.")
        if int(length) > self.max_body_bytes:
            return self.too_large()
        return None

    def too_large(self):
        return error_response(413, f"The request body is over {self.max_body_bytes:,} bytes. Send fewer or smaller "
                                   "items (images: a few megapixels is plenty), or split the batch.")

    async def read_body(self, receive: Receive) -> bytes:
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise BodyTooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the body already read, then waits on the real one (disconnects)."""
    sent = False

    async def receive_again():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def with_headers(send: Send, headers: list) -> Send:
    async def send_with_headers(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), *headers]}
        await send(message)

    return send_with_headers


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


def host_name(host: str) -> str:
    """The name of a Host header without its port: 'localhost:8000' -> 'localhost', '[::1]:80' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def bearer(value: str | None) -> bytes | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip().encode("latin-1")
