"""What every evaluation suite shares: the item sets built from the demo's data generators,
ranking with the query API's own scoring functions, and the result record. (Cached embeddings
are `embedspace.spaces.cache`; the machine facts of a record, `embedspace.runtime`.)

Ranking follows `embedspace.query` exactly, so the figures are what the CLI's `translate` and
`analogy` return: candidates are the CANDIDATES items (translation: CSLS_CANDIDATES) nearest by
cosine, re-ranked by the method's own score (`vectors.csls_scores`, `vectors.analogy_scores`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from ..data.cldr import babel_records
from ..data.emoji import emoji_records, select_emoji
from ..data.words import word_records
from ..demo import DemoOptions
from ..errors import InputError, UnsupportedError
from ..languages import normalize_lang
from ..query import CANDIDATES
from ..runtime import machine
from ..vectors import (
    CSLS_K,
    analogy_scores,
    analogy_target,
    candidate_cosines,
    csls_scores,
    exact_neighbours,
    mean_top_k,
    neighbourhood_similarity,
)

# The languages the multilingual suites use unless told otherwise: widely used, four scripts,
# all in use-m3, e5-small, the emoji package and CLDR.
DEFAULT_LANGUAGES = ("en", "es", "de", "fr", "zh-Hans", "ja", "ru", "ar")


# -- languages ------------------------------------------------------------------------------------------
def check_languages(space, languages, suite: str) -> tuple:
    """Canonical codes, each one the space supports, or an UnsupportedError naming the others."""
    languages = tuple(dict.fromkeys(normalize_lang(code) for code in languages))
    supported = set(space.languages or ())
    if "*" in supported or not supported:
        return languages
    outside = [code for code in languages if code not in supported]
    if outside:
        raise UnsupportedError(
            f"The {suite} suite cannot run {', '.join(outside)} with {space.canonical}: the space supports "
            f"{', '.join(sorted(supported))}. Pick languages it has (--languages or --pairs).")
    return languages


def default_languages(space, requested=None) -> tuple:
    """`requested`, else DEFAULT_LANGUAGES restricted to what the space supports."""
    if requested:
        return tuple(requested)
    supported = set(space.languages or ())
    return tuple(code for code in DEFAULT_LANGUAGES if not supported or "*" in supported or code in supported)


def parse_pairs(text: str) -> list:
    """'es-en,de-fr' or 'en:zh-Hans' -> [('es', 'en'), ('de', 'fr'), ('en', 'zh-Hans')]."""
    pairs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if ":" in part or ">" in part:
            src, _, tgt = part.replace(">", ":").partition(":")
            splits = [(src, tgt)]
        else:
            pieces = part.split("-")
            splits = [("-".join(pieces[:i]), "-".join(pieces[i:])) for i in range(1, len(pieces))]
        readings = set()
        for src, tgt in splits:
            try:
                readings.add((normalize_lang(src), normalize_lang(tgt)))
            except InputError:
                continue
        if len(readings) != 1:
            problem = "reads several ways" if readings else "is not two language codes"
            raise InputError(f"Language pair {part!r} {problem}: write SOURCE-TARGET (es-en) or SOURCE:TARGET "
                             "(en:zh-Hans).")
        pairs.append(readings.pop())
    if not pairs:
        raise InputError("--pairs is empty: write e.g. es-en,de-fr.")
    return list(dict.fromkeys(pairs))


# -- item sets from the demo's generators -------------------------------------------------------------------
@dataclass
class LanguageTexts:
    """The distinct texts of one language, each with the set of concepts it names (empty for words)."""

    lang: str
    texts: list = field(default_factory=list)
    concepts: list = field(default_factory=list)  # frozenset per text
    labels: list = field(default_factory=list)  # country, language, emoji or word (the first it came as)

    def counts(self) -> dict:
        out = {}
        for label in self.labels:
            out[label] = out.get(label, 0) + 1
        return out


def group_texts(rows) -> dict:
    """Rows {'text', 'lang', 'concept', 'label'} -> {lang: LanguageTexts}, one entry per distinct text.

    A text that names several concepts (a flag's name that is also the country's) keeps all of
    them; a frequent word that is also a name counts as the name.
    """
    out, where = {}, {}
    for row in rows:
        lang, text = row["lang"], row["text"]
        group = out.setdefault(lang, LanguageTexts(lang))
        concept = {row["concept"]} if row.get("concept") else set()
        key = (lang, text)
        if key in where:
            i = where[key]
            group.concepts[i] = group.concepts[i] | concept
            continue
        where[key] = len(group.texts)
        group.texts.append(text)
        group.concepts.append(frozenset(concept))
        group.labels.append(row["label"])
    return out


def concept_texts(languages, emojis=None, words: int = 3000, countries=None) -> dict:
    """Country and language names (babel), emoji names (emoji) and frequent words (wordfreq) per language.

    The same generators as the demo index; `emojis` defaults to the demo's set (every fully-qualified
    emoji without a skin tone).
    """

    emojis = select_emoji(DemoOptions()) if emojis is None else list(emojis)
    rows = babel_records(languages, countries) + emoji_records(emojis, languages) + word_records(languages, words)
    grouped = group_texts(rows)
    return {lang: grouped.get(lang, LanguageTexts(lang)) for lang in languages}


def gold_matrix(query_concepts, target_concepts) -> list:
    """For each query, the target positions that share a concept with it."""
    by_concept = {}
    for j, concepts in enumerate(target_concepts):
        for concept in concepts:
            by_concept.setdefault(concept, []).append(j)
    return [sorted({j for c in concepts for j in by_concept.get(c, ())}) for concepts in query_concepts]


# -- ranking with the query API's scoring ---------------------------------------------------------------
def rank_targets(queries: np.ndarray, targets: np.ndarray, method: str, k: int,
                 target_hubness: np.ndarray | None = None, exclude_self: bool = False,
                 candidates: int = CANDIDATES, with_scores: bool = False):
    """(n_queries, k) target positions, best first, by plain cosine (nn) or CSLS, as `translate` ranks
    (with_scores: and their (n_queries, k) scores, cosines or CSLS).

    CSLS: candidates are the `candidates` targets nearest by cosine, re-ranked by
    query.csls_scores with r_T(x) = mean cosine of x to its CSLS_K nearest targets and r_S(y) =
    target_hubness (neighbourhood_similarity of the targets to the source side). exclude_self:
    queries and targets are the same rows, and an item is not its own neighbour.
    """
    if method not in ("nn", "csls"):
        raise ValueError(f"method {method!r}")
    if method == "csls" and target_hubness is None:
        raise ValueError("CSLS needs the targets' hubness r_S")
    if method == "nn":
        rows, cosines = exact_neighbours(queries, targets, k, exclude_self=exclude_self)
        return (rows, cosines) if with_scores else rows
    near, near_cos = exact_neighbours(queries, targets, max(candidates, k, CSLS_K), exclude_self=exclude_self)
    query_hubness = mean_top_k(near_cos, CSLS_K)  # r_T(x): the candidates are the nearest targets
    scores = csls_scores(near_cos, query_hubness, target_hubness[near])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    ranked = np.take_along_axis(near, order, axis=1)
    return (ranked, np.take_along_axis(scores, order, axis=1)) if with_scores else ranked


def target_hubness(targets: np.ndarray, source_side: np.ndarray, exclude_self: bool = False) -> np.ndarray:
    """r_S(y) for every target: mean cosine to its CSLS_K nearest source-side items."""
    return neighbourhood_similarity(targets, source_side, CSLS_K, exclude_self=exclude_self)


def solve_analogies(pool: np.ndarray, va: np.ndarray, vb: np.ndarray, vc: np.ndarray, excluded: list,
                    methods=("add",), k: int = 1, candidates: int = CANDIDATES) -> dict:
    """{method: (n_questions, k) pool rows answering a : b :: c : ?, best first}, as `embedspace analogy` ranks.

    pool: the candidate answers (unit rows); va, vb, vc: (n, dim) operand vectors; excluded[i]:
    pool rows question i may not answer (its own operands). Candidates are the `candidates` rows
    nearest to b - a + c (query.analogy_target), found once and re-ranked by each method's
    query.analogy_scores, as query.rank_analogy_candidates does. -1 where fewer rows are allowed than asked for.
    """
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    out = {method: np.full((len(va), k), -1, np.int64) for method in methods}
    block, small = 1024, 64  # FAISS searches big blocks best; gathering candidates is fastest in small ones
    for start in range(0, len(va), block):
        stop = min(start + block, len(va))
        near_block, _ = exact_neighbours(analogy_target(va[start:stop], vb[start:stop], vc[start:stop]), pool,
                                         max(candidates, k), exclude=excluded[start:stop])
        for sub in range(start, stop, small):
            end = min(sub + small, stop)
            near = near_block[sub - start:end - start]
            cosines = candidate_cosines(pool[np.maximum(near, 0)], va[sub:end], vb[sub:end], vc[sub:end])
            for method in methods:
                scores = np.where(near < 0, -np.inf, analogy_scores(*cosines, method))  # as rank_analogy_candidates
                order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
                ranked = np.take_along_axis(near, order, axis=1)
                out[method][sub:end, :ranked.shape[1]] = ranked
    return out


def hits_at(ranked: np.ndarray, gold: list, ks=(1, 5)) -> dict:
    """{k: boolean per query}: is any gold position among the first k ranked?"""
    out = {}
    for k in ks:
        top = ranked[:, :k]
        out[k] = np.array([bool(set(g).intersection(row.tolist())) for row, g in zip(top, gold)], dtype=bool)
    return out


# -- the record every suite returns ------------------------------------------------------------------------
class Clock:
    """Seconds per stage, for the 'time it took' every suite prints."""

    def __init__(self):
        self.seconds = {}
        self._start = time.perf_counter()
        self._stage = None

    def stage(self, name: str):
        now = time.perf_counter()
        if self._stage is not None:
            self.seconds[self._stage] = round(self.seconds.get(self._stage, 0) + now - self._last, 2)
        self._stage, self._last = name, now

    def done(self) -> dict:
        self.stage(None)
        self.seconds["total"] = round(time.perf_counter() - self._start, 2)
        return self.seconds


def record(suite: str, space, config: dict, counts: dict, figures: dict, clock: Clock, command: str,
           notes: list = (), load_before: float | None = None) -> dict:
    """The result of one suite on one space: what quality.json stores and --json prints."""
    info = machine()
    info["load_1min_start"] = load_before
    return {"suite": suite, "space": space.canonical, "space_id": space.id, "config": config, "counts": counts,
            "figures": figures, "seconds": clock.done(), "machine": info,
            "date": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
            "notes": list(notes)}


def mean_figures(records: list) -> dict | None:
    """{key: unweighted mean} of dicts with the same keys (per language or direction, each counts
    once); None for no records."""
    if not records:
        return None
    return {k: round(sum(r[k] for r in records) / len(records), 4) for k in records[0]}


def ratio(hits, total) -> float | None:
    return round(float(hits) / total, 4) if total else None


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_seconds(seconds: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
