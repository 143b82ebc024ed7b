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
    add_index_commands(sub)
    add_alignment_commands(sub)
    return parser


def _index_dir(p):
    p.add_argument("--index-dir", default=None, help="folder of indexes (default $EMBEDSPACE_INDEX_DIR or ./indexes)")


def _read_options(p):
    p.add_argument("--text-column", help="table column with the text (default: text, sentence, caption, word or name)")
    p.add_argument("--lang-column", help="table column with each row's language")
    p.add_argument("--label-column", help="table column with a label")
    p.add_argument("--concept-column", help="table column with the id shared by translations of one thing")
    p.add_argument("--image-column", help="table column with image paths (relative to the table)")
    p.add_argument("--lang", help="language of every text item that has none from a column")
    p.add_argument("--allow-duplicates", action="store_true", help="keep exact duplicates instead of skipping them")
    p.add_argument("--resume", action="store_true", help="continue an interrupted build from its last finished chunk")
    p.add_argument("--restart", action="store_true", help="discard an interrupted build and start again")
    p.add_argument("--chunk-size", type=int, default=512, help="items per chunk (the unit of resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--runner", default="sequential", choices=["sequential", "ray"],
                   help="who embeds the chunks: this process (default) or a Ray cluster (pip install 'ray[data]')")
    p.add_argument("--address", help="--runner ray: join this cluster (auto, HOST:6379 or ray://HOST:10001) instead "
                   "of starting a local one")
    p.add_argument("--workers", type=int, help="--runner ray: embedding actors (default: the cluster's CPUs / "
                   "--cpus-per-worker)")
    p.add_argument("--cpus-per-worker", type=int, default=1, help="--runner ray: CPUs (model threads) per actor")


