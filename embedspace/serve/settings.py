"""What a server starts with (where the indexes are, the token, who may connect) and its limits.

The limits are constants because the request models state them in the OpenAPI schema (maxLength,
maximum, maxItems), which clients and the fuzzing tests read.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import InputError
from ..images import MAX_PIXELS

MAX_BODY_BYTES = 8 * 2**20  # a request body; checked on Content-Length and again while it streams in
MAX_K = 1000  # results per query
MAX_TEXT_CHARS = 2000  # a query, analogy term, translation source or item text
MAX_BATCH = 64  # queries in one batch request, texts in one embed request
MAX_IMAGES = 8  # images in one request
MAX_IMAGE_BYTES = 5 * 2**20  # one image, decoded from base64
MAX_IMAGE_BASE64 = 4 * -(-MAX_IMAGE_BYTES // 3) + 64  # its base64 text (and a data: URL prefix)
IMAGE_PIXELS = MAX_PIXELS  # the CLI's decompression-bomb rule (embedspace.images), shown in the schema
MAX_DIM = 4096  # numbers in a query vector
MAX_ITEMS = 256  # items in one POST .../items
MAX_IDS = 1000  # ids in one DELETE .../items
MAX_NAME_CHARS = 200  # a label, concept or image route
MAX_META_FIELDS = 32
MIN_TOKEN_CHARS = 16

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
TOKEN_VARIABLE = "EMBEDSPACE_TOKEN"


@dataclass(frozen=True)
class ServeSettings:
    """index_dir: the folder of indexes (None: the CLI's default). token: required for writes (and
    for reads with protect_reads); without one the server takes no writes. allowed_hosts: names
    the Host header may carry besides the loopback ones ("*": any). cors_origins: browser origins
    allowed to call the API (none by default: no CORS headers at all)."""

    index_dir: str | None = None
    token: str | None = None
    protect_reads: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    allowed_hosts: tuple = ()
    cors_origins: tuple = ()

    def __post_init__(self):
        if self.token is not None and len(self.token) < MIN_TOKEN_CHARS:
            raise InputError(f"The token has {len(self.token)} characters; use at least {MIN_TOKEN_CHARS} (a short "
                             "token can be guessed), e.g. python -c 'import secrets; print(secrets.token_urlsafe())'.")
        if self.protect_reads and not self.token:
            raise InputError("--protect-reads needs a token: give --token or set EMBEDSPACE_TOKEN.")

    @property
    def loopback_only(self) -> bool:
        return self.host in LOOPBACK_NAMES

    def host_names(self) -> frozenset:
        """The names a request's Host header may carry (against DNS rebinding from a browser)."""
        names = set(LOOPBACK_NAMES) | {h.lower() for h in self.allowed_hosts}
        if self.host not in ("0.0.0.0", "::"):
            names.add(self.host.lower())
        return frozenset(names)


def token_from_environment() -> str | None:
    return os.environ.get(TOKEN_VARIABLE) or None
