"""What every evaluation suite shares: cached embeddings, the item sets built from the demo's
generators, ranking with the query API's own scoring functions, and the result record.

Ranking follows `embedspace.query` exactly, so the figures are what the CLI's `translate` and
`analogy` return: candidates are the CANDIDATES items nearest by cosine, re-ranked by the
method's own score (`query.csls_scores`, `query.analogy_scores`).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from ..artifacts import cache_dir, file_checksum, load_array, save_array
from ..errors import InputError, UnsupportedError
from ..languages import normalize_lang
from ..query import CANDIDATES, CSLS_K, analogy_scores, analogy_target, candidate_cosines, csls_scores, \
    exact_neighbours, mean_top_k, neighbourhood_similarity

# The languages the multilingual suites use unless told otherwise: widely used, four scripts,
# all in use-m3, e5-small, the emoji package and CLDR.
DEFAULT_LANGUAGES = ("en", "es", "de", "fr", "zh-Hans", "ja", "ru", "ar")
TEXT_CHUNK = 5_000  # texts embedded and saved together (what an interrupted run loses at most)
IMAGE_CHUNK = 256


# -- embeddings, cached on disk ---------------------------------------------------------------------
def _digest(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:24]


def embed_texts_cached(space, texts, role: str = "item", progress: bool = False) -> np.ndarray:
    """space.embed_texts(texts), each distinct text embedded once per space and role, ever.

    Vectors live in a TextVectorStore on disk, shared by every suite (the translation suite's names
    serve the image-text suite), and written in blocks, so an interrupted run keeps its finished blocks.
    Lookup spaces (GloVe) are not cached: looking up is faster than reading a file.
    """
    texts = list(texts)
    if hasattr(space, "embed_texts_with"):  # a composite: combine its parts' cached vectors
        return space.embed_texts_with(lambda part, part_texts: embed_texts_cached(part, part_texts, role, progress),
                                      texts)
    if space.embeds_by_lookup:
        return space.embed_texts(texts, role=role)
    role = role if space.roles_differ else "item"  # the same vectors either way: one cache
    store = TextVectorStore.open(cache_dir("eval", _digest(space.id)[:16], f"texts-{role}"), space.dim)
    missing = list(dict.fromkeys(t for t in texts if t not in store))
    bar = _progress(progress and bool(missing), len(missing), "Embedding texts")
    for start in range(0, len(missing), TEXT_CHUNK):
        block = missing[start:start + TEXT_CHUNK]
        store.add(block, space.embed_texts(block, role=role))
        if bar is not None:
            bar.update(len(block))
    if bar is not None:
        bar.close()
    return store.get(texts)


class TextVectorStore:
    """Append-only segments of (texts, vectors) in one folder: never rewritten, safe for parallel writers.

    A segment is `seg-ID.vectors.npy` then `seg-ID.texts.npy`, each written atomically; the texts
    file is written last and marks the segment complete. Reading maps the vectors (mmap), so a
    300,000-word vocabulary costs little memory until its rows are used.
    """

    _open = {}  # folder -> store, so a process reads each segment once

    @classmethod
    def open(cls, folder, dim: int) -> "TextVectorStore":
        store = cls._open.get(str(folder))
        if store is None or store.dim != dim:
            store = cls._open[str(folder)] = cls(folder, dim)
        store.refresh()
        return store

    def __init__(self, folder, dim: int):
        self.folder, self.dim = folder, dim
        self.where = {}  # text -> (segment vectors, row)
        self.seen = set()  # segment files read

    def refresh(self) -> None:
        """Read the segments written since the last look (by this process or another)."""
        for texts_file in sorted(self.folder.glob("seg-*.texts.npy")):
            if texts_file.name in self.seen:
                continue
            self.seen.add(texts_file.name)
            vectors = _load_segment_vectors(texts_file)
            texts = load_array(texts_file)
            if vectors is None or texts is None or vectors.shape != (len(texts), self.dim):
                continue  # a damaged segment: its texts are embedded again
            for row, text in enumerate(texts.tolist()):
                self.where.setdefault(text, (vectors, row))

    def __contains__(self, text) -> bool:
        return text in self.where

    def add(self, texts: list, vectors: np.ndarray) -> None:
        import uuid

        stem = self.folder / f"seg-{uuid.uuid4().hex}"
        save_array(f"{stem}.vectors.npy", np.asarray(vectors, dtype=np.float32))
        save_array(f"{stem}.texts.npy", np.array(texts, dtype=str))
        self.seen.add(f"{stem.name}.texts.npy")
        for row, text in enumerate(texts):
            self.where[text] = (vectors, row)

    def get(self, texts) -> np.ndarray:
        out = np.empty((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            vectors, row = self.where[text]
            out[i] = vectors[row]
        return out


def _load_segment_vectors(texts_file):
    path = str(texts_file).replace(".texts.npy", ".vectors.npy")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None


def embed_images_cached(space, paths, progress: bool = False) -> np.ndarray:
    """space.embed_images(paths), cached in blocks under the space id and the files' checksums."""
    paths = [str(p) for p in paths]
    if hasattr(space, "embed_images_with"):  # a composite: combine its parts' cached vectors
        return space.embed_images_with(lambda part, part_paths: embed_images_cached(part, part_paths, progress), paths)
    out = np.empty((len(paths), space.dim), np.float32)
    folder = cache_dir("eval", _digest(space.id)[:16])
    bar = _progress(progress, len(paths), "Embedding images")
    for start in range(0, len(paths), IMAGE_CHUNK):
        chunk = paths[start:start + IMAGE_CHUNK]
        path = folder / f"images-{_digest(space.id, [file_checksum(p) for p in chunk])}.npy"
        vectors = load_array(path)
        if vectors is None or vectors.shape != (len(chunk), space.dim):
            vectors = space.embed_images(chunk)
            save_array(path, vectors)
        out[start:start + len(chunk)] = vectors
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return out