def _query_options(p, queries_help):
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--space", default=None, help="space to embed the query (default: the index's own)")
    p.add_argument("--queries-file", help=queries_help)
    p.add_argument("--json", action="store_true", help="print JSON (JSON lines with --queries-file)")
    _index_dir(p)


def add_index_commands(sub):
    p = sub.add_parser("build", help="build an index from text files, tables and image folders")
    p.add_argument("name")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivf-pq"])
    p.add_argument("--max-memory", help="memory budget for the index, e.g. 512M or 4G (picks IVF-PQ if needed)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index of that name")
    p.add_argument("--partitions", type=int, help="split the FAISS index by item id into N memory-mapped files, "
                   "searched in parallel (default 1)")
    _read_options(p)
    _index_dir(p)
    p.set_defaults(func=cmd_build, add=False)

    p = sub.add_parser("add", help="append items to an index (exact duplicates are skipped)")
    p.add_argument("name")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    _read_options(p)
    _index_dir(p)
    p.set_defaults(func=cmd_build, add=True, space=None, index_type="auto", max_memory=None, overwrite=False,
                   partitions=None)

    p = sub.add_parser("remove", help="remove items by id, source or filter")
    p.add_argument("name")
    p.add_argument("--ids", type=int, nargs="+", help="item ids")
    p.add_argument("--source", help="every item read from this source")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="filter (repeatable, all must hold)")
    _index_dir(p)
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("items", help="list the items of an index")
    p.add_argument("name")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="filter (repeatable)")
    p.add_argument("--kind", choices=["text", "image"])
    p.add_argument("--lang")
    p.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    _index_dir(p)
    p.set_defaults(func=cmd_items)

    p = sub.add_parser("info", help="what an index holds, and why its FAISS index is what it is")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true", help="print the manifest")
    _index_dir(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("search", help="nearest items to a text or an image")
    p.add_argument("name")
    p.add_argument("text", nargs="?")
    p.add_argument("--image", help="an image file as the query")
    p.add_argument("--image-via", metavar="ROUTE", help="how the image enters the space: its own path (default) "
                   "or conse, e.g. for a photo in an index whose images go through a map fitted on drawings")
    p.add_argument("--lang", help="only items in this language")
    p.add_argument("--kind", choices=["text", "image"], help="only items of this kind")
    _query_options(p, "one query text per line; prints JSON lines")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("analogy", help="A is to B as C is to ?  (vector B - A + C)")
    p.add_argument("name")
    p.add_argument("terms", nargs="*", metavar="A B C")
    p.add_argument("--method", default="add", choices=["add", "mul"], help="3CosAdd (add) or 3CosMul (mul)")
    p.add_argument("--lang", help="only answers in this language")
    p.add_argument("--kind", choices=["text", "image"], help="only answers of this kind")
    _query_options(p, "one analogy 'A B C' per line; prints JSON lines")
    p.set_defaults(func=cmd_analogy)

    p = sub.add_parser("translate", help="nearest items in another language (CSLS by default)")
    p.add_argument("name")
    p.add_argument("text", nargs="?")
    p.add_argument("--to", required=True, help="target language")
    p.add_argument("--from", dest="from_", help="source language (CSLS measures hubness against its items)")
    p.add_argument("--method", default="csls", choices=["csls", "nn"])
    p.add_argument("--no-text-map", action="store_true", help="ignore a text map saved by `align-text` for this "
                   "space and direction")
    _query_options(p, "one text per line; prints JSON lines")
    p.set_defaults(func=cmd_translate)

    p = sub.add_parser("export", help="export vectors and metadata")
    p.add_argument("name")
    p.add_argument("--format", default="projector", choices=["projector", "parquet"])
    p.add_argument("--output", help="folder to write into (default ./export-NAME)")
    _index_dir(p)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="build the demo index from packaged data: emoji, countries, languages, words")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--languages", help="comma-separated languages (default: every language of the space that the "
                   "emoji package and CLDR both have)")
    p.add_argument("--words", type=int, default=3000, help="frequent words per language (default 3000; 0: none)")
    p.add_argument("--emoji-limit", type=int, help="at most this many emoji, an even spread (default: all)")
    p.add_argument("--skin-tones", action="store_true", help="also the skin-tone variants of emoji (about 1.4x "
                   "the build time)")
    p.add_argument("--images", default="map", choices=["map", "conse"], help="map (default): fit a learned image "
                   "map on the demo's emoji and their names first; conse: ImageNet-classifier stand-in only")
    p.add_argument("--overwrite", action="store_true", help="rebuild the demo index even if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    _index_dir(p)
    p.set_defaults(func=cmd_demo)

    add_eval_command(sub)


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


# -- index commands --------------------------------------------------------------------------------
def _parse_where(pairs) -> dict:
    from .errors import InputError

    out = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column:
            raise InputError(f"--where {pair!r}: write COLUMN=VALUE, e.g. --where lang=es")
        out[column.strip()] = value.strip()
    return out


def cmd_build(args) -> int:
    from .build import build_index
    from .faiss_index import parse_memory
    from .sources import ReadOptions

    options = ReadOptions(args.text_column, args.lang_column, args.label_column, args.concept_column,
                          args.image_column, args.lang, args.allow_duplicates)
    report = build_index(
        args.name, args.sources, space=args.space, read_options=options, index_type=args.index_type,
        max_memory=parse_memory(args.max_memory), resume=args.resume, restart=args.restart,
        overwrite=args.overwrite, add=args.add, index_dir=args.index_dir, progress=not args.quiet,
        chunk_size=args.chunk_size, runner=_runner(args), partitions=args.partitions,
    )
    print(report.summary())
    return 0


def _runner(args):
    from .errors import InputError

    if args.runner == "sequential":
        used = [flag for flag, value in (("--address", args.address), ("--workers", args.workers),
                                         ("--cpus-per-worker", args.cpus_per_worker != 1 or None)) if value]
        if used:
            raise InputError(f"{', '.join(used)} only apply to --runner ray.")
        return None
    from .ray_runner import RayRunner

    return RayRunner(address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker)


def cmd_remove(args) -> int:
    from .build import remove_items

    removed = remove_items(args.name, ids=args.ids, source=args.source, filters=_parse_where(args.where) or None,
                           index_dir=args.index_dir)
    print(f"Removed {removed:,} item(s) from '{args.name}'.")
    return 0


def cmd_items(args) -> int:
    from .index import Index

    index = Index.open(args.name, args.index_dir)
    mask = index.mask(kind=args.kind, lang=args.lang, **_parse_where(args.where))
    items = index.items if mask is None else index.items[mask]
    shown = items if args.limit == 0 else items.head(args.limit)
    columns = ["id", "kind", "text", "lang", "label", "concept", "path", "source", "meta"]
    if args.json:
        for record in shown[columns].to_dict("records"):
            print(json.dumps({k: (None if v != v else v) for k, v in record.items()}, ensure_ascii=False, default=str))
        return 0
    print(shown[["id", "kind", "text", "lang", "label", "concept", "path"]].to_string(index=False))
    if len(shown) < len(items):
        print(f"... {len(items) - len(shown):,} more (use --limit 0 for all)")
    return 0


def cmd_info(args) -> int:
    from .index import Index, describe_index, index_root, list_indexes

    if not args.name:
        names = list_indexes(args.index_dir)
        print(f"Indexes in {index_root(args.index_dir)}: {', '.join(names) or 'none'}")
        return 0
    index = Index.open(args.name, args.index_dir)
    print(json.dumps(index.manifest, indent=2, ensure_ascii=False) if args.json else describe_index(index))
    return 0


def _open_for_query(args):
    from .index import Index
    from .registry import load_space

    index = Index.open(args.name, args.index_dir)
    space = load_space(args.space) if args.space else index.load_space()
    index.check_space(space)
    return index, space


def _read_queries(path) -> list:
    from .errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f]
    except OSError as exc:
        raise InputError(f"--queries-file {path}: {exc.strerror}") from None
    queries = [line for line in lines if line]
    if not queries:
        raise InputError(f"--queries-file {path} has no queries.")
    return queries


