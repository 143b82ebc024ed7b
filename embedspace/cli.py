"""The `embedspace` command. Thin: parses arguments, calls the Python API, prints.

Errors a person can cause (EmbedspaceError) are printed as one readable line and exit 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys

from .errors import EmbedspaceError
from .registry import DEFAULT_SPACE

SPACE_HELP = (
    f"space spec (default {DEFAULT_SPACE}): use-m3, e5-small, glove-6b-50d, st:NAME_OR_PATH, "
    "open_clip:ARCH/TAG, with [option=value,...]; see `embedspace spaces`"
)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return args.func(args) or 0
    except EmbedspaceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedspace", description="Explore one shared embedding space of texts in many languages and images."
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("spaces", help="list the spaces, their languages, modalities, dim and whether they run here")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-check", action="store_true", help="do not load the models (faster; dims unknown)")
    p.set_defaults(func=cmd_spaces)

    p = sub.add_parser("compare", help="cosine similarity between texts and images")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="an image file (repeatable)")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("tokens", help="how the space's model splits a text into tokens")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_tokens)
    return parser


def cmd_spaces(args) -> int:
    from .registry import list_spaces

    infos = list_spaces(check=not args.no_check)
    if args.json:
        print(json.dumps([vars(i) for i in infos], indent=2, ensure_ascii=False))
        return 0
    for info in infos:
        status = "ready" if info.available else "not available here"
        dim = f"{info.dim}-d" if info.dim else "dim ?"
        print(f"{info.name}  [{status}]  {dim}  {'+'.join(info.modalities) or '-'}")
        print(f"    {info.description.strip()}")
        if info.languages:
            langs = ", ".join(info.languages)
            print(f"    languages ({len(info.languages)}): {langs if len(langs) < 200 else langs[:200] + ' ...'}")
        if info.available and info.dim:
            print(f"    id: {info.spec}")
        if info.reason:
            print(f"    {info.reason}")
        for note in info.notes:
            print(f"    {note}")
        print()
    return 0


def cmd_compare(args) -> int:
    from .registry import load_space

    space = load_space(args.space)
    labels, matrix = space.compare(texts=args.texts, images=args.image)
    if args.json:
        print(json.dumps({"space": space.id, "labels": labels, "cosine": matrix.round(6).tolist()}, ensure_ascii=False))
        return 0
    print(f"space: {space.id}")
    for i, path in enumerate(args.image):
        print(f"image {i + 1}: {path}")
    width = max(len(label) for label in labels)
    width = min(max(width, 8), 30)
    print(" " * (width + 2) + "".join(f"{label[:8]:>9}" for label in labels))
    for label, row in zip(labels, matrix):
        print(f"{label[:width]:<{width}}  " + "".join(f"{v:9.3f}" for v in row))
    return 0


def cmd_tokens(args) -> int:
    from .registry import load_space

    space = load_space(args.space)
    tokens = space.tokenize(args.text)
    if args.json:
        print(json.dumps({"space": space.id, **vars(tokens)}, ensure_ascii=False))
        return 0
    if tokens.tokens is not None:
        print(" | ".join(tokens.tokens))
    if tokens.count is not None:
        print(f"{tokens.count} tokens")
    if tokens.note:
        print(tokens.note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
