"""Sentences: Arabic-aware splitting with exact character offsets, and a sentence's words as the
model reads them.

record (`text`, `entities`) -> Sentence (`tokens`, `tags`, raw `spans` of each word)

A sentence ends at a line break, or after `.` `!` `?` `؟` `؛` (with any closing quotes or
brackets glued to it) when white space follows. A full stop between digits (`2.5`) does not end
a sentence because no white space follows it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterator

from arabic_ner.labels import word_tags
from arabic_ner.normalize import normalize
from arabic_ner.words import word_spans

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


@dataclass
class Sentence:
    id: str
    text: str  # raw text, as given
    tokens: list[str]  # words as the model sees them (after normalization)
    spans: list[tuple[int, int]]  # raw [start, end) of each word
    tags: list[str] | None = None  # gold IOB2 tags, one per word


def to_sentence(record: dict, normalization: str) -> Sentence:
    aligned = normalize(record["text"], normalization)
    norm_spans = word_spans(aligned.text)
    spans = [aligned.raw_span(s, e) for s, e in norm_spans]
    tags = word_tags(spans, record["entities"]) if "entities" in record else None
    return Sentence(record["id"], record["text"], [aligned.text[s:e] for s, e in norm_spans], spans, tags)