def _print_results(results, as_json: bool) -> None:
    for result in results:
        if as_json:
            print(json.dumps(result, ensure_ascii=False))
            continue
        print(f"query: {result['query']}" + (f"  ({result['method']})" if "method" in result else ""))
        for r in result["results"]:
            shown = r["text"] if r["text"] is not None else r["path"]
            lang = f"[{r['lang']}]" if r["lang"] else f"[{r['kind']}]"
            extra = f"  cos {r['cosine']:.3f}" if r["score"] != r["cosine"] else ""
            print(f"  {r['rank']:>3}. {r['score']:7.3f}{extra}  {lang:<10} {shown}  (id {r['id']})")


def cmd_search(args) -> int:
    from . import query
    from .errors import InputError

    index, space = _open_for_query(args)
    if args.queries_file:
        results = query.search_many(index, space, texts=_read_queries(args.queries_file), k=args.k, lang=args.lang, kind=args.kind)
        _print_results(results, True)
        return 0
    if (args.text is None) == (args.image is None):
        raise InputError("Give a query text or --image PATH (one of them).")
    if args.image_via and args.image is None:
        raise InputError("--image-via goes with --image PATH.")
    result = query.search(index, space, text=args.text, image=args.image, k=args.k, lang=args.lang, kind=args.kind,
                          image_via=args.image_via)
    _print_results([result], args.json)
    return 0


def cmd_analogy(args) -> int:
    from . import query
    from .errors import InputError

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
    from . import query
    from .errors import InputError

    index, space = _open_for_query(args)
    texts = _read_queries(args.queries_file) if args.queries_file else [args.text] if args.text else None
    if not texts:
        raise InputError("Give a text to translate, or --queries-file FILE.")
    results = query.translate_many(index, space, texts, to=args.to, from_=args.from_, method=args.method, k=args.k,
                                   use_text_map=not args.no_text_map)
    _print_results(results, args.json or bool(args.queries_file))
    return 0


def cmd_export(args) -> int:
    from .export import export_index
    from .index import Index

    index = Index.open(args.name, args.index_dir)
    files = export_index(index, args.format, args.output or f"export-{args.name}")
    for file in files:
        print(f"wrote {file}")
    if args.format == "projector":
        print("Load them at projector.tensorflow.org: Load -> vectors.tsv, then metadata.tsv.")
    return 0


def cmd_demo(args) -> int:
    from .demo import DemoOptions, build_demo

    languages = tuple(code.strip() for code in args.languages.split(",") if code.strip()) if args.languages else None
    options = DemoOptions(space=args.space, languages=languages, emoji_limit=args.emoji_limit, words=args.words,
                          skin_tones=args.skin_tones, images=args.images)
    result = build_demo(options, index_dir=args.index_dir, overwrite=args.overwrite, progress=not args.quiet)
    print(result.summary())
    return 0


