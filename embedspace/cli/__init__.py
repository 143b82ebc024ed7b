"""The `embedspace` command. Thin: parses arguments, calls the Python API, prints.

Errors a person can cause (EmbedspaceError) are printed as one readable line and exit 2;
anything else is a bug and keeps its traceback. Output cut short by its reader (`| head`) ends
quietly with 141, as for any command stopped by SIGPIPE. One module per command group (spaces, index,
query, demo, maps, eval); `parser.py` holds every command's arguments.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

from ..errors import EmbedspaceError
from .parser import build_parser


def main(argv=None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a reader that went away shows here, inside the try, not at exit
        return code
    except BrokenPipeError:
        # `embedspace items NAME --json | head -1`: the reader has all it wanted. Stop quietly, with the
        # status a shell shows for a writer stopped by SIGPIPE (as 130 is for Ctrl-C). Output still in
        # the buffer would fail again when Python flushes it at exit, so stdout now points at devnull.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE


def _run(argv) -> int:
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
