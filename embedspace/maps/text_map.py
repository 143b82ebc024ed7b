"""Orthogonal maps between two languages of one space, fitted on a seed dictionary (as MUSE does).

`embedspace align-text --space SPEC --pairs FILE --from es --to en` fits W (orthogonal
Procrustes: W = U V^T from the SVD of X^T Y over the seed pairs' unit vectors), scores word
translation P@1 by NN and CSLS with and without it on held-out pairs, and saves it. Translation
(`translate --from es --to en`) applies it to the source text when one is saved for that space
and direction only when the map's saved report shows that it helps words (`--words-dictionary`:
held-out general-vocabulary pairs, e.g. a FreeDict dev half). A map fitted on names (country,
language, emoji) was measured to lower P@1 on words in 8 of 10 directions (docs/quality.md), so a
map without a words verdict, as for a direction that has no dictionary to check it (Spanish ->
English), is kept but not applied: unverified means off. A space trained to be cross-lingual
(use-m3, e5) may gain little or lose: the report says which, measured.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import NPZ_ERRORS, load_headed_npz, save_headed_npz
from ..data.cldr import babel_records
from ..data.emoji import SKIN_TONES, all_emoji, emoji_records
from ..errors import InputError
from ..languages import normalize_lang
from ..paths import map_dir
from ..spaces.registry import load_space
from ..vectors import csls_scores, l2_normalize, mean_top_k

TEXT_MAP_FORMAT = "embedspace.text_map"
TEXT_MAP_VERSION = 1
HELD_OUT_SHARE = 0.2


@dataclass
class TextMap:
    weight: np.ndarray  # (dim, dim), orthogonal
    space_id: str
    source: str
    target: str
    meta: dict

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        return l2_normalize(vectors @ self.weight)


def procrustes(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The orthogonal W minimising |source W - target|_F (Schoenemann 1966)."""
    if source.shape != target.shape or len(source) < 2:
        raise InputError(f"Procrustes needs two equal-shaped sets of at least 2 vectors, not {source.shape} and {target.shape}.")
    u, _, vt = np.linalg.svd(source.astype(np.float64).T @ target.astype(np.float64))
    return (u @ vt).astype(np.float32)


def text_identity(space) -> str:
    """What decides a space's text vectors: its text side (Space.text_space), without the image options,
    where it has one (a text map fitted with use-m3 serves use-m3 with ConSE or any image map); else its id."""
    text_side = space.text_space()
    return space.id if text_side is None else json.dumps(text_side, sort_keys=True)


def text_map_path(space_id: str, source: str, target: str) -> Path:
    digest = hashlib.sha256(space_id.encode()).hexdigest()[:16]
    return map_dir() / "text" / digest / f"{source}-{target}.npz"


def save_text_map(text_map: TextMap, path=None) -> Path:
    path = Path(path or text_map_path(text_map.space_id, text_map.source, text_map.target))
    header = {"format": TEXT_MAP_FORMAT, "version": TEXT_MAP_VERSION, "space_id": text_map.space_id,
              "source": text_map.source, "target": text_map.target, "meta": text_map.meta}
    save_headed_npz(path, header, {"weight": text_map.weight.astype(np.float32)})
    return path


def load_text_map(path) -> TextMap:
    path = Path(path)
    try:
        header, arrays = load_headed_npz(path, ["weight"])
    except NPZ_ERRORS as exc:
        raise InputError(f"{path} is not a readable embedspace text map ({exc}); "
                         "refit it with `embedspace align-text`.") from None
    if header.get("format") != TEXT_MAP_FORMAT or header.get("version") != TEXT_MAP_VERSION:
        raise InputError(f"{path} is not an embedspace text map of version {TEXT_MAP_VERSION}; refit it.")
    weight = arrays["weight"]
    if weight.ndim != 2 or weight.shape[0] != weight.shape[1] or not np.isfinite(weight).all():
        raise InputError(f"{path}: its matrix is {weight.shape}, not a square matrix of finite values; refit it.")
    return TextMap(weight, header["space_id"], header["source"], header["target"], header.get("meta", {}))


def words_verdict(text_map: TextMap) -> bool | None:
    """Whether the map's saved report shows it helps held-out words (CSLS P@1); None: never checked on words."""
    words = text_map.meta.get("report", {}).get("words")
    return None if not words else bool(words.get("helps"))


