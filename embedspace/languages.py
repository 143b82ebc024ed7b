"""One place that turns any language code into embedspace's canonical form.

Canonical codes are ISO 639-1 where one exists ('en', 'es', 'he'), otherwise the shortest
standard tag ('fil'), plus the script where it changes the written form: Chinese is always
'zh-Hans' or 'zh-Hant', Serbian 'sr-Cyrl' or 'sr-Latn'. Regions are dropped ('en-US' -> 'en',
'pt-BR' -> 'pt'), except that they decide the Chinese script ('zh-TW' -> 'zh-Hant').
"""

from functools import lru_cache

import babel
import langcodes

from .errors import InputError

# Languages written in more than one script, where a vector space sees different text.
SCRIPT_MATTERS = {"zh", "sr"}


@lru_cache(maxsize=4096)
def normalize_lang(code: str) -> str:
    """'eng' -> 'en', 'en_US' -> 'en', 'zh-TW' -> 'zh-Hant', 'zho' -> 'zh-Hans', 'iw' -> 'he'."""
    if not isinstance(code, str) or not code.strip():
        raise InputError(f"Language code {code!r} is empty or not text; use an ISO 639-1 code like 'en' or 'es'.")
    raw = code.strip().replace("_", "-")
    try:
        lang = langcodes.Language.get(langcodes.standardize_tag(raw))
    except (ValueError, langcodes.LanguageTagError):
        lang = None
    if lang is None or not lang.is_valid() or not lang.language:
        raise InputError(
            f"'{code}' is not a language code embedspace understands; "
            "use ISO 639-1 ('en', 'es', 'zh-Hans') or ISO 639-3 ('eng', 'spa')."
        )
    base = lang.language
    if base in {"cmn", "yue"}:  # Mandarin / Cantonese are written as Chinese
        base = "zh"
    if base in SCRIPT_MATTERS:
        # maximize() fills in the likely script from the region: zh-TW -> Hant, zh -> Hans
        return f"{base}-{lang.script or lang.maximize().script}"
    return base


def normalize_langs(codes) -> tuple:
    """Normalise an iterable of codes, keeping order and dropping repeats."""
    out = []
    for code in codes:
        norm = normalize_lang(code)
        if norm not in out:
            out.append(norm)
    return tuple(out)


def language_name(code: str, locale: str = "en") -> str:
    """Human name of a canonical code ('es' -> 'Spanish'), from CLDR via babel."""
    try:

        return babel.Locale.parse(code.replace("-", "_")).get_display_name(locale) or code
    except Exception:  # babel missing or a code CLDR has no name for
        return code
