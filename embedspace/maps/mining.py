"""Bitext mining with LASER's ratio-margin score (Artetxe & Schwenk, 2019).

    margin(x, y) = cos(x, y) / ( sum_{z in NN_k(x)} cos(x, z) / 2k + sum_{z in NN_k(y)} cos(y, z) / 2k )

with NN_k(x) the k nearest target sentences of x and NN_k(y) the k nearest source sentences of
y (k=4). Candidates are each source's best target and each target's best source (both
directions); a pair is kept when its margin reaches the threshold, and each sentence is used
at most once (highest margins first).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..spaces.registry import load_space

MARGIN_K = 4
DEFAULT_THRESHOLD = 1.06  # LASER's BUCC threshold region; see `mining_quality` for the curve


@dataclass
class MinedPair:
    score: float
    source: str
    target: str
    source_row: int
    target_row: int


def margin_scores(source: np.ndarray, target: np.ndarray, k: int = MARGIN_K) -> np.ndarray:
    """The full ratio-margin matrix (n_source, n_target) from unit vectors."""
    cos = source @ target.T
    k_s = min(k, cos.shape[1])
    k_t = min(k, cos.shape[0])
    mean_source = -np.sort(-cos, axis=1)[:, :k_s].mean(axis=1)  # x's neighbourhood among targets
    mean_target = -np.sort(-cos.T, axis=1)[:, :k_t].mean(axis=1)  # y's neighbourhood among sources
    return cos / ((mean_source[:, None] + mean_target[None, :]) / 2)


def mine(source_texts, target_texts, source_vectors, target_vectors, threshold: float = DEFAULT_THRESHOLD,
         k: int = MARGIN_K) -> list[MinedPair]:
    if len(source_texts) < 1 or len(target_texts) < 1:
        raise InputError("Mining needs at least one sentence on each side.")
    scores = margin_scores(source_vectors, target_vectors, k)
    candidates = {(i, int(j)) for i, j in enumerate(scores.argmax(axis=1))}
    candidates |= {(int(i), j) for j, i in enumerate(scores.argmax(axis=0))}
    ranked = sorted(candidates, key=lambda ij: -scores[ij])
    used_s, used_t, out = set(), set(), []
    for i, j in ranked:
        if scores[i, j] < threshold:
            break
        if i in used_s or j in used_t:
            continue
        used_s.add(i)
        used_t.add(j)
        out.append(MinedPair(float(scores[i, j]), source_texts[i], target_texts[j], i, j))
    return out


def mine_texts(space_spec: str, source_texts, target_texts, threshold: float = DEFAULT_THRESHOLD) -> list[MinedPair]:
    space = load_space(space_spec)
    source_texts, target_texts = _clean(source_texts, "source"), _clean(target_texts, "target")
    return mine(source_texts, target_texts, space.embed_texts(source_texts), space.embed_texts(target_texts), threshold)


def _clean(texts, side: str) -> list:
    kept = [t.strip() for t in texts if t and t.strip()]
    if not kept:
        raise InputError(f"The {side} side has no non-empty lines.")
    return list(dict.fromkeys(kept))


def mining_quality(mined: list[MinedPair], gold: set, thresholds=(1.0, 1.02, 1.04, 1.06, 1.08, 1.1, 1.15, 1.2)) -> list:
    """Precision / recall / F1 of the mined pairs against known (source, target) pairs at each threshold.

    Precision counts only mined pairs that touch a sentence of a known pair: where the sentences
    outside the known pairs are real text, some of their mined pairs are true translations nobody
    listed, and counting them as errors would understate precision. `mined` counts every pair."""
    gold_sources, gold_targets = {s for s, _ in gold}, {t for _, t in gold}
    rows = []
    for threshold in thresholds:
        kept = {(p.source, p.target) for p in mined if p.score >= threshold}
        judged = {(s, t) for s, t in kept if s in gold_sources or t in gold_targets}
        right = len(kept & gold)
        precision = right / len(judged) if judged else 0.0
        recall = right / len(gold) if gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"threshold": threshold, "mined": len(kept), "correct": right, "precision": round(precision, 4),
                     "recall": round(recall, 4), "f1": round(f1, 4)})
    return rows
