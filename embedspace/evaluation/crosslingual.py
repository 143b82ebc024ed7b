"""Cross-lingual analogies from a relation the data really has: the man and woman variants of the
same role in the emoji set (Unicode's gendered ZWJ sequences and gender signs).

    man cook : woman cook :: man farmer : ?      operands in the source language,
                                                  the answer searched among target-language names

For every two roles X != Y with both variants: `man X : woman X :: man Y : woman Y` (relation
man->woman) and the reverse (woman->man). The answer pool is every emoji name of the target
language (the demo's emoji set), without the names of the question's three emoji, as
`embedspace analogy` leaves out its operands; ranking is the query API's (3CosAdd / 3CosMul over
the 100 names nearest to b - a + c). A question is skipped (and counted) when a name is missing in
a language or two of its names read the same (nothing to tell apart). Same-language pairs are
reported as the reference the cross-lingual ones are read against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data.emoji import all_emoji, emoji_base, emoji_languages, emoji_name, select_emoji
from ..demo import DemoOptions
from ..errors import UnsupportedError
from ..runtime import load_now
from ..spaces.cache import embed_texts_cached
from .common import (
    Clock,
    check_languages,
    format_seconds,
    percent,
    ratio,
    record,
    solve_analogies,
)
from .translation import default_pairs as translation_pairs

SUITE = "crosslingual-analogy"
METHODS = ("add", "mul")
RELATIONS = ("man->woman", "woman->man")
MALE_MARKERS = ("\u2642", "\U0001F468")  # male sign, man
FEMALE_MARKERS = ("\u2640", "\U0001F469")  # female sign, woman


def gendered_roles(emojis) -> list:
    """[(base, man variant, woman variant)] for each base emoji with both gender variants among `emojis`."""

    known = set(all_emoji())
    roles = {}
    for emoji in emojis:
        base, kinds = emoji_base(emoji, known)
        if kinds != ["gender"]:
            continue
        if any(m in emoji for m in FEMALE_MARKERS):
            roles.setdefault(base, {})["woman"] = emoji
        elif any(m in emoji for m in MALE_MARKERS):
            roles.setdefault(base, {})["man"] = emoji
    return [(base, v["man"], v["woman"]) for base, v in sorted(roles.items()) if {"man", "woman"} <= set(v)]


def build_questions(roles) -> list:
    """[(relation, a, b, c, answer)] as emoji, for every ordered pair of different roles."""
    questions = []
    for relation in RELATIONS:
        for x in roles:
            for y in roles:
                if x == y:
                    continue
                if relation == "man->woman":
                    questions.append((relation, x[1], x[2], y[1], y[2]))
                else:
                    questions.append((relation, x[2], x[1], y[2], y[1]))
    return questions


def default_pairs(space) -> list:
    """The translation suite's default directions plus each of their languages with itself."""

    pairs = translation_pairs(space)
    same = [(lang, lang) for lang in dict.fromkeys(code for pair in pairs for code in pair)]
    return same + pairs


@dataclass
class EmojiNames:
    """One language's side: the names of the role emoji (operands) and the answer pool."""

    lang: str
    operands: dict  # emoji -> name, for the emoji that appear in questions
    pool_texts: list  # every distinct emoji name of the language
    pool_emoji: list  # for each pool text, the emoji it names (a tuple; usually one)
    operand_vectors: np.ndarray | None = None  # rows in sorted(operands) order
    pool_vectors: np.ndarray | None = None

    def __post_init__(self):
        self.operand_row = {e: i for i, e in enumerate(sorted(self.operands))}
        self.text_of = {e: t for t, emojis in zip(self.pool_texts, self.pool_emoji) for e in emojis}
        self.rows_of = {}
        for row, emojis in enumerate(self.pool_emoji):
            for e in emojis:
                self.rows_of.setdefault(e, []).append(row)


def emoji_names(lang: str, emojis, operand_emoji) -> EmojiNames:
    pool = {}
    for e in emojis:
        name = emoji_name(e, lang)
        if name:
            pool.setdefault(name, []).append(e)
    operands = {e: name for e in operand_emoji if (name := emoji_name(e, lang))}
    return EmojiNames(lang, operands, list(pool), [tuple(v) for v in pool.values()])


