"""`embedspace map`: the stored layout of every item (compute, recompute), as HTML or PNG."""

from __future__ import annotations

from ..explore.layout import layout_status, relayout
from ..explore.map_export import map_with_layout, write_map_html, write_map_png


def cmd_map(args) -> int:
    progress = not args.quiet
    if args.relayout:
        print(relayout(args.name, args.index_dir, progress).message)
    index, pmap = map_with_layout(args.name, args.index_dir, progress)
    if not args.relayout:
        print(layout_status(index).message)
    if args.html:
        print(f"wrote {write_map_html(index, pmap, args.html, args.lang)}")
    if args.png:
        print(f"wrote {write_map_png(index, pmap, args.png, args.lang)}")
    return 0
