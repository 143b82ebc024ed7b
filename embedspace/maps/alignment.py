"""`embedspace align`: fit a learned image map on labelled images and say how good it is.

Labelled images come from a folder with one subfolder per class (the folder name is the
caption), a table with an image path column and a caption column (several rows per image give
several captions, e.g. one per language), or the built-in `openmoji` set (the demo's rendered
single-codepoint emoji, captioned with their names in each language the space supports).

Before the final map is fitted on every image, the same recipe is scored on K grouped folds:
for each fold a map is fitted on the other folds only (its strength chosen by inner folds of
those), and each held-out caption is a query over the held-out images (the pool). ConSE is
scored on the same folds and pools, so the report says what the map buys.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.emoji import SKIN_TONES, all_emoji, emoji_group, emoji_name
from ..data.render import render_emoji
from ..errors import InputError, UnsupportedError
from ..images import find_images, load_image, load_images
from ..index.sources import _load_table
from ..languages import normalize_lang
from ..paths import NAME_PATTERN, map_dir
from ..spaces.image_map import (
    DEFAULT_ALPHAS,
    DEFAULT_BACKBONES,
    ImageMap,
    NeighbourPart,
    caption_to_image_recall,
    fit_map,
    grouped_folds,
    image_features,
    save_map,
)
from ..spaces.registry import load_space
from ..vectors import l2_normalize

LABEL_SOURCES = ("folder", "column")
BUILTIN_SOURCES = ("openmoji",)


@dataclass
class LabelledImages:
    """Images with their captions: captions[i] = [(lang or None, text), ...]; groups keep variants together."""

    images: list  # PIL images
    captions: list
    groups: list
    names: list  # where each image came from, for reports
    skipped: list = field(default_factory=list)  # (source, reason)
    description: str = ""

    def languages(self) -> list:
        return sorted({lang or "?" for caps in self.captions for lang, _ in caps})


# -- reading labelled images -----------------------------------------------------------------------------
def read_labelled_images(source, labels_from: str | None = None, caption_column: str | None = None,
                         lang_column: str | None = None, languages=None) -> LabelledImages:
    if str(source) in BUILTIN_SOURCES:
        return openmoji_images(languages or ("en",))
    path = Path(source)
    if not path.exists():
        raise InputError(f"No image source at {path}: give a folder of class subfolders, a CSV/TSV/Parquet/JSONL "
                         f"table of image paths and captions, or one of: {', '.join(BUILTIN_SOURCES)}.")
    labels_from = labels_from or ("folder" if path.is_dir() else "column")
    if labels_from not in LABEL_SOURCES:
        raise InputError(f"--labels-from must be one of {', '.join(LABEL_SOURCES)}, not {labels_from!r}.")
    if labels_from == "folder":
        if not path.is_dir():
            raise InputError(f"--labels-from folder needs a folder of class subfolders; {path} is a file.")
        return _folder_images(path, languages)
    if path.is_dir():
        raise InputError(f"--labels-from column needs a table file (CSV, TSV, Parquet, JSONL); {path} is a folder.")
    return _table_images(path, caption_column, lang_column)


def _folder_images(root: Path, languages) -> LabelledImages:
    files = [p for p in find_images(root) if p.parent != root]
    if not files:
        raise InputError(f"{root} has no images inside class subfolders (expected {root}/CLASS/IMAGE.jpg).")
    lang = normalize_lang(languages[0]) if languages else None
    images, skipped = load_images(files, skip_errors=True)
    bad = {position for position, _, _ in skipped}
    kept = [p for i, p in enumerate(files) if i not in bad]
    classes = [p.relative_to(root).parts[0] for p in kept]
    captions = [[(lang, c.replace("_", " ").replace("-", " ").strip())] for c in classes]
    return LabelledImages(images, captions, classes, [str(p) for p in kept],
                          [(s, r) for _, s, r in skipped], f"{root} ({len(set(classes))} class folders)")


def _table_images(path: Path, caption_column, lang_column) -> LabelledImages:
    table = _load_table(path)
    columns = list(table.columns)
    path_column = next((c for c in ("path", "image", "file", "filename") if c in columns), None)
    caption_column = caption_column or next((c for c in ("caption", "text", "label", "name") if c in columns), None)
    if path_column is None or caption_column is None or caption_column not in columns:
        raise InputError(f"{path} needs an image path column (path/image/file) and a caption column "
                         f"(caption/text/label, or --caption-column); it has: {', '.join(map(str, columns))}.")
    if lang_column and lang_column not in columns:
        raise InputError(f"{path} has no column {lang_column!r} for --lang-column.")
    by_image: dict = {}
    skipped = []
    for row_number, row in enumerate(table.to_dict("records"), start=2):
        image_path, caption = str(row[path_column] or "").strip(), str(row[caption_column] or "").strip()
        if not image_path or not caption:
            skipped.append((f"{path}:{row_number}", "empty image path or caption"))
            continue
        lang = normalize_lang(str(row[lang_column])) if lang_column and str(row[lang_column]).strip() else None
        by_image.setdefault(image_path, []).append((lang, caption))
    images, captions, names = [], [], []
    for image_path, caps in by_image.items():
        full = (path.parent / image_path) if not Path(image_path).is_absolute() else Path(image_path)
        try:
            images.append(load_image(full))
        except InputError as exc:
            skipped.append((str(full), str(exc)))
            continue
        captions.append(caps)
        names.append(str(full))
    groups = [caps[0][1].lower() for caps in captions]  # images with the same caption share a fold
    return LabelledImages(images, captions, groups, names, skipped, f"{path} ({len(images)} images)")


def captioned_emoji(emojis, pictures, languages, description: str = "", skipped=()) -> LabelledImages:
    """Emoji pictures captioned with their names in `languages`, grouped by base emoji, so a
    variant (skin tone, gender) always falls in its base's fold. The one emoji captioner: `align
    --images openmoji`, the demo's map and the image-text suite's cross-validated maps use it."""
    known = set(all_emoji())
    captions = [[(lang, name) for lang in languages if (name := emoji_name(e, lang))] for e in emojis]
    return LabelledImages(list(pictures), captions, [emoji_group(e, known) for e in emojis], list(emojis),
                          list(skipped), description)


def openmoji_images(languages) -> LabelledImages:
    """The demo's single-codepoint emoji (no sequences, no modifiers) that OpenMoji draws,
    captioned with their names; grouped by base emoji."""
    emojis = [e for e in all_emoji() if len(e) == 1 and e not in SKIN_TONES]
    paths, skipped = render_emoji(emojis)
    emojis = list(paths)
    images, _ = load_images([paths[e] for e in emojis])
    return captioned_emoji(emojis, images, [normalize_lang(lang) for lang in languages],
                           f"OpenMoji single-codepoint emoji ({len(emojis)} rendered)",
                           [(e, reason) for reason, es in skipped.items() for e in es])


# -- fitting and reporting ---------------------------------------------------------------------------------
@dataclass
class AlignReport:
    map_path: Path | None
    image_map: ImageMap | None
    held_out: dict  # {"map": {...}, "conse": {...}, "per_language": {...}, "folds": k, "pool": n}
    data: LabelledImages
    seconds: float
    cross_style: dict = field(default_factory=dict)  # {style: {lang: R@10}}: `cross_style_scores`

    def summary(self) -> str:
        h = self.held_out
        lines = [f"Data: {self.data.description}: {len(self.data.images)} images, "
                 f"{len(set(self.data.groups))} groups, captions in {', '.join(self.data.languages())}."]
        if self.data.skipped:
            lines.append(f"Skipped {len(self.data.skipped)} (e.g. {self.data.skipped[0][0]}: {self.data.skipped[0][1]}).")
        lines.append(f"Same-style held-out caption->image recall over {h['folds']} grouped folds (pool = the test "
                     f"fold, about {h['pool']} images):")
        lines.append(f"  {'language':<10} {'queries':>8} {'map R@1':>8} {'map R@10':>9} {'ConSE R@1':>10} {'ConSE R@10':>11}")
        for lang, row in h["per_language"].items():
            lines.append(f"  {lang:<10} {row['queries']:>8} {row['map']['recall@1']:>8.3f} {row['map']['recall@10']:>9.3f} "
                         f"{row['conse']['recall@1']:>10.3f} {row['conse']['recall@10']:>11.3f}")
        if self.image_map is not None:
            recipe = self.image_map.meta.get("recipe", self.image_map.meta["method"])
            lines.append(f"Map: {recipe} on {'+'.join(self.image_map.backbones)} features.")
        for style, by_lang in self.cross_style.items():
            lines.append(f"Cross-style R@10 on {style} (the final map; each caption ranks pools of {STYLE_POOL} "
                         f"of that style's images): " + ", ".join(f"{lang} {r:.3f}" for lang, r in by_lang.items()))
        if self.cross_style:
            mean = np.mean([r for by_lang in self.cross_style.values() for r in by_lang.values()])
            lines.append(f"Cross-style mean R@10: {mean:.3f} (choose a recipe by this, not by the same-style folds).")
        if self.map_path:
            lines.append(f"Saved {self.map_path}; use it as images=map:{self.map_path.stem} "
                         f"(e.g. `embedspace build NAME SOURCE --space '{self.image_map.text_space['name']}"
                         f"[images=map:{self.map_path.stem}]'`).")
        lines.append(f"Took {self.seconds:.0f} s.")
        return "\n".join(lines)


