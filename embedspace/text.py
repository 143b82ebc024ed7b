"""Text that no model, index file or message can hold, and what a message keeps of a long text."""

from __future__ import annotations

import re

EXCERPT_CHARS = 200  # of an offending text, in a skip record or a message
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(text: str) -> tuple[int, str] | None:
    """(position from 0, character) of the first lone surrogate in text, or None.

    A Python string can hold one (a JSON "\\ud800" escape, a command-line byte that is not UTF-8)
    but UTF-8 cannot: no model, index file or skip record could take the text.
    """
    match = LONE_SURROGATE.search(text)
    return (match.start(), match.group()) if match else None


def describe_lone_surrogate(text: str) -> str | None:
    """'an invalid character (a lone surrogate U+D800 at character 3)', or None if text has none."""
    found = lone_surrogate(text)
    if found is None:
        return None
    position, char = found
    return f"an invalid character (a lone surrogate U+{ord(char):04X} at character {position + 1})"


def excerpt(text, limit: int = EXCERPT_CHARS) -> str:
    """At most `limit` characters of text, with its length when cut ("aaa… (5,242,880 characters)"),
    lone surrogates written as escapes: what a skip record or a message keeps of a text."""
    text = str(text)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text):,} characters)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
