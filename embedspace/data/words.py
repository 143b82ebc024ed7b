"""Frequent words from wordfreq, letters only, in the language's own scripts; no concept id.
"""

from __future__ import annotations

import unicodedata
from collections import Counter


def _script(char: str) -> str:
    name = unicodedata.name(char, "")
    return name.split(" ")[0] if name else "UNKNOWN"


def language_scripts(words) -> set:
    """The scripts of a language: those of at least 5% of its most frequent words."""

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
