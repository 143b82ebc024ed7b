"""Quality evaluation: `embedspace eval SUITE`. One module per suite, each with
`run(space, ...) -> dict`, `format_text(result)` and `config_key(config)`:

    analogy               the Google analogy set (gensim's questions-words.txt), 3CosAdd / 3CosMul
    translation           P@1 / P@5 of names across languages, NN vs CSLS
    crosslingual-analogy  man/woman analogies of emoji roles, operands and answers in two languages
    image-text            name <-> image retrieval with the demo's emoji, recall@1 / @10
    hubness               k-occurrence skew of the neighbour graph, NN vs CSLS

Every suite ranks with the query API's own scoring (`embedspace.query`), draws its data from the
demo's generators (or gensim's test data), caches embeddings on disk, and returns a record with
the command, the counts, the figures, the time, the machine and the date; `save_results` merges
records into one JSON file (benchmarks/results/quality.json).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from ..artifacts import save_json
from ..errors import InputError
from ..spaces.registry import DEFAULT_SPACE, load_space

SUITES = {
    "analogy": "analogy",
    "translation": "translation",
    "crosslingual-analogy": "crosslingual",
    "image-text": "image_text",
    "hubness": "hubness",
}


def suite_module(name: str):
    if name not in SUITES:
        raise InputError(f"Unknown evaluation suite {name!r}; the suites: {', '.join(SUITES)}.")
    return importlib.import_module(f".{SUITES[name]}", __name__)


def run_suite(name: str, space, **options) -> dict:
    """Run suite `name` on a space (a Space or a spec) with the suite's own keyword options."""

    if space is None and name != "hubness":  # hubness over an index defaults to the index's own space
        space = DEFAULT_SPACE
    space = load_space(space) if isinstance(space, str) else space
    return suite_module(name).run(space, **options)


def format_result(result: dict) -> str:
    return suite_module(result["suite"]).format_text(result)


def save_results(path, results) -> Path:
    """Merge records into the JSON file at `path`: {suite: {space: {config: record}}}.

    A record replaces only the entry with the same suite, space and configuration, so runs of
    other suites, spaces or settings (made on other days or machines) stay in the file.
    """
    path = Path(path)
    table = read_results(path)
    for result in results:
        key = suite_module(result["suite"]).config_key(result["config"])
        table.setdefault(result["suite"], {}).setdefault(result["space"], {})[key] = result
    save_json(path, table)
    return path


def read_results(path) -> dict:
    """The results file at `path` ({} when missing); a broken file is refused, never overwritten."""
    path = Path(path)
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except json.JSONDecodeError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); fix or move it before saving results into it.") from None


__all__ = ["SUITES", "format_result", "read_results", "run_suite", "save_results", "suite_module"]