# -- learned maps: align, align-text, mine ------------------------------------------------------------
def add_alignment_commands(sub) -> None:
    from .image_map import DEFAULT_BACKBONES

    p = sub.add_parser("align", help="fit a learned image map from labelled images into a text space")
    p.add_argument("name", help="the map's name: saved as <index dir>/maps/NAME.npz, used as images=map:NAME")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--images", required=True, metavar="SOURCE", help="a folder of class subfolders, a table of "
                   "image paths and captions, or 'openmoji' (the demo's rendered single-codepoint emoji)")
    p.add_argument("--labels-from", choices=["folder", "column"], help="class folder names or a caption column "
                   "(default: folder for a folder, column for a table)")
    p.add_argument("--caption-column", help="the table's caption column (default caption, text, label or name)")
    p.add_argument("--lang-column", help="the table's caption-language column")
    p.add_argument("--languages", help="caption languages to fit on, comma-separated (openmoji: default en; "
                   "folders: the language of the folder names)")
    p.add_argument("--query-languages", help="more caption languages, used only as held-out queries in the report")
    p.add_argument("--backbones", default=",".join(DEFAULT_BACKBONES), help="image backbones whose features are "
                   "concatenated (default %(default)s; lite0 alone is ~4x cheaper)")
    p.add_argument("--method", default="ridge", choices=["ridge", "contrastive"])
    p.add_argument("--folds", type=int, default=5, help="grouped folds of the held-out report (default 5)")
    p.add_argument("--output", help="write the map here instead of the maps folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _index_dir(p)
    p.set_defaults(func=cmd_align)

    p = sub.add_parser("align-text", help="fit an orthogonal map between two languages on seed pairs (MUSE-style)")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--pairs", required=True, help="a TSV of 'source<TAB>target' pairs, or 'concepts' (the demo's "
                   "country, language and emoji names in both languages)")
    p.add_argument("--from", dest="from_", required=True, help="source language")
    p.add_argument("--to", required=True, help="target language")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _index_dir(p)
    p.set_defaults(func=cmd_align_text)

    p = sub.add_parser("mine", help="bitext mining: pairs of translations between two text files (LASER margin)")
    p.add_argument("source_a", metavar="SOURCE_A", help="text file, one sentence per line (language --from)")
    p.add_argument("source_b", metavar="SOURCE_B", help="text file, one sentence per line (language --to)")
    p.add_argument("--from", dest="from_", help="language of SOURCE_A (checked against the space)")
    p.add_argument("--to", help="language of SOURCE_B")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--threshold", type=float, default=None, help="minimum ratio margin (default 1.06)")
    p.add_argument("--gold", help="a TSV of known pairs: also print precision/recall per threshold")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(func=cmd_mine)


def _split_codes(text):
    return [code.strip() for code in text.split(",") if code.strip()] if text else None


def cmd_align(args) -> int:
    import os

    from .alignment import align_images

    if args.index_dir:
        os.environ["EMBEDSPACE_INDEX_DIR"] = args.index_dir
    report = align_images(args.name, args.space, args.images, args.labels_from, args.caption_column, args.lang_column,
                          _split_codes(args.languages), _split_codes(args.query_languages),
                          tuple(_split_codes(args.backbones)), args.method, args.folds, args.output,
                          progress=not args.json)
    if args.json:
        print(json.dumps({"map": str(report.map_path), "held_out": report.held_out,
                          "training": report.image_map.meta["training"], "seconds": round(report.seconds, 1)}, indent=2))
    else:
        print(report.summary())
    return 0


def cmd_align_text(args) -> int:
    import os

    from .text_map import align_text, concept_pairs, read_pairs

    if args.index_dir:
        os.environ["EMBEDSPACE_INDEX_DIR"] = args.index_dir
    from .languages import normalize_lang

    pairs = concept_pairs(normalize_lang(args.from_), normalize_lang(args.to)) if args.pairs == "concepts" \
        else read_pairs(args.pairs)
    report = align_text(args.space, pairs, args.from_, args.to)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['pairs']} pairs ({report['train_pairs']} to fit), {report['held_out_sources']} held-out source "
          f"words over a pool of {report['pool']} targets:")
    for method in ("nn", "csls"):
        plain, mapped = report[f"{method}_plain"], report[f"{method}_mapped"]
        print(f"  {method:<5} P@1 {plain['P@1']:.3f} -> {mapped['P@1']:.3f} with the map   "
              f"P@5 {plain['P@5']:.3f} -> {mapped['P@5']:.3f}")
    verdict = "helps" if report["helps"] else "does not help (the space is already cross-lingual)"
    print(f"The map {verdict} on held-out pairs. Saved {report['path']}; `translate --from {report['from']} "
          f"--to {report['to']}` uses it (--no-text-map to skip).")
    return 0


