"""`embedspace demo`: the demo index from packaged data."""

from __future__ import annotations

from ..demo import DemoOptions, build_demo
from ..explore.layout import layout_for_build, layout_status, relayout
from ..index.store import Index


def cmd_demo(args) -> int:
    languages = tuple(code.strip() for code in args.languages.split(",") if code.strip()) if args.languages else None
    options = DemoOptions(space=args.space, languages=languages, emoji_limit=args.emoji_limit, words=args.words,
                          skin_tones=args.skin_tones, images=args.images)
    layout = None if args.no_layout else layout_for_build
    result = build_demo(options, index_dir=args.index_dir, overwrite=args.overwrite, progress=not args.quiet,
                        layout=layout)
    print(result.summary())
    if layout is not None and not layout_status(Index.open(result.name, args.index_dir)).present:
        # a demo built before layouts existed (or with --no-layout) is reused: only its map is computed
        print(relayout(result.name, args.index_dir, progress=not args.quiet).message)
    return 0
