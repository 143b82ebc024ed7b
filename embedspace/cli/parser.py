"""The argument parser of every command. It imports no command's module: `embedspace --help`
stays fast, and a command's module (cli/<group>.py) is imported only when that command runs."""

from __future__ import annotations

import argparse

from ..evaluation import SUITES
from ..maps.rerank import DEFAULT_RERANK, RERANK_CHOICES
from ..spaces.image_map import DEFAULT_BACKBONES
from ..spaces.registry import DEFAULT_SPACE

SPACE_HELP = (
    f"space spec (default {DEFAULT_SPACE}): use-m3, e5-small, glove-6b-50d, st:NAME_OR_PATH, "
    "open_clip:ARCH/TAG, with [option=value,...]; see `embedspace spaces`"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="embedspace", description="Explore one shared embedding space of texts in many languages and images."
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    p = sub.add_parser("spaces", help="list the spaces, their languages, modalities, dim and whether they run here")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--no-check", action="store_true", help="do not load the models (faster; dims unknown)")
    p.set_defaults(handler="spaces:cmd_spaces")

    p = sub.add_parser("compare", help="cosine similarity between texts and images")
    p.add_argument("texts", nargs="*", metavar="TEXT")
    p.add_argument("--image", action="append", default=[], metavar="PATH", help="an image file (repeatable)")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler="spaces:cmd_compare")

    p = sub.add_parser("tokens", help="how the space's model splits a text into tokens")
    p.add_argument("text", metavar="TEXT")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler="spaces:cmd_tokens")
    add_index_commands(sub)
    add_alignment_commands(sub)
    return parser