def cmd_mine(args) -> int:
    from pathlib import Path

    from .errors import InputError
    from .mining import DEFAULT_THRESHOLD, mine_texts, mining_quality
    from .text_map import read_pairs

    sides = []
    for path in (args.source_a, args.source_b):
        if not Path(path).is_file():
            raise InputError(f"No text file at {path}: give one sentence per line.")
        sides.append(Path(path).read_text(encoding="utf-8").splitlines())
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    floor = min(threshold, 1.0) if args.gold else threshold
    pairs = mine_texts(args.space, sides[0], sides[1], floor)
    for pair in pairs:
        if pair.score < threshold:
            continue
        if args.json:
            print(json.dumps({"score": round(pair.score, 4), "source": pair.source, "target": pair.target},
                             ensure_ascii=False))
        else:
            print(f"{pair.score:.4f}\t{pair.source}\t{pair.target}")
    if args.gold:
        gold = set(read_pairs(args.gold))
        for row in mining_quality(pairs, gold):
            print(json.dumps(row) if args.json else
                  f"# threshold {row['threshold']:.2f}: {row['mined']} mined, precision {row['precision']:.3f}, "
                  f"recall {row['recall']:.3f}, F1 {row['f1']:.3f}", file=sys.stderr)
    return 0


# -- evaluation ------------------------------------------------------------------------------------
# Which options each suite takes (argparse dest -> the suite's keyword); any other option given is refused.
EVAL_OPTIONS = {
    "analogy": {"restrict_vocab": "restrict_vocab", "half": "half", "sections": "sections"},
    "translation": {"pairs": "pairs", "words": "words", "emoji_limit": "emoji_limit", "dictionary": "dictionary"},
    "crosslingual-analogy": {"pairs": "pairs", "emoji_limit": "emoji_limit"},
    "image-text": {"languages": "languages", "emoji_limit": "emoji_limit", "skin_tones": "skin_tones",
                   "fold": "fold", "map": "image_map", "backbones": "backbones", "map_folds": "map_folds",
                   "fit_languages": "fit_languages"},
    "hubness": {"index": "index", "builtin": "builtin", "index_dir": "index_dir", "languages": "languages",
                "k": "k", "words": "words", "emoji_limit": "emoji_limit"},
}