def caption_targets(space, data: LabelledImages, fit_languages=None, embed=None) -> tuple[np.ndarray, dict]:
    """(per-image mean vector of its captions in the fit languages (all where None),
    {lang: (image index array, caption vectors)} of every caption, the held-out queries).
    embed(texts) -> item vectors, where the caller caches them (default: space.embed_texts)."""
    flat = [(i, lang, text) for i, caps in enumerate(data.captions) for lang, text in caps]
    if not flat:
        raise InputError("None of the images has a caption.")
    unsupported = sorted({lang for _, lang, _ in flat if lang and "*" not in space.languages and lang not in space.languages})
    if unsupported:
        raise UnsupportedError(f"Space {space.canonical} does not support caption language(s) {', '.join(unsupported)}; "
                               f"it supports {', '.join(space.languages)}.")
    texts = [text for _, _, text in flat]
    vectors = embed(texts) if embed else space.embed_texts(texts, role="item")
    fit_languages = {normalize_lang(lang) for lang in fit_languages} if fit_languages else None
    targets = np.zeros((len(data.images), space.dim), np.float64)
    by_lang: dict = {}
    for (i, lang, _), vector in zip(flat, vectors):
        if fit_languages is None or lang in fit_languages:
            targets[i] += vector
        by_lang.setdefault(lang or "?", []).append((i, vector))
    uncaptioned = int((np.abs(targets).sum(axis=1) == 0).sum())
    if uncaptioned:
        raise InputError(f"{uncaptioned} image(s) have no caption in the fit language(s) "
                         f"{', '.join(sorted(fit_languages or []))}; give every image a caption in them.")
    targets = l2_normalize(targets, dtype=None)
    per_lang = {lang: (np.array([i for i, _ in rows]), np.stack([v for _, v in rows])) for lang, rows in by_lang.items()}
    return targets.astype(np.float32), per_lang