def _no_layout(p):
    p.add_argument("--no-layout", action="store_true", help="skip the map layout of every item (indexes up to "
                   "250,000 items get one at build time; `embedspace map NAME` computes it later)")


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
    # the same list as faiss_index.INDEX_TYPES (not imported: --help stays fast; a test compares them)
    p.add_argument("--index-type", default="auto", choices=["auto", "flat", "hnsw", "ivf-fastscan", "ivf-pq", "ivf-rabitq"],
                   help="auto (default) picks by size and --max-memory: exact below 10,000 vectors, else "
                   "ivf-fastscan (~1,100 bytes a vector at 512-d); ivf-rabitq is the compact choice "
                   "(~290 bytes a vector at 512-d, no re-ranking)")
    p.add_argument("--max-memory", help="memory budget for what a query reads, e.g. 512M or 4G: auto picks "
                   "ivf-fastscan, then the compact IVF-RaBitQ, then IVF-PQ codes alone, whichever fits first")
    p.add_argument("--overwrite", action="store_true", help="replace an existing index of that name")
    p.add_argument("--partitions", type=int, help="split the FAISS index by item id into N memory-mapped files, "
                   "searched in parallel (default 1)")
    _no_layout(p)
    _read_options(p)
    _index_dir(p)
    p.set_defaults(handler="index:cmd_build", add=False)

    p = sub.add_parser("add", help="append items to an index (exact duplicates are skipped)")
    p.add_argument("name")
    p.add_argument("sources", nargs="+", metavar="SOURCE")
    _read_options(p)
    _index_dir(p)
    p.set_defaults(handler="index:cmd_build", add=True, space=None, index_type="auto", max_memory=None, overwrite=False,
                   partitions=None, no_layout=True)  # add places new items into the stored layout

    p = sub.add_parser("remove", help="remove items by id, source or filter")
    p.add_argument("name")
    p.add_argument("--ids", type=int, nargs="+", help="item ids")
    p.add_argument("--source", help="every item read from this source")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="filter (repeatable, all must hold)")
    _index_dir(p)
    p.set_defaults(handler="index:cmd_remove")

    p = sub.add_parser("items", help="list the items of an index")
    p.add_argument("name")
    p.add_argument("--where", action="append", default=[], metavar="COLUMN=VALUE", help="filter (repeatable)")
    p.add_argument("--kind", choices=["text", "image"])
    p.add_argument("--lang")
    p.add_argument("--limit", type=int, default=50, help="at most this many (0: all)")
    p.add_argument("--json", action="store_true", help="JSON lines")
    _index_dir(p)
    p.set_defaults(handler="index:cmd_items")

    p = sub.add_parser("info", help="what an index holds, and why its FAISS index is what it is")
    p.add_argument("name", nargs="?")
    p.add_argument("--json", action="store_true", help="print the manifest")
    _index_dir(p)
    p.set_defaults(handler="index:cmd_info")

    p = sub.add_parser("verify", help="re-read every byte of an index and check it against its checksums")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="what was checked, as JSON")
    _index_dir(p)
    p.set_defaults(handler="index:cmd_verify")

    p = sub.add_parser("search", help="nearest items to a text or an image")
    p.add_argument("name")
    p.add_argument("text", nargs="?")
    p.add_argument("--image", help="an image file as the query")
    p.add_argument("--image-via", metavar="ROUTE", help="how the image enters the space: its own path (default) "
                   "or conse, e.g. for a photo in an index whose images go through a map fitted on drawings")
    p.add_argument("--lang", help="only items in this language")
    p.add_argument("--kind", choices=["text", "image"], help="only items of this kind")
    _query_options(p, "one query text per line; prints JSON lines")
    p.set_defaults(handler="query:cmd_search")

    p = sub.add_parser("analogy", help="A is to B as C is to ?  (vector B - A + C)")
    p.add_argument("name")
    p.add_argument("terms", nargs="*", metavar="A B C")
    p.add_argument("--method", default="add", choices=["add", "mul"], help="3CosAdd (add) or 3CosMul (mul)")
    p.add_argument("--lang", help="only answers in this language")
    p.add_argument("--kind", choices=["text", "image"], help="only answers of this kind")
    _query_options(p, "one analogy 'A B C' per line; prints JSON lines")
    p.set_defaults(handler="query:cmd_analogy")

    p = sub.add_parser("translate", help="nearest items in another language (CSLS by default)")
    p.add_argument("name")
    p.add_argument("text", nargs="?")
    p.add_argument("--to", required=True, help="target language")
    p.add_argument("--from", dest="from_", help="source language (CSLS measures hubness against its items)")
    p.add_argument("--method", default="csls", choices=["csls", "nn"])
    p.add_argument("--no-text-map", action="store_true", help="ignore a text map saved by `align-text` for this "
                   "space and direction")
    p.add_argument("--rerank", default=DEFAULT_RERANK, choices=RERANK_CHOICES,
                   help="re-order CSLS's top 10: by spelling + frequency + base form, and word class with --from "
                   "es/fr/it/pt (default; one-word queries into English, microseconds), by a second space "
                   "e5-small (about 10 ms more a query), or none (CSLS's order)")
    _query_options(p, "one text per line; prints JSON lines")
    p.set_defaults(handler="query:cmd_translate")

    p = sub.add_parser("export", help="export vectors and metadata")
    p.add_argument("name")
    p.add_argument("--format", default="projector", choices=["projector", "parquet"])
    p.add_argument("--output", help="folder to write into (default ./export-NAME)")
    _index_dir(p)
    p.set_defaults(handler="index:cmd_export")

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
    _no_layout(p)
    _index_dir(p)
    p.set_defaults(handler="demo:cmd_demo")

    p = sub.add_parser("map", help="the map of every item: compute or recompute its stored layout, write it as "
                       "HTML or PNG with region names")
    p.add_argument("name")
    p.add_argument("--relayout", action="store_true", help="compute the layout again (after many added items)")
    p.add_argument("--html", metavar="FILE", help="write the map as one self-contained HTML file (no network needed)")
    p.add_argument("--png", metavar="FILE", help="write the map as a PNG picture")
    p.add_argument("--lang", default="en", help="language of the region names (default en)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    _index_dir(p)
    p.set_defaults(handler="layout:cmd_map")

    add_eval_command(sub)
    add_serve_command(sub)


def add_serve_command(sub) -> None:
    p = sub.add_parser("serve", help="an HTTP API over the indexes of a folder (search, analogy, translate, embed, "
                       "add/remove items), with docs at /docs",
                       description="Serve the indexes of a folder over HTTP (FastAPI on uvicorn). Closed by default: "
                       "it listens on 127.0.0.1, and takes writes only when started with a token.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only; "
                   "0.0.0.0: every interface)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--token", help="the token writes need (Authorization: Bearer TOKEN; default $EMBEDSPACE_TOKEN; "
                   "without one the server takes no writes)")
    p.add_argument("--protect-reads", action="store_true", help="reads need the token too")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME", help="a Host name the server may be "
                   "reached by besides localhost and 127.0.0.1 (repeatable; '*': any)")
    p.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN", help="a browser origin allowed "
                   "to call the API, e.g. http://localhost:3000 (repeatable; default none)")
    p.add_argument("--no-preload", action="store_true", help="open each index on its first request, not at start")
    p.add_argument("--access-log", action="store_true", help="log every request")
    _index_dir(p)
    p.set_defaults(handler="serve:cmd_serve")


