"""The `embedspace` command. Thin: parses arguments, calls the Python API, prints.

Errors a person can cause (EmbedspaceError) are printed as one readable line and exit 2;
anything else is a bug and keeps its traceback. One module per command group (spaces, index,
query, demo, maps, eval); `parser.py` holds every command's arguments.
"""

from __future__ import annotations

import importlib
import sys

from ..errors import EmbedspaceError
from .parser import build_parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 1
    group, name = args.handler.split(":")
    command = getattr(importlib.import_module(f"{__name__}.{group}"), name)  # only this command's module
    try:
        return command(args) or 0
    except EmbedspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