def score_pair(source: EmojiNames, target: EmojiNames, questions: list, methods=METHODS) -> dict:
    """Counts and accuracy of one (source, target) language pair."""
    usable, skipped = [], {"name missing": 0, "names read the same": 0}
    for q in questions:
        operands = q[1:4]
        if any(e not in source.operands for e in operands) or q[4] not in target.text_of:
            skipped["name missing"] += 1
            continue
        shown = {source.operands[e] for e in operands}
        if len(shown) < 3 or target.text_of[q[4]] in {target.text_of.get(e) for e in operands}:
            skipped["names read the same"] += 1
            continue
        usable.append(q)
    result = {"questions": len(usable), "skipped": skipped, "pool": len(target.pool_texts), "accuracy": {},
              "by_relation": {}}
    if not usable:
        return result
    va, vb, vc = (source.operand_vectors[[source.operand_row[q[i]] for q in usable]] for i in (1, 2, 3))
    excluded = [np.array(sorted({r for e in q[1:4] for r in target.rows_of.get(e, ())}), dtype=np.int64)
                for q in usable]
    best = solve_analogies(target.pool_vectors, va, vb, vc, excluded, methods, k=1)
    relations = np.array([q[0] for q in usable])
    for method in methods:
        correct = np.array([row >= 0 and q[4] in target.pool_emoji[row] for q, row in zip(usable, best[method][:, 0])],
                           dtype=bool)
        result["accuracy"][method] = ratio(correct.sum(), len(usable))
        for relation in RELATIONS:
            mine = relations == relation
            entry = result["by_relation"].setdefault(relation, {"questions": int(mine.sum())})
            entry[method] = ratio(correct[mine].sum(), int(mine.sum()))
    return result


def run(space, pairs=None, emoji_limit: int | None = None, progress: bool = False, command: str | None = None) -> dict:
    """The crosslingual-analogy suite on one space. pairs: [(src, tgt)], same-language pairs allowed.

    emoji_limit: a smaller answer pool (an even spread of the emoji set, plus every emoji of the
    questions); the questions stay the same.
    """

    load_before, clock = load_now(), Clock()
    pairs = [tuple(p) for p in pairs] if pairs else default_pairs(space)
    languages = check_languages(space, [code for pair in pairs for code in pair], SUITE)
    pairs = [(check_languages(space, [s], SUITE)[0], check_languages(space, [t], SUITE)[0]) for s, t in pairs]
    clock.stage("build questions")
    emojis = select_emoji(DemoOptions())
    roles = gendered_roles(emojis)
    questions = build_questions(roles)
    operand_emoji = sorted({e for role in roles for e in role[1:]})
    if emoji_limit is not None:
        spread = select_emoji(DemoOptions(emoji_limit=emoji_limit))
        emojis = [e for e in emojis if e in set(spread) | set(operand_emoji)]
    names = {lang: emoji_names(lang, emojis, operand_emoji) for lang in languages}
    missing = [lang for lang, n in names.items() if not n.pool_texts]
    if missing:
        raise UnsupportedError(f"The emoji package has no names in {', '.join(missing)}, which the "
                               "crosslingual-analogy suite needs; it has "
                               f"{', '.join(sorted(emoji_languages()))}.")
    clock.stage("embed")
    for n in names.values():
        n.operand_vectors = embed_texts_cached(space, [n.operands[e] for e in sorted(n.operands)], progress=progress)
        n.pool_vectors = embed_texts_cached(space, n.pool_texts, progress=progress)
    clock.stage("score")
    results = {f"{src}-{tgt}": score_pair(names[src], names[tgt], questions) for src, tgt in pairs}
    counts = {"roles": len(roles), "questions_per_pair": len(questions),
              "pairs": {p: {"questions": r["questions"], "skipped": r["skipped"], "pool": r["pool"]}
                        for p, r in results.items()}}
    figures = {"pairs": {p: {"accuracy": r["accuracy"], "by_relation": r["by_relation"]} for p, r in results.items()}}
    config = {"pairs": [f"{s}-{t}" for s, t in pairs], "relations": list(RELATIONS), "methods": list(METHODS),
              "emoji": "the demo's set (no skin tones)", "emoji_limit": emoji_limit}
    command = command or f"embedspace eval crosslingual-analogy --space '{space.canonical}' --pairs " + \
        ",".join(f"{s}:{t}" for s, t in pairs) + (f" --emoji-limit {emoji_limit}" if emoji_limit else "")
    notes = [f"{len(roles)} roles with a man and a woman variant; every ordered pair of roles, both relations. "
             "Pool: every emoji name of the target language, without the question's three emoji."]
    return record(SUITE, space, config, counts, figures, clock, command, notes, load_before)


def config_key(config: dict) -> str:
    return "emoji gender variants" + (f" emoji_limit={config['emoji_limit']}" if config.get("emoji_limit") else "")


def format_text(result: dict) -> str:
    counts, figures = result["counts"], result["figures"]
    lines = [f"crosslingual-analogy  {result['space_id']}",
             f"  {counts['roles']} roles with man and woman variants -> {counts['questions_per_pair']:,} questions "
             "per language pair (before skips)",
             f"  {'pair':<16}{'questions':>10}{'skipped':>9}{'pool':>7}{'3CosAdd':>10}{'3CosMul':>10}"]
    for pair, r in figures["pairs"].items():
        c = counts["pairs"][pair]
        acc = r["accuracy"]
        lines.append(f"  {pair:<16}{c['questions']:>10,}{sum(c['skipped'].values()):>9,}{c['pool']:>7,}"
                     f"{percent(acc.get('add')):>10}{percent(acc.get('mul')):>10}")
    lines.append(f"  time: {format_seconds(result['seconds'])}")
    return "\n".join(lines)
