"""Re-ranking translation candidates: by spelling + frequency (the default) or with a second space.

Default (`translate --rerank spelling-frequency`, no second model): use-m3's CSLS top
RERANK_CANDIDATES of a one-word query into English are re-ordered by CSLS + SPELLING_WEIGHT x
character-trigram similarity to the query (cognates: nación / nation) + FREQUENCY_WEIGHT x the
candidate's wordfreq Zipf frequency above the candidates' mean (a frequent word tends to be the
common translation) - BASE_FORM_WEIGHT where the candidate is a regular English inflection of
another candidate (conoscere: "knowing" and "know" both near; the base form is the usual answer
to a one-word query); from Spanish, French, Italian or Portuguese (`--from` given) also
+ WORD_CLASS_AGREE_WEIGHT where the candidate's word class, guessed from its ending, fits the
query's and - WORD_CLASS_CONFLICT_WEIGHT where it does not (critiquer: "criticize" before
"criticism"; maps/word_class.py). Microseconds a query; `--rerank none` keeps CSLS's order.

Opt-in (`translate --rerank e5-small`): the top RERANK_CANDIDATES are re-ordered by
CSLS + RERANK_WEIGHT * cosine in the second space (e5-small, "query: " on both sides).
Chosen on the FreeDict dev halves (w = 2: best mean over the ten directions, +1.1 pt P@1, 9 of 10
better); on the test halves it gives +0.9 pt mean, 9 of 10 better (docs/quality.md).

Why it is not the default: the search issue's budget for translation is twice a plain search
(about a millisecond or two), and e5-small embeds one query in about 10 ms on a CPU. Precomputing
e5-small vectors once instead (the index's target-language texts and the source language's
frequent words) was measured at about 31 texts/s on the shared 2-core machine: the demo's 5,145
English items alone would take minutes, far over the 30 s a one-off step may take.
Candidates' and queries' vectors go through the embedding cache, so each text is embedded once.
"""

from __future__ import annotations

import math
import unicodedata
from functools import lru_cache

import numpy as np

from ..errors import InputError
from ..spaces.cache import embed_texts_cached
from ..spaces.registry import load_space
from .word_class import LANGUAGES, class_fit, english_inflections

RERANK_SPACES = ("e5-small",)  # measured; another space would need its own weight chosen on dev halves
RERANK_WEIGHT = 2.0
RERANK_CANDIDATES = 10


def rerank_order(first_scores: np.ndarray, second_cosines: np.ndarray, weight: float = RERANK_WEIGHT) -> np.ndarray:
    """Positions of the candidates, best first, by first score + weight * second-space cosine
    (ties keep the first order). Works on one row or on a (queries, candidates) matrix."""
    return np.argsort(-(first_scores + weight * second_cosines), axis=-1, kind="stable")


def load_rerank_space(spec: str):
    if spec not in RERANK_SPACES:
        raise InputError(f"Re-ranking with {spec!r} was not measured; use one of: {', '.join(RERANK_SPACES)}.")
    return load_space(spec)


def rerank_candidates(second, query_text: str, candidate_texts: list, first_scores: np.ndarray):
    """(order of the candidates, their combined scores in that order)."""
    vectors = embed_texts_cached(second, [query_text, *candidate_texts], role="query")
    second_cosines = vectors[1:] @ vectors[0]
    order = rerank_order(first_scores, second_cosines)
    return order, (first_scores + RERANK_WEIGHT * second_cosines)[order]


def rerank_setting(spec: str | None) -> str:
    if not spec or spec == "none":
        return "no re-ranking"
    if spec == DEFAULT_RERANK:
        return feature_setting(None)
    return f"top {RERANK_CANDIDATES} re-ranked by {spec} (score = CSLS + {RERANK_WEIGHT:g} x its cosine)"


