"""Arabic-aware sentence splitting with exact character offsets.

A sentence ends at a line break, or after `.` `!` `?` `؟` `؛` (with any closing quotes or
brackets glued to it) when white space follows. A full stop between digits (`2.5`) does not end
a sentence because no white space follows it.
"""
from __future__ import annotations

import re
from typing import Iterator

# Closing marks that stay with the sentence they close: `قال "انتهى."` ends after the quote.
_CLOSERS = "\"'”’»)]"
_BOUNDARY = re.compile(rf"(?<=[.!?؟؛])[{re.escape(_CLOSERS)}]*(?=\s)|\n")


def split_sentences(text: str) -> Iterator[tuple[int, int]]:
    """Yield `(start, end)` of every non-blank sentence of `text`, stripped of white space."""
    pos = 0
    for match in _BOUNDARY.finditer(text):
        yield from _stripped(text, pos, match.end())
        pos = match.end()
    yield from _stripped(text, pos, len(text))


def _stripped(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        yield start, end