def held_out_scores(features, targets, per_lang, groups, conse_vectors, backbones, text_space, method="ridge",
                    folds: int = 5, seed: int = 0, alphas=None, alpha: float | None = None,
                    neighbours: NeighbourPart | None = None) -> dict:
    """Grouped K-fold scores of the map recipe and of ConSE, per caption language.

    Each fold's map is fitted by `fit_map` on the other folds' rows only; a query's pool is the
    images of its fold. A language's figure is the mean over folds of that fold's recall."""
    assignment = grouped_folds(groups, folds, seed)
    sums: dict = {}
    pools = []
    for fold in range(folds):
        test = np.flatnonzero(assignment == fold)
        train = np.flatnonzero(assignment != fold)
        pools.append(len(test))
        kwargs = {"alphas": alphas} if alphas else {}
        fitted = fit_map(features[train], targets[train], [groups[i] for i in train], backbones, text_space, method,
                         alpha=alpha, neighbours=neighbours, **kwargs)
        predicted = fitted.project(features[test])
        position = {image: row for row, image in enumerate(test)}
        for lang, (images, vectors) in per_lang.items():
            mask = np.isin(images, test)
            if not mask.any():
                continue
            rows = [position[i] for i in images[mask]]
            for name, pool in (("map", predicted), ("conse", conse_vectors[test] if conse_vectors is not None else None)):
                if pool is None:
                    continue
                recall = caption_to_image_recall(vectors[mask], pool, rows)
                entry = sums.setdefault(lang, {}).setdefault(name, {"recall@1": 0.0, "recall@10": 0.0, "n": 0})
                count = int(mask.sum())
                entry["recall@1"] += recall[1] * count
                entry["recall@10"] += recall[10] * count
                entry["n"] += count
    per_language = {}
    for lang, by_name in sums.items():
        per_language[lang] = {"queries": by_name["map"]["n"]}
        for name, entry in by_name.items():
            per_language[lang][name] = {k: round(entry[k] / entry["n"], 4) for k in ("recall@1", "recall@10")}
    first = per_language.get("en") or next(iter(per_language.values()))
    return {"folds": folds, "seed": seed, "pool": int(round(np.mean(pools))), "method": method,
            "backbones": list(backbones), "per_language": per_language, "map": first["map"],
            "conse": first.get("conse", {"recall@1": float("nan"), "recall@10": float("nan")})}