def applicable_text_map(space, source: str | None, target: str) -> tuple[TextMap | None, str]:
    """(the map translation applies, or None; a line saying which map was used, or why none)."""
    text_map = find_text_map(space, source, target)
    if text_map is None:
        return None, "no text map" if source else "no text map (give --from to use one)"
    direction = f"{text_map.source}->{text_map.target}"
    words = text_map.meta.get("report", {}).get("words") or {}
    if words_verdict(text_map) is None:
        return None, (f"saved {direction} text map not applied: its report has no verdict on words "
                      "(refit with `align-text --words-dictionary FILE`)")
    figures = f"held-out words CSLS P@1 {words['csls_plain']['P@1']:.3f} -> {words['csls_mapped']['P@1']:.3f}"
    if not words["helps"]:
        return None, f"saved {direction} text map not applied: it does not help words ({figures})"
    return text_map, f"{direction} text map applied ({figures})"


def find_text_map(space, source: str | None, target: str) -> TextMap | None:
    """The saved map for this space and direction, or None."""
    if not source:
        return None
    identity = text_identity(space)
    path = text_map_path(identity, normalize_lang(source), normalize_lang(target))
    if not path.is_file():
        return None
    text_map = load_text_map(path)
    if text_map.space_id != identity or text_map.weight.shape[0] != space.dim:
        raise InputError(f"{path} was fitted for another space than {space.canonical}; refit it with `align-text`.")
    return text_map


# -- seed pairs ----------------------------------------------------------------------------------------
MALFORMED = "not two fields (source target)"


@dataclass
class PairFile:
    """A file of word pairs: the pairs in file order, and every line that is not one, by reason."""

    pairs: list  # (source, target)
    lines: int
    skipped: dict  # reason -> [line numbers]
    checksum: str  # sha256 of the file's bytes


def read_pair_file(path, what: str = "pairs file") -> PairFile:
    """The one reader of pair files (seed dictionaries, MUSE's format): 'source target' a line, or
    'source<TAB>target' for phrases. Empty, comment (#) and malformed lines are reported, not kept."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"No {what} at {path} ({exc.strerror or exc}): give one 'source target' pair a line "
                         "(a tab between them allows phrases).") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"The {what} {path} is not UTF-8 text (byte {exc.start}); save it as UTF-8.") from None
    pairs, skipped = [], {}
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            skipped.setdefault("empty", []).append(number)
            continue
        if line.startswith("#"):
            skipped.setdefault("comment", []).append(number)
            continue
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        if len(fields) != 2 or not all(fields):
            skipped.setdefault(MALFORMED, []).append(number)
            continue
        pairs.append(tuple(fields))
    return PairFile(pairs, len(lines), skipped, hashlib.sha256(raw).hexdigest())


def read_pairs(path) -> list[tuple[str, str]]:
    """A seed dictionary for a map: every line must be a pair (or empty, or a # comment)."""
    read = read_pair_file(path)
    bad = read.skipped.get(MALFORMED)
    if bad:
        raise InputError(f"{path}: line(s) {', '.join(map(str, bad[:5]))} are not 'source<TAB>target' pairs.")
    if len(read.pairs) < 2:
        raise InputError(f"{path} has {len(read.pairs)} pair(s); a map needs at least 2 (hundreds are better).")
    return read.pairs


def concept_pairs(source: str, target: str) -> list[tuple[str, str]]:
    """Seed pairs from the demo's shared concepts: country, language and emoji names (CLDR)."""
    rows = babel_records([source, target]) + emoji_records(
        [e for e in all_emoji() if not SKIN_TONES & set(e)], [source, target])
    by_concept: dict = {}
    for row in rows:
        by_concept.setdefault(row["concept"], {}).setdefault(row["lang"], row["text"])
    return sorted({(names[source], names[target]) for names in by_concept.values() if source in names and target in names})


# -- fitting and scoring ---------------------------------------------------------------------------------
def split_pairs(pairs, share: float = HELD_OUT_SHARE, seed: int = 0) -> tuple[list, list]:
    """(train, held out), split by source word so no held-out word was seen in training."""
    sources = sorted({s for s, _ in pairs})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(sources, size=max(1, int(round(share * len(sources)))), replace=False).tolist())
    return [p for p in pairs if p[0] not in held], [p for p in pairs if p[0] in held]