# -- the default: spelling + frequency, no second model ---------------------------------------------
# Chosen on the FreeDict dev halves of 10 directions into English (benchmarks/freedict_translation.py,
# choose_features): the grid point with the best mean dev P@1 among those lowering no direction by more
# than its standard error. P@1 dev / test: +0.50 / +0.14 pt mean; Latin script +0.69 / +0.46; other
# scripts +0.07 / -0.6 (docs/quality.md, with the rule per script group).
SPELLING_WEIGHT = 0.2
FREQUENCY_WEIGHT = 0.02
# Added on top of the two above (2026-12-02, the same rule on the same dev halves, choose_features' second
# stage): a candidate that is an English inflection of another candidate (+s, +ed, +ing, ...) loses
# BASE_FORM_WEIGHT. Dev P@1 over spelling + frequency: +1.0 pt mean (Latin +1.1, other scripts +0.9;
# ar -1.3, within its standard error). Test: +1.0 pt mean (fr +1.9, nl +1.5, ja +2.2; de -0.9, ar -1.5):
# docs/quality.md. A dictionary that lists inflected headwords (Wochen: weeks) loses where a base form
# is near: de and ar do.
BASE_FORM_WEIGHT = 0.045
# Third (2026-12-02, tenth session; rule written before any test figure: notes/issue19-scripts/s10-RULE.txt):
# word class from endings, for sources with an ending table (maps/word_class.py). Chosen on the fr / it / pt
# dev halves (grid 0-0.2 x 0-0.2, the same rule against the default above): dev P@1 +1.19 pt mean (fr +0.5,
# it +1.6, pt +1.5; a plateau: 13 grid points within 0.2 pt). Test: +0.60 pt mean (fr +0.9, it +0.4,
# pt +0.5); with the plural fix made after (weights kept) dev +1.24, test +0.65. Spanish's table is
# grammar, not measured.
WORD_CLASS_CONFLICT_WEIGHT = 0.08
WORD_CLASS_AGREE_WEIGHT = 0.12
WORD_CLASS_LANGUAGES = LANGUAGES  # the sources with an ending table
FEATURE_TARGETS = ("en",)  # measured into English only; the frequency list is the target's
# The weights are in units of use-m3's CSLS scores. e5-small's cosines are compressed (most near 0.8),
# so the same terms outweigh its CSLS: on the names suite they lowered its mean P@1 into English by
# 1.0 pt (ja -3.9, zh-Hans -4.3) where use-m3's rose (es +1.0, fr +0.6) (`eval translation`, 2026-12-01).
FEATURE_SPACES = ("use-m3",)
DEFAULT_RERANK = "spelling-frequency"
RERANK_CHOICES = (DEFAULT_RERANK, *RERANK_SPACES, "none")


def space_name(space) -> str | None:
    """The catalogue name of a space ('use-m3' for use-m3[images=map:...]); None for a composite."""
    return getattr(space.spec, "name", None)


def spelling_key(text: str) -> str:
    """Accents stripped (NFKD, combining marks dropped) and case folded: 'Nación' -> 'nacion'."""
    return "".join(c for c in unicodedata.normalize("NFKD", text.strip()) if not unicodedata.combining(c)).casefold()


def _trigrams(text: str) -> set:
    padded = f"#{spelling_key(text)}#"
    return {padded[i:i + 3] for i in range(max(1, len(padded) - 2))}


def spelling_similarity(a: str, b: str) -> float:
    """Character-trigram Dice coefficient of two texts' spelling keys, in [0, 1]: 1 for the same
    spelling, about 0.5 for cognates (nación / nation), 0 between different scripts."""
    x, y = _trigrams(a), _trigrams(b)
    return 2 * len(x & y) / (len(x) + len(y))


@lru_cache(maxsize=4)
def _frequency_dict(lang: str) -> dict:
    """wordfreq's word -> frequency for `lang` ({} without wordfreq or a list): loaded once, ~0.1 s."""
    try:
        import wordfreq
    except ImportError:
        return {}
    return wordfreq.get_frequency_dict(lang) if lang in wordfreq.available_languages() else {}


def zipf_frequency(text: str, lang: str) -> float | None:
    """wordfreq's Zipf frequency (log10 per billion words) of the case-folded text, None without an
    entry (a phrase, a name wordfreq lacks). A dictionary look-up, not wordfreq's tokeniser."""
    frequency = _frequency_dict(lang).get(text.casefold())
    return math.log10(frequency) + 9 if frequency else None


def frequency_feature(candidates: list, lang: str) -> np.ndarray:
    """Each candidate's Zipf frequency minus the mean over those of the first RERANK_CANDIDATES that
    have one (the candidates re-ranked; so candidates further down do not move the top's order);
    0 for a candidate without an entry, so a missing frequency neither helps nor hurts."""
    zipf = np.array([np.nan if (z := zipf_frequency(c, lang)) is None else z for c in candidates], dtype=np.float64)
    known = ~np.isnan(zipf)
    reference = zipf[:RERANK_CANDIDATES][known[:RERANK_CANDIDATES]]
    if not len(reference):
        return np.zeros(len(candidates))
    return np.where(known, zipf - reference.mean(), 0.0)


def inflection_feature(candidates: list) -> np.ndarray:
    """1 for a candidate that is an English inflection (english_inflections) of another of the first
    RERANK_CANDIDATES candidates, else 0: "knowing" beside "know"."""
    keys = [c.strip().casefold() for c in candidates]
    inflected = set()
    for base in dict.fromkeys(keys[:RERANK_CANDIDATES]):
        inflected |= english_inflections(base)
    return np.array([1.0 if key in inflected else 0.0 for key in keys])


