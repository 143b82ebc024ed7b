"""`embedspace spaces`, `compare`, `tokens`: the spaces themselves."""

from __future__ import annotations

import json

from ..query import check_query_texts
from ..spaces.registry import list_spaces, load_space


def cmd_spaces(args) -> int:
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
    check_query_texts(args.texts, "text")
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
    check_query_texts([args.text], "text")
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