def _progress(enabled: bool, total: int, desc: str):
    if not enabled or total == 0:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="item")


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
    from ..demo import DemoOptions, babel_records, emoji_records, select_emoji, word_records

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
                 candidates: int = CANDIDATES) -> np.ndarray:
    """(n_queries, k) target positions, best first, by plain cosine (nn) or CSLS, as `translate` ranks.

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
        return exact_neighbours(queries, targets, k, exclude_self=exclude_self)[0]
    near, near_cos = exact_neighbours(queries, targets, max(candidates, k, CSLS_K), exclude_self=exclude_self)
    query_hubness = mean_top_k(near_cos, CSLS_K)  # r_T(x): the candidates are the nearest targets
    scores = csls_scores(near_cos, query_hubness, target_hubness[near])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(near, order, axis=1)


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


def machine() -> dict:
    """Where a figure was measured: CPU, cores, memory and the load while it ran (timings depend on it)."""
    info = {"platform": platform.platform(terse=True), "machine": platform.machine(), "cpus": os.cpu_count(),
            "python": platform.python_version()}
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    model = cpu_model()
    if model:
        info["cpu"] = model
    info["load_1min"] = load_now()
    return info


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ('' where there is none): benchmarks record it too."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def record(suite: str, space, config: dict, counts: dict, figures: dict, clock: Clock, command: str,
           notes: list = (), load_before: float | None = None) -> dict:
    """The result of one suite on one space: what quality.json stores and --json prints."""
    info = machine()
    info["load_1min_start"] = load_before
    return {"suite": suite, "space": space.canonical, "space_id": space.id, "config": config, "counts": counts,
            "figures": figures, "seconds": clock.done(), "machine": info,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": command,
            "notes": list(notes)}


def mean_figures(records: list) -> dict | None:
    """{key: unweighted mean} of dicts with the same keys (per language or direction, each counts
    once); None for no records."""
    if not records:
        return None
    return {k: round(sum(r[k] for r in records) / len(records), 4) for k in records[0]}


def load_now() -> float | None:
    return round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None


def ratio(hits, total) -> float | None:
    return round(float(hits) / total, 4) if total else None


def percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def format_seconds(seconds: dict) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
