"""`embedspace serve`: the HTTP API over a folder of indexes."""

from __future__ import annotations

from ..paths import index_root
from ..serve import ServeSettings, create_app, run
from ..serve.settings import token_from_environment


def cmd_serve(args) -> int:
    settings = ServeSettings(index_dir=args.index_dir, token=args.token or token_from_environment(),
                             protect_reads=args.protect_reads, host=args.host, port=args.port,
                             allowed_hosts=tuple(args.allow_host), cors_origins=tuple(args.cors_origin))
    app = create_app(settings)
    print(f"embedspace serve: indexes in {index_root(args.index_dir).resolve()}", flush=True)
    if not args.no_preload:
        for name, what in app.state.indexes.preload():
            print(f"  {name}: {what}", flush=True)
    for line in describe_exposure(settings):
        print(line, flush=True)
    run(app, settings, access_log=args.access_log)
    return 0


def describe_exposure(settings: ServeSettings) -> list[str]:
    """What the server is open to, said at start."""
    url = f"http://{'[' + settings.host + ']' if ':' in settings.host else settings.host}:{settings.port}"
    lines = [f"Listening on {url} " + ("(this machine only)." if settings.loopback_only else
                                       "(every client that can reach this address: the network, not just this machine).")]
    if not settings.loopback_only and not settings.allowed_hosts:
        lines.append("  Host names answered: localhost and 127.0.0.1 only; add the names clients use with --allow-host.")
    lines.append("  Writes: " + ("need the token." if settings.token else "refused (no token; --token or "
                                                                           "EMBEDSPACE_TOKEN allows them).")
                 + (" Reads need the token too." if settings.protect_reads else " Reads: open to every client."))
    origins = ", ".join(settings.cors_origins) or "none (pages of other sites cannot call it from a browser)"
    lines.append(f"  CORS: {origins}.")
    lines.append(f"  API docs: {url}/docs   OpenAPI: {url}/openapi.json")
    return lines
