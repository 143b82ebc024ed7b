"""Emoji from the `emoji` package: which ones, their CLDR names in many languages, their bases.

Skin-tone and gender variants keep a link to their base emoji (`emoji_base`), which keeps the
variants of one emoji in one cross-validation fold (`emoji_group`). Unicode's emoji groups are
not in any installed package, so there is no category.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Protocol

from ..errors import InputError
from ..languages import normalize_lang

SKIN_TONES = {chr(c) for c in range(0x1F3FB, 0x1F400)}
GENDER_SIGNS = ("\u200d\u2640\ufe0f", "\u200d\u2642\ufe0f")
GENDERED_PEOPLE = ("\U0001F468", "\U0001F469")  # man, woman; person is U+1F9D1
PERSON = "\U0001F9D1"
REGIONAL_A = 0x1F1E6


def _emoji_data() -> dict:
    import emoji

    return emoji.EMOJI_DATA


def emoji_languages() -> dict:
    """{canonical code: the emoji package's key}: 'zh' (CLDR's zh, Simplified) -> 'zh-Hans'."""
    import emoji

    return {normalize_lang(key): key for key in emoji.LANGUAGES}


@lru_cache(maxsize=1)
def all_emoji() -> tuple:
    """Every fully-qualified emoji that has an English name, in codepoint order."""
    import emoji

    data = _emoji_data()
    return tuple(sorted((e for e, v in data.items() if v["status"] == emoji.STATUS["fully_qualified"] and v.get("en")),
                        key=lambda e: [ord(c) for c in e]))


def clean_name(raw: str) -> str:
    """':cara_de_perro:' -> 'cara de perro' (the package writes CLDR names with _ and colons)."""
    return re.sub(r"\s+", " ", raw.strip().strip(":").replace("_", " ")).strip()


def english_name(emoji: str) -> str:
    return clean_name(_emoji_data()[emoji]["en"])


def emoji_name(emoji: str, lang: str) -> str | None:
    """The emoji's name in a canonical language, or None where the package has none."""
    import emoji as emoji_package

    key = emoji_languages().get(lang)
    if key is None:
        return None
    entry = _emoji_data()[emoji]
    if key not in entry:
        emoji_package.config.load_language(key)  # the package loads other languages on demand
        entry = _emoji_data()[emoji]
    raw = entry.get(key)
    return clean_name(raw) if raw else None


def _qualified(candidate: str, known) -> str | None:
    """The fully-qualified form of a sequence, adding the FE0F a stripped sequence may lack."""
    if candidate in known:
        return candidate
    if len(candidate) > 1 and candidate[1] != "\ufe0f":
        with_vs = candidate[0] + "\ufe0f" + candidate[1:]
        if with_vs in known:
            return with_vs
    return None


SKIN_TONE_SUFFIX = re.compile(r"( (light|medium-light|medium|medium-dark|dark) skin tone)+$")


@lru_cache(maxsize=1)
def _by_english_name() -> dict:
    return {english_name(e): e for e in all_emoji()}


def emoji_base(emoji: str, known) -> tuple[str | None, list]:
    """(base emoji, ['skin tone', 'gender']) for a variant; (None, []) for a base.

    Skin tones are the modifiers U+1F3FB..U+1F3FF; gender is a ZWJ + female/male sign, or a
    ZWJ sequence that starts with man/woman where the same sequence with person exists. The base
    is what is left when they are taken away, where that is itself an emoji (or, for sequences
    like 'men holding hands: light skin tone, dark skin tone', the emoji named without the tones).
    """
    current, kinds = emoji, []
    if any(c in SKIN_TONES for c in current):
        kinds.append("skin tone")
        plain = _qualified("".join(c for c in current if c not in SKIN_TONES), known)
        if plain is None and emoji in _emoji_data():
            plain = _by_english_name().get(SKIN_TONE_SUFFIX.sub("", english_name(emoji)))
        if plain:
            current = plain
    for sign in GENDER_SIGNS:
        if current.endswith(sign):
            neutral = _qualified(current[: -len(sign)], known)
            if neutral:
                current, kinds = neutral, kinds + ["gender"]
            break
    else:
        if current[:1] in GENDERED_PEOPLE and current[1:2] == "\u200d":
            neutral = _qualified(PERSON + current[1:], known)
            if neutral:
                current, kinds = neutral, kinds + ["gender"]
    return (current if current != emoji else None), kinds


def emoji_group(emoji: str, known=None) -> str:
    """The base emoji a variant belongs to (skin tone and gender taken away), or the emoji itself:
    what keeps variants of one emoji in one cross-validation fold."""
    known = known if known is not None else set(all_emoji())
    base, _ = emoji_base(emoji, known)  # takes skin tone and gender away together: 👩🏽‍💻 -> 🧑‍💻
    return base or emoji


def flag_country(emoji: str) -> str | None:
    """'ES' for the flag of Spain (a pair of regional indicators), else None."""
    if len(emoji) == 2 and all(REGIONAL_A <= ord(c) < REGIONAL_A + 26 for c in emoji):
        return "".join(chr(ord(c) - REGIONAL_A + ord("A")) for c in emoji)
    return None


class EmojiChoice(Protocol):
    """Which emoji to take (the demo's options and the suites' own have these fields)."""

    emoji: tuple | None  # exactly these
    emoji_limit: int | None  # else at most this many, an even spread
    skin_tones: bool  # include skin-tone variants


def select_emoji(options: EmojiChoice) -> list:
    known = set(all_emoji())
    if options.emoji:
        missing = [e for e in options.emoji if e not in known]
        if missing:
            raise InputError(f"Not fully-qualified emoji with a name: {' '.join(missing)}")
        chosen = list(dict.fromkeys(options.emoji))
    else:
        chosen = sorted(known, key=lambda e: [ord(c) for c in e])
        if not options.skin_tones:
            chosen = [e for e in chosen if not SKIN_TONES & set(e)]
        if options.emoji_limit is not None and options.emoji_limit < len(chosen):
            step = len(chosen) / max(options.emoji_limit, 1)
            chosen = [chosen[int(i * step)] for i in range(options.emoji_limit)]
    return chosen


def _emoji_meta(emoji: str, known) -> dict:
    base, kinds = emoji_base(emoji, known)
    country = flag_country(emoji)
    return {"base": base, "variant": ", ".join(kinds) or None, "country": f"country:{country}" if country else None}


def image_records(paths: dict) -> list:
    """One image row per rendered emoji: concept = the emoji, label 'emoji'."""
    known = set(all_emoji())
    return [{"image": str(path), "lang": None, "concept": emoji, "label": "emoji", "emoji_en": english_name(emoji),
             **_emoji_meta(emoji, known)} for emoji, path in paths.items()]


def emoji_records(emojis, languages) -> list:
    """The names of these emoji in each language that has them: concept = the emoji."""
    known = set(all_emoji())
    rows = []
    for lang in languages:
        for emoji in emojis:
            name = emoji_name(emoji, lang)
            if name:
                rows.append({"text": name, "lang": lang, "concept": emoji, "label": "emoji", **_emoji_meta(emoji, known)})
    return rows
