"""`embedspace demo`: the demo index from packaged data."""

from __future__ import annotations

from ..demo import DemoOptions, build_demo


def cmd_demo(args) -> int:
    languages = tuple(code.strip() for code in args.languages.split(",") if code.strip()) if args.languages else None
    options = DemoOptions(space=args.space, languages=languages, emoji_limit=args.emoji_limit, words=args.words,
                          skin_tones=args.skin_tones, images=args.images)
    result = build_demo(options, index_dir=args.index_dir, overwrite=args.overwrite, progress=not args.quiet)
    print(result.summary())
    return 0