def word_class_feature(query: str, source: str | None, candidates: list) -> np.ndarray:
    """The word-class term of each candidate (maps/word_class.py): + WORD_CLASS_AGREE_WEIGHT where its
    class fits the query's, - WORD_CLASS_CONFLICT_WEIGHT where it does not; 0 without a source table."""
    if source not in WORD_CLASS_LANGUAGES:
        return np.zeros(len(candidates))
    conflicts, agreements = class_fit(query, source, candidates)
    return WORD_CLASS_AGREE_WEIGHT * np.array(agreements) - WORD_CLASS_CONFLICT_WEIGHT * np.array(conflicts)


def feature_scores(query: str, candidates: list, lang: str, spelling_weight: float = SPELLING_WEIGHT,
                   frequency_weight: float = FREQUENCY_WEIGHT, base_form_weight: float = BASE_FORM_WEIGHT,
                   source: str | None = None) -> np.ndarray:
    """What the default re-ranking adds to each candidate's CSLS score. lang: the candidates' language;
    source: the query's, when known (the word-class term needs it)."""
    spelling = np.array([spelling_similarity(query, c) for c in candidates], dtype=np.float64)
    return (spelling_weight * spelling + frequency_weight * frequency_feature(candidates, lang)
            - base_form_weight * inflection_feature(candidates) + word_class_feature(query, source, candidates))


def feature_rerank_skipped(query: str, to: str, method: str, space_name: str | None = "use-m3") -> str | None:
    """Why the default re-ranking does not apply to this query, or None when it does. space_name: the
    catalogue name of the index's space (None for a composite space)."""
    if space_name not in FEATURE_SPACES:
        return f"not re-ranked (spelling + frequency weights chosen for {', '.join(FEATURE_SPACES)} only)"
    if method != "csls":
        return "not re-ranked (its weights were chosen for CSLS)"
    if to not in FEATURE_TARGETS:
        return f"not re-ranked (spelling + frequency measured into {', '.join(FEATURE_TARGETS)} only)"
    if len(query.split()) != 1:
        return "not re-ranked (spelling + frequency measured on one-word queries only)"
    return None


def default_rerank(query: str, first_scores: np.ndarray, to: str, method: str, space: str | None, candidate_texts,
                   source: str | None = None):
    """(positions of the candidates, best first; their shown scores; the setting): the default re-ranking
    where it applies (feature_rerank), else the candidates' own order and why not. candidate_texts: a
    function giving the candidates' texts, called only when they are needed; source: the query's language
    if known. What `translate` and the translation suite's "default" both do."""
    skipped = feature_rerank_skipped(query, to, method, space)
    if skipped:
        return np.arange(len(first_scores)), np.asarray(first_scores), skipped
    order, shown = feature_rerank(query, candidate_texts(), first_scores, to, source)
    return order, shown, feature_setting(source)


def feature_rerank(query: str, candidate_texts: list, first_scores: np.ndarray, to: str, source: str | None = None):
    """(positions of the candidates, best first; their combined scores in that order): the first
    RERANK_CANDIDATES re-ordered by CSLS + the feature terms, the rest kept in their order (so the
    top of an answer does not depend on how many candidates are shown). Every combined score is
    CSLS + the feature terms."""
    combined = np.asarray(first_scores, dtype=np.float64) + feature_scores(query, candidate_texts, to, source=source)
    head = np.argsort(-combined[:RERANK_CANDIDATES], kind="stable")
    order = np.concatenate([head, np.arange(len(head), len(combined))]).astype(np.int64)
    return order, combined[order]


FEATURE_SETTING = (f"top {RERANK_CANDIDATES} re-ranked by spelling + frequency + base form (score = CSLS + "
                   f"{SPELLING_WEIGHT:g} x trigram similarity + {FREQUENCY_WEIGHT:g} x Zipf frequency above the "
                   f"candidates' mean - {BASE_FORM_WEIGHT:g} for an English inflection of another candidate")


def feature_setting(source: str | None) -> str:
    """What the default re-ranking did, for the answer's "setting"."""
    if source in WORD_CLASS_LANGUAGES:
        return (f"{FEATURE_SETTING} + word class: {WORD_CLASS_AGREE_WEIGHT:g} where the candidate's ending fits "
                f"the {source} query's, - {WORD_CLASS_CONFLICT_WEIGHT:g} where it does not)")
    why = "no --from given" if not source else f"no ending table for {source}"
    return f"{FEATURE_SETTING}; word class not used: {why})"