def align_images(name: str, space_spec: str, source, labels_from=None, caption_column=None, lang_column=None,
                 languages=None, query_languages=None, backbones=DEFAULT_BACKBONES, method: str = "ridge",
                 folds: int = 5, out=None, save: bool = True, data: LabelledImages | None = None,
                 progress: bool = False, cross_style=(), alpha: float | None = None,
                 neighbours: NeighbourPart | None = None) -> AlignReport:
    """Score the recipe on held-out folds, fit it on every image, save the map (atomically).

    `languages`: the caption languages the map is fitted on (all captions where None);
    `query_languages`: further languages whose captions only serve as held-out queries.
    `alpha`: a fixed ridge strength (None: chosen by inner folds); `neighbours`: add a
    nearest-training-images part (`NeighbourPart`).
    `cross_style`: folders of the same emoji in other art styles (`emoji_style_images`), scored
    with the final map: a recipe that holds on new styles is chosen by these figures."""

    if save and not NAME_PATTERN.match(name):
        raise InputError(f"Map name {name!r}: use letters, digits, '-' and '_' only.")
    started = time.perf_counter()
    space = text_space_for_maps(load_space(space_spec))
    caption_langs = list(dict.fromkeys([*(languages or []), *(query_languages or [])])) or None
    data = data or read_labelled_images(source, labels_from, caption_column, lang_column, caption_langs)
    if len(data.images) < 2 * folds:
        raise InputError(f"{len(data.images)} usable images is too few to fit and check a map; give at least {2 * folds}.")
    features = image_features(data.images, backbones, progress=progress)
    targets, per_lang = caption_targets(space, data, languages)
    conse = conse_vectors(space, data.images)
    held_out = held_out_scores(features, targets, per_lang, data.groups, conse, backbones, space.text_space(),
                               method, folds, alpha=alpha, neighbours=neighbours)
    image_map = fit_image_map(space, data, backbones, method, languages, features, targets,
                              {"held_out": held_out, "created": time.strftime("%Y-%m-%d")},
                              alpha=alpha, neighbours=neighbours)
    styles = cross_style_scores(image_map, data, per_lang, cross_style)
    path = None
    if save:
        path = save_map(image_map, Path(out) if out else map_dir() / f"{name}.npz")
    return AlignReport(path, image_map, held_out, data, time.perf_counter() - started, styles)


def fit_image_map(space, data: LabelledImages, backbones=DEFAULT_BACKBONES, method: str = "ridge", languages=None,
                  features=None, targets=None, meta: dict | None = None, progress: bool = False,
                  alphas=DEFAULT_ALPHAS, alpha: float | None = None, neighbours: NeighbourPart | None = None) -> ImageMap:
    """Fit a map on every image of `data` (strength chosen by inner folds unless `alpha` fixes it;
    `neighbours`: add a nearest-training-images part), its training summary in the map's header;
    features and caption targets are computed unless given."""
    if features is None:
        features = image_features(data.images, backbones, progress=progress)
    if targets is None:
        targets, _ = caption_targets(space, data, languages)
    fitted_on = sorted({normalize_lang(x) for x in languages}) if languages else data.languages()
    training = {"images": len(data.images), "classes": len(set(data.groups)), "languages": fitted_on,
                "captions": sum(len(c) for c in data.captions), "source": data.description,
                "skipped": len(data.skipped)}
    return fit_map(features, targets, data.groups, backbones, space.text_space(), method, alphas,
                   meta={"training": training, **(meta or {})}, alpha=alpha, neighbours=neighbours)


