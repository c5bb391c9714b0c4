"""Wording of messages: an exception's first line, quoted input cut to a readable length, plurals."""
from __future__ import annotations


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (or its type when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def shorten(value: object, limit: int = 80) -> str:
    """`repr(value)` for a message that quotes input, cut to `limit` characters and saying how long
    it was: one pasted megabyte-long line should not become a megabyte-long error."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = len(value) if isinstance(value, str) else len(text)
    return f"{text[:limit]}…({size:,} characters)"


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"
