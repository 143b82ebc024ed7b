"""`embedspace eval SUITE`: the quality suites."""

from __future__ import annotations

import json
import shlex

from ..errors import InputError
from ..evaluation import format_result, run_suite, save_results
from ..evaluation.common import parse_pairs
from ..evaluation.image_text import parse_fold
from ..spaces.registry import DEFAULT_SPACE

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


def eval_options(args) -> dict:
    """The suite's keyword options from the parsed arguments; an option the suite does not take is an error."""

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