def translation_precision(queries: np.ndarray, pool: np.ndarray, answers: list, method: str, ks=(1, 5)) -> dict:
    """P@k of translating each query into the pool; answers[i] = set of right pool rows.
    CSLS(x, y) = 2 cos(x, y) - r_T(x) - r_S(y) over the k=10 nearest (Conneau et al. 2018),
    with r_S measured against these queries."""

    scores = queries @ pool.T
    if method == "csls":
        scores = csls_scores(scores, mean_top_k(scores), mean_top_k(scores.T)[None, :])
    elif method != "nn":
        raise InputError(f"method must be nn or csls, not {method!r}")
    top = np.argsort(-scores, axis=1, kind="stable")[:, : max(ks)]
    return {f"P@{k}": round(float(np.mean([bool(set(row[:k]) & right) for row, right in zip(top, answers)])), 4) for k in ks}


def align_text(space_spec: str, pairs, source: str, target: str, distractors=(), save: bool = True,
               words=None) -> dict:
    """Fit on the training pairs, report P@1/@5 NN/CSLS with and without the map on held-out
    pairs (target pool: every target word of the pairs plus distractors), then fit on all pairs
    and save. With `words` (general-vocabulary pairs, e.g. a FreeDict dev half) the report also
    scores the saved map on those of them whose source it was not fitted on: its words verdict,
    which decides whether `translate` applies it. Returns the report."""

    space = load_space(space_spec)
    source, target = normalize_lang(source), normalize_lang(target)
    if source == target:
        raise InputError("--from and --to are the same language; a text map goes between two languages.")
    pairs = sorted(set(pairs))
    train, held = split_pairs(pairs)
    if len(train) < 2 or not held:
        raise InputError(f"{len(pairs)} pairs are too few to fit and check a map; give at least 10.")
    src_words = sorted({s for s, _ in pairs})
    pool_words = sorted({t for _, t in pairs} | set(distractors))
    src_vec = dict(zip(src_words, space.embed_texts(src_words)))
    pool = space.embed_texts(pool_words)
    pool_row = {w: i for i, w in enumerate(pool_words)}

    def fit(on):
        return procrustes(np.stack([src_vec[s] for s, _ in on]), pool[[pool_row[t] for _, t in on]])

    held_sources = sorted({s for s, _ in held})
    answers = [{pool_row[t] for s, t in held if s == word} for word in held_sources]
    queries = np.stack([src_vec[s] for s in held_sources])
    mapped = TextMap(fit(train), text_identity(space), source, target, {}).apply(queries)
    report = {"space": space.canonical, "from": source, "to": target, "pairs": len(pairs), "train_pairs": len(train),
              "held_out_sources": len(held_sources), "pool": len(pool_words)}
    for method in ("nn", "csls"):
        report[f"{method}_plain"] = translation_precision(queries, pool, answers, method)
        report[f"{method}_mapped"] = translation_precision(mapped, pool, answers, method)
    report["helps"] = report["csls_mapped"]["P@1"] > report["csls_plain"]["P@1"]
    final = TextMap(fit(pairs), text_identity(space), source, target, {})
    report["words"] = words_report(space, final, words, {s for s, _ in pairs}) if words is not None else None
    if save:
        final.meta = {"report": report}
        report["path"] = str(save_text_map(final))
    return report


def words_report(space, text_map: TextMap, words, fitted_sources: set) -> dict:
    """P@1/@5 NN/CSLS with and without the map on word pairs whose source it was not fitted on
    (pool: every target word of those pairs); 'helps' when CSLS P@1 rises."""
    held = sorted({(s, t) for s, t in words if s not in fitted_sources})
    sources = sorted({s for s, _ in held})
    if len(sources) < 10:
        raise InputError(f"The words dictionary has {len(sources)} source word(s) the map was not fitted on; "
                         "give at least 10 (hundreds are better) to judge it on words.")
    pool_words = sorted({t for _, t in held})
    pool_row = {w: i for i, w in enumerate(pool_words)}
    targets_of: dict = {}
    for s, t in held:
        targets_of.setdefault(s, set()).add(pool_row[t])
    queries = space.embed_texts(sources)
    pool = space.embed_texts(pool_words)
    answers = [targets_of[s] for s in sources]
    report = {"pairs": len(held), "held_out_sources": len(sources), "pool": len(pool_words)}
    for method in ("nn", "csls"):
        report[f"{method}_plain"] = translation_precision(queries, pool, answers, method)
        report[f"{method}_mapped"] = translation_precision(text_map.apply(queries), pool, answers, method)
    report["helps"] = report["csls_mapped"]["P@1"] > report["csls_plain"]["P@1"]
    return report
