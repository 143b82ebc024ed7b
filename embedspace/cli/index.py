"""`embedspace build`, `add`, `remove`, `items`, `info`, `verify`, `export`: indexes on disk."""

from __future__ import annotations

import json

from ..errors import InputError
from ..explore.layout import layout_for_build
from ..index.build import build_index, remove_items
from ..index.export import export_index
from ..index.faiss_index import parse_memory
from ..index.ray_runner import RayRunner
from ..index.sources import ReadOptions
from ..index.store import Index, describe_index, list_indexes, verify_index
from ..paths import index_root


def _parse_where(pairs) -> dict:
    out = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column:
            raise InputError(f"--where {pair!r}: write COLUMN=VALUE, e.g. --where lang=es")
        out[column.strip()] = value.strip()
    return out


def cmd_build(args) -> int:
    options = ReadOptions(args.text_column, args.lang_column, args.label_column, args.concept_column,
                          args.image_column, args.lang, args.allow_duplicates)
    report = build_index(
        args.name, args.sources, space=args.space, read_options=options, index_type=args.index_type,
        max_memory=parse_memory(args.max_memory), resume=args.resume, restart=args.restart,
        overwrite=args.overwrite, add=args.add, index_dir=args.index_dir, progress=not args.quiet,
        chunk_size=args.chunk_size, runner=_runner(args), partitions=args.partitions,
        layout=None if args.no_layout else layout_for_build,
    )
    print(report.summary())
    return 0


def _runner(args):
    if args.runner == "sequential":
        used = [flag for flag, value in (("--address", args.address), ("--workers", args.workers),
                                         ("--cpus-per-worker", args.cpus_per_worker != 1 or None)) if value]
        if used:
            raise InputError(f"{', '.join(used)} only apply to --runner ray.")
        return None

    return RayRunner(address=args.address, workers=args.workers, cpus_per_worker=args.cpus_per_worker)


def cmd_remove(args) -> int:
    removed = remove_items(args.name, ids=args.ids, source=args.source, filters=_parse_where(args.where) or None,
                           index_dir=args.index_dir)
    print(f"Removed {removed:,} item(s) from '{args.name}'.")
    return 0


def cmd_items(args) -> int:
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
    if not args.name:
        names = list_indexes(args.index_dir)
        print(f"Indexes in {index_root(args.index_dir)}: {', '.join(names) or 'none'}")
        return 0
    index = Index.open(args.name, args.index_dir)
    print(json.dumps(index.manifest, indent=2, ensure_ascii=False) if args.json else describe_index(index))
    return 0


def cmd_verify(args) -> int:
    report = verify_index(args.name, args.index_dir)  # raises IndexStateError (exit 2) on the first problem
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"Index '{report['name']}' is whole: {len(report['files'])} files, {report['bytes'] / 2**20:,.1f} MiB re-read "
          f"and matching their sha256 in {report['seconds']:.2f} s; {report['items']:,} items, ids below {report['next_id']:,}"
          + (f"; generation {report['generation']}" if report["generation"] else "; format 1 (the next write upgrades it)"))
    if report["other_generations"]:
        print(f"  also on disk: {', '.join(report['other_generations'])} (earlier versions; the next write removes them)")
    return 0


def cmd_export(args) -> int:
    index = Index.open(args.name, args.index_dir)
    files = export_index(index, args.format, args.output or f"export-{args.name}")
    for file in files:
        print(f"wrote {file}")
    if args.format == "projector":
        print("Load them at projector.tensorflow.org: Load -> vectors.tsv, then metadata.tsv.")
    return 0