def add_alignment_commands(sub) -> None:
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
                   "concatenated (default %(default)s; lite0 alone is ~4x cheaper; lite0-multi: Lite0 with its "
                   "mid-level stages pooled too, same cost)")
    p.add_argument("--method", default="ridge", choices=["ridge", "contrastive"])
    p.add_argument("--folds", type=int, default=5, help="grouped folds of the held-out report (default 5)")
    p.add_argument("--alpha", type=float, help="a fixed ridge strength (default: chosen by inner folds of the "
                   "training images, which favours their own art style)")
    p.add_argument("--neighbours", type=int, metavar="K", help="add a nearest-training-images part: each image "
                   "also goes to the similarity-weighted caption vectors of its K nearest training images "
                   "(the demo's recipe: --backbones lite0-multi --alpha 10000 --neighbours 10 --temperature 0.02 "
                   "--ridge-weight 0.5; see docs/learned-maps.md)")
    p.add_argument("--temperature", type=float, default=0.05, help="softmax temperature of the neighbours' "
                   "cosine similarities (default %(default)s)")
    p.add_argument("--ridge-weight", type=float, default=0.2, help="share of the ridge's output in the blend with "
                   "the neighbours' (default %(default)s)")
    p.add_argument("--cross-style", metavar="DIRS", help="folders of the same emoji in other art styles, "
                   "comma-separated, PNGs named by code point (e.g. benchmarks/.cache/emoji-styles/twitter/64): "
                   "the report adds the final map's R@10 on each")
    p.add_argument("--output", help="write the map here instead of the maps folder")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _index_dir(p)
    p.set_defaults(handler="maps:cmd_align")

    p = sub.add_parser("align-text", help="fit an orthogonal map between two languages on seed pairs (MUSE-style)")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--pairs", required=True, help="a TSV of 'source<TAB>target' pairs, or 'concepts' (the demo's "
                   "country, language and emoji names in both languages)")
    p.add_argument("--from", dest="from_", required=True, help="source language")
    p.add_argument("--to", required=True, help="target language")
    p.add_argument("--words-dictionary", help="general-vocabulary pairs ('source target' a line, e.g. a FreeDict "
                   "dev half) to judge the map on words; `translate` applies a map only when they show it helps")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _index_dir(p)
    p.set_defaults(handler="maps:cmd_align_text")

    p = sub.add_parser("mine", help="bitext mining: pairs of translations between two text files (LASER margin)")
    p.add_argument("source_a", metavar="SOURCE_A", help="text file, one sentence per line (language --from)")
    p.add_argument("source_b", metavar="SOURCE_B", help="text file, one sentence per line (language --to)")
    p.add_argument("--from", dest="from_", help="language of SOURCE_A (checked against the space)")
    p.add_argument("--to", help="language of SOURCE_B")
    p.add_argument("--space", default=DEFAULT_SPACE, help=SPACE_HELP)
    p.add_argument("--threshold", type=float, default=None, help="minimum ratio margin (default 1.06)")
    p.add_argument("--gold", help="a TSV of known pairs: also print precision/recall per threshold")
    p.add_argument("--json", action="store_true", help="print JSON lines")
    p.set_defaults(handler="maps:cmd_mine")


def add_eval_command(sub):
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
    p.set_defaults(handler="eval:cmd_eval")