def add_eval_command(sub):
    from .evaluation import SUITES

    p = sub.add_parser("eval", help="measure quality: analogy, translation, crosslingual-analogy, image-text, hubness",
                       description="Run an evaluation suite on one or more spaces; prints counts, figures and time.")
    p.add_argument("suite", choices=list(SUITES))
    p.add_argument("--space", action="append", help=SPACE_HELP + " (repeatable; default use-m3)")
    p.add_argument("--json", action="store_true", help="print the results as JSON (one object per space)")
    p.add_argument("--save", metavar="FILE", help="merge the results into this JSON file "
                   "(e.g. benchmarks/results/quality.json); other entries are kept")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    g = p.add_argument_group("analogy")
    g.add_argument("--restrict-vocab", type=int, help="vocabulary: the first N words of GloVe's frequency list "
                   "(default 30000; gensim's default is 300000)")
    g.add_argument("--half", choices=["all", "dev", "test"], help="half of each category's questions, fixed seed "
                   "(default all)")
    g.add_argument("--sections", help="only these comma-separated categories (e.g. family,gram3-comparative)")
    g = p.add_argument_group("translation, crosslingual-analogy")
    g.add_argument("--pairs", help="language pairs, e.g. es-en,de-fr or en:zh-Hans (default: en with es, de, fr, "
                   "zh-Hans, ja, ru, ar and es-de, both ways)")
    g.add_argument("--words", type=int, help="frequent words per language as distractors (default 3000)")
    g.add_argument("--dictionary", metavar="FILE", help="translation: score your own bilingual dictionary (MUSE's "
                   "format: 'source target' a line, a tab between them for phrases) in the one direction --pairs gives")
    g = p.add_argument_group("image-text, hubness")
    g.add_argument("--languages", help="comma-separated languages (default en,es,de,fr,zh-Hans,ja,ru,ar, those "
                   "the space has; hubness over an index: all of its languages)")
    g.add_argument("--emoji-limit", type=int, help="at most this many emoji, an even spread (default all; "
                   "crosslingual-analogy: a smaller answer pool)")
    g.add_argument("--skin-tones", action="store_true", default=None, help="image-text: include skin-tone variants")
    g.add_argument("--fold", help="image-text: score only fold I of K (I/K, e.g. 0/5); variants share their base's fold")
    g.add_argument("--map", choices=["ridge", "contrastive"], help="image-text: cross-validate a learned image map "
                   "(the recipe of `embedspace align`): each fold scored by a map fitted on the other folds, beside "
                   "the space's own image tower on the same pools")
    g.add_argument("--backbones", help="image-text --map: Lite backbones for the map's features (default lite0; "
                   "lite0,lite1,lite2 scores best, ~4x the feature time)")
    g.add_argument("--map-folds", type=int, help="image-text --map: number of folds (default 5)")
    g.add_argument("--fit-languages", help="image-text --map: the names the map is fitted on (default en)")
    g.add_argument("--index", help="hubness: the index whose neighbour graph is measured (default demo)")
    g.add_argument("--builtin", action="store_true", default=None, help="hubness: the suite's own items instead "
                   "of an index")
    g.add_argument("-k", type=int, help="hubness: neighbours per query (default 10)")
    _index_dir(p)
    p.set_defaults(func=cmd_eval)


def eval_options(args) -> dict:
    """The suite's keyword options from the parsed arguments; an option the suite does not take is an error."""
    from .errors import InputError
    from .evaluation.common import parse_pairs
    from .evaluation.image_text import parse_fold

    taken = EVAL_OPTIONS[args.suite]
    given = {dest: getattr(args, dest) for dest in {d for m in EVAL_OPTIONS.values() for d in m}
             if getattr(args, dest, None) is not None}
    stray = sorted(set(given) - set(taken))
    if stray:
        flags = ", ".join("-k" if d == "k" else "--" + d.replace("_", "-") for d in stray)
        raise InputError(f"The {args.suite} suite does not take {flags}.")
    options = {}
    for dest, value in given.items():
        if dest in ("pairs",):
            value = parse_pairs(value)
        elif dest in ("languages", "sections", "backbones", "fit_languages"):
            value = [v.strip() for v in value.split(",") if v.strip()]
        elif dest == "fold":
            value = parse_fold(value)
        options[taken[dest]] = value
    if args.suite == "hubness":
        if options.pop("builtin", None):
            if "index" in options:
                raise InputError("Give --index NAME or --builtin, not both.")
            options["index"] = None
    return options


def cmd_eval(args) -> int:
    import shlex

    from .evaluation import format_result, run_suite, save_results

    options = eval_options(args)
    results = []
    # hubness over an index measures the index's own space unless told otherwise
    own_space = args.suite == "hubness" and options.get("index", "demo") is not None
    for spec in args.space or [None if own_space else DEFAULT_SPACE]:
        argv = ["embedspace", "eval", args.suite] + (["--space", spec] if spec else []) + _eval_argv(args)
        result = run_suite(args.suite, spec, progress=not args.quiet and not args.json, command=shlex.join(argv),
                           **options)
        results.append(result)
        print(json.dumps(result, ensure_ascii=False) if args.json else format_result(result), flush=True)
    if args.save:
        path = save_results(args.save, results)
        if not args.json:
            print(f"saved to {path}")
    return 0


def _eval_argv(args) -> list:
    """The options as given, for the command recorded with the results (without --space/--json/--save)."""
    out = []
    for dest in sorted({d for m in EVAL_OPTIONS.values() for d in m}):
        value = getattr(args, dest, None)
        if value is None:
            continue
        flag = "-k" if dest == "k" else "--" + dest.replace("_", "-")
        out += [flag] if value is True else [flag, str(value)]
    return out


if __name__ == "__main__":
    sys.exit(main())
