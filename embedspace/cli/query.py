"""`embedspace search`, `analogy`, `translate`: questions to an index."""

from __future__ import annotations

import json

from .. import query
from ..errors import InputError
from ..index.store import Index
from ..spaces.registry import load_space


def _open_for_query(args):
    index = Index.open(args.name, args.index_dir)
    space = load_space(args.space) if args.space else index.load_space()
    index.check_space(space)
    return index, space


def _read_queries(path) -> list:
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except OSError as exc:
        raise InputError(f"--queries-file {path}: {exc.strerror}") from None
    queries = [line for line in lines if line]
    if not queries:
        raise InputError(f"--queries-file {path} has no queries.")
    return queries


def _print_results(results, as_json: bool, note_mixed_kinds: bool = False) -> None:
    """Results as JSON lines or as text; note_mixed_kinds: a search, whose lists of both kinds are fused."""
    for result in results:
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        shown_setting = result.get("setting") or result.get("method")
        print(f"query: {result['query']}" + (f"  ({shown_setting})" if shown_setting else ""))
        for r in result["results"]:
            shown = r["text"] if r["text"] is not None else r["path"]
            lang = f"[{r['lang']}]" if r["lang"] else f"[{r['kind']}]"
            extra = f"  cos {r['cosine']:.3f}" if r["score"] != r["cosine"] else ""
            print(f"  {r['rank']:>3}. {r['score']:7.3f}{extra}  {lang:<10} {shown}  (id {r['id']})")
        if note_mixed_kinds and query.mixes_kinds(result["results"]):
            print(f"  ({query.MIXED_KINDS_NOTE})")


def cmd_search(args) -> int:
    index, space = _open_for_query(args)
    if args.queries_file:
        results = query.search_many(index, space, texts=_read_queries(args.queries_file), k=args.k, lang=args.lang,
                                    kind=args.kind)
        _print_results(results, True)
        return 0
    if (args.text is None) == (args.image is None):
        raise InputError("Give a query text or --image PATH (one of them).")
    if args.image_via and args.image is None:
        raise InputError("--image-via goes with --image PATH.")
    result = query.search(index, space, text=args.text, image=args.image, k=args.k, lang=args.lang, kind=args.kind,
                          image_via=args.image_via)
    _print_results([result], args.json, note_mixed_kinds=True)
    return 0


def cmd_analogy(args) -> int:
    index, space = _open_for_query(args)
    if args.queries_file:
        triples = [line.split() for line in _read_queries(args.queries_file)]
    elif len(args.terms) == 3:
        triples = [args.terms]
    else:
        raise InputError("An analogy needs three terms: embedspace analogy NAME A B C (A is to B as C is to ?).")
    results = query.analogy_many(index, space, triples, k=args.k, method=args.method, lang=args.lang, kind=args.kind)
    _print_results(results, args.json or bool(args.queries_file))
    return 0


def cmd_translate(args) -> int:
    index, space = _open_for_query(args)
    texts = _read_queries(args.queries_file) if args.queries_file else [args.text] if args.text else None
    if not texts:
        raise InputError("Give a text to translate, or --queries-file FILE.")
    results = query.translate_many(index, space, texts, to=args.to, from_=args.from_, method=args.method, k=args.k,
                                   use_text_map=not args.no_text_map, rerank=args.rerank)
    _print_results(results, args.json or bool(args.queries_file))
    return 0
