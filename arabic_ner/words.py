"""The one word tokenizer of the project: runs of letters and digits, each other symbol alone.

Tags live on these words. Combining marks (tashkeel) and tatweel stay inside their word, and
invisible format characters (zero-width joiners, direction marks, BOM) belong to no word.
"""
from __future__ import annotations

import re
import unicodedata

MARKS = "\u0300-\u036f\u0610-\u061a\u0640\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e8\u06ea-\u06ed"
_INVISIBLE = "\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"  # zero widths, direction marks
LETTER_RUN = rf"(?:[^\W_]|[{MARKS}])+"  # letters and digits with their marks: a word, as against a symbol
WORD = re.compile(rf"{LETTER_RUN}|[^\s{_INVISIBLE}{MARKS}]")


def word_spans(text: str) -> list[tuple[int, int]]:
    """`(start, end)` of every word of `text`."""
    return [m.span() for m in WORD.finditer(text)]


def running_words(text: str) -> int:
    """How many words `text` has as sizes and speeds count them: runs between white space, as `wc -w`
    counts (a word with its punctuation is one). The unit of words/s in the benchmarks and README, of
    predict's chunks and of select's shortest sentence; `word_spans` counts punctuation apart, so would
    give more words, and other figures than those reported."""
    return len(text.split())


def outside_words(char: str) -> bool:
    """White space or an invisible format character: in no word, so never the edge of an entity
    (a prediction cannot end on it, and a span that does matches none)."""
    return char.isspace() or re.fullmatch(f"[{_INVISIBLE}]", char) is not None


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """`[start, end)` without what `outside_words` finds at its edges: an annotation tool's selection
    often takes in the space after a double-clicked word, or a direction mark."""
    while start < end and outside_words(text[start]):
        start += 1
    while end > start and outside_words(text[end - 1]):
        end -= 1
    return start, end


def is_punct(char: str) -> bool:
    """Punctuation or symbol (Unicode categories P* and S*): never the edge of an entity."""
    return unicodedata.category(char)[0] in "PS"