def text_space_for_maps(space):
    """The space, where learned image maps can be fitted for it; else an UnsupportedError saying what to do."""
    if space.text_space() is None:
        own = (f" To search images with it, index them with it as it is: `embedspace build NAME SOURCE --space "
               f"'{space.canonical}'`." if space.supports_images else "")
        raise UnsupportedError(f"Space {space.canonical} has no learned image maps: they bring images into text spaces "
                               "that take them through ConSE, e.g. `embedspace align NAME --space use-m3 --images "
                               f"SOURCE` (or e5-small). {space.images_note}{own}")
    return space


def conse_vectors(space, pil_images) -> np.ndarray:
    """The same images through ConSE in this text space (from the cached Lite0 features)."""
    return space.image_encoder.embed_features(image_features(pil_images, ("lite0",)))


# -- other art styles --------------------------------------------------------------------------------------
STYLE_POOL = 300  # images a caption ranks in the cross-style figure


def emoji_style_images(folder) -> dict:
    """{emoji (without U+FE0F): PNG path} of a folder of one art style's emoji named by their code
    points in hex ('1f436.png', '2708-fe0f.png': the emoji-datasource packages' img/STYLE/64 layout)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"--cross-style {folder}: not a folder (expected PNGs named by code point, e.g. 1f436.png).")
    out = {}
    for path in sorted(folder.glob("*.png")):
        try:
            emoji = "".join(chr(int(part, 16)) for part in path.stem.split("-"))
        except ValueError:
            continue
        out[emoji.replace("\ufe0f", "")] = path
    if not out:
        raise InputError(f"--cross-style {folder}: no PNGs named by emoji code points (e.g. 1f436.png).")
    return out


def style_name(folder) -> str:
    """'twitter' for .../img/twitter/64 or .../twitter."""
    folder = Path(folder)
    return folder.parent.name if folder.name.isdigit() else folder.name


def cross_style_scores(image_map: ImageMap, data: LabelledImages, per_lang: dict, folders) -> dict:
    """{style: {lang: R@10}}: each caption of an emoji the style draws ranks pools of STYLE_POOL
    images of that style (cut from a fixed shuffle; a short last pool joins the one before)."""
    out = {}
    for folder in folders or ():
        drawn = emoji_style_images(folder)
        keys = [str(name).replace("\ufe0f", "") for name in data.names]
        rows = np.array([i for i, key in enumerate(keys) if key in drawn], dtype=np.int64)
        if not len(rows):
            raise InputError(f"--cross-style {folder}: none of its emoji are among the training images "
                             "(it scores maps fitted on emoji, e.g. --images openmoji).")
        pictures, _ = load_images([drawn[keys[i]] for i in rows])
        mapped = image_map.project(image_features(pictures, image_map.backbones))
        position = {image: p for p, image in enumerate(rows)}
        out[style_name(folder)] = {lang: pooled_recall(vectors, mapped, [position.get(i, -1) for i in images])
                                   for lang, (images, vectors) in per_lang.items()}
    return out


def pooled_recall(queries, images, answers, seed: int = 3) -> float:
    """Mean recall@10 of queries whose image (row `answers[i]` of images; -1: not drawn, skipped)
    is in a pool of STYLE_POOL images cut from a fixed shuffle of the images."""
    answers = np.asarray(answers)
    order = np.random.default_rng(seed).permutation(len(images))
    cuts = list(range(0, len(order), STYLE_POOL))
    if len(cuts) > 1 and len(order) - cuts[-1] < STYLE_POOL // 2:
        cuts.pop()
    hits = total = 0
    for number, start in enumerate(cuts):
        pool = order[start:cuts[number + 1] if number + 1 < len(cuts) else len(order)]
        where = {image: p for p, image in enumerate(pool)}
        asked = [i for i, a in enumerate(answers) if a in where]
        if asked:
            recall = caption_to_image_recall(queries[asked], images[pool], [where[answers[i]] for i in asked])
            hits += recall[10] * len(asked)
            total += len(asked)
    return round(hits / total, 4) if total else float("nan")
