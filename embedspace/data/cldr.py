"""Country and language names from CLDR (babel): concept ids 'country:ES' and 'language:es'.
"""

from __future__ import annotations

import re

from babel import Locale, UnknownLocaleError, localedata

from .emoji import all_emoji, flag_country

NOT_COUNTRIES = {"EU", "EZ", "UN", "QO", "XA", "XB", "ZZ"}  # CLDR regions that are not countries


def babel_locale(lang: str):
    """babel's Locale for a canonical code, or None if CLDR has no data for it."""

    try:
        return Locale.parse(lang.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return None


def country_codes(countries=None) -> list:
    codes = [c for c in Locale("en").territories if len(c) == 2 and c.isalpha() and c not in NOT_COUNTRIES]
    if countries is not None:
        codes = [c for c in codes if c in set(countries)]
    return sorted(codes)


def language_codes() -> list:
    """ISO 639 codes (2 or 3 letters, no region or script) of the languages CLDR has a locale for."""

    return sorted(c for c in Locale("en").languages if re.fullmatch("[a-z]{2,3}", c) and localedata.exists(c))


def babel_records(languages, countries=None) -> list:
    """Country names ('country:ES') and language names ('language:es') in each language."""
    flags = {flag_country(e): e for e in all_emoji() if flag_country(e)}
    rows = []
    codes, langs = country_codes(countries), language_codes()
    for lang in languages:
        locale = babel_locale(lang)
        if locale is None:
            continue
        for code in codes:
            name = locale.territories.get(code)
            if name:
                rows.append({"text": name, "lang": lang, "concept": f"country:{code}", "label": "country",
                             "flag": flags.get(code)})
        for code in langs:
            name = locale.languages.get(code)
            if name:
                rows.append({"text": name, "lang": lang, "concept": f"language:{code}", "label": "language"})
    return rows
