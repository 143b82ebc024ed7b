"""Re-ranking translation candidates with a second space (opt-in: `translate --rerank e5-small`).

use-m3's CSLS proposes the candidates; the top RERANK_CANDIDATES are re-ordered by
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

import numpy as np

from ..errors import InputError
from ..spaces.cache import embed_texts_cached
from ..spaces.registry import load_space

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
    if not spec:
        return "no re-ranking (opt-in: --rerank e5-small)"
    return f"top {RERANK_CANDIDATES} re-ranked by {spec} (score = CSLS + {RERANK_WEIGHT:g} x its cosine)"
