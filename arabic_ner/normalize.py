"""Arabic normalization as AraBERT v0.2 was pretrained with, keeping a map back to the raw text.

AraBERT's own `ArabertPreprocessor` returns a new string and forgets where each character came
from, so predicted entities could not be given as offsets into the user's text. We replay its
v0.2 rules (arabert 1.0.1, `_preprocess_v2`) as a list of regex substitutions over an
`AlignedText`, which carries for every output character the raw `[start, end)` it stands for.
A golden test checks that `normalize(text).text` equals the preprocessor's output.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Callable, Union

Replacement = Union[str, Callable[[re.Match], str]]
_GROUP_REF = re.compile(r"\\(\d)")


@dataclass
class AlignedText:
    """A string and, for each of its characters, the raw span `[starts[i], ends[i])` it came from."""

    text: str
    starts: list[int]
    ends: list[int]

    @classmethod
    def identity(cls, raw: str) -> "AlignedText":
        return cls(raw, list(range(len(raw))), list(range(1, len(raw) + 1)))

    def raw_span(self, start: int, end: int) -> tuple[int, int]:
        """The raw span covered by the characters `[start, end)` of this text (end > start)."""
        return self.starts[start], self.ends[end - 1]

    def sub(self, pattern: re.Pattern | str, repl: Replacement) -> "AlignedText":
        """`re.sub` that keeps the alignment.

        A template's group references (`\\1`) keep their characters' own spans; its literal
        characters, and everything a callable returns, stand for the whole match.
        """
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        if not pattern.search(self.text):
            return self
        pieces = [] if callable(repl) else _GROUP_REF.split(repl)
        text: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        pos = 0
        for m in pattern.finditer(self.text):
            text.append(self.text[pos:m.start()])
            starts += self.starts[pos:m.start()]
            ends += self.ends[pos:m.start()]
            whole = self._span_of(m.start(), m.end())
            if callable(repl):
                out = repl(m)
                text.append(out)
                starts += [whole[0]] * len(out)
                ends += [whole[1]] * len(out)
            else:
                for i, piece in enumerate(pieces):
                    if i % 2:  # a group reference
                        g0, g1 = m.span(int(piece))
                        text.append(self.text[g0:g1])
                        starts += self.starts[g0:g1]
                        ends += self.ends[g0:g1]
                    else:
                        text.append(piece)
                        starts += [whole[0]] * len(piece)
                        ends += [whole[1]] * len(piece)
            pos = m.end()
        text.append(self.text[pos:])
        starts += self.starts[pos:]
        ends += self.ends[pos:]
        return AlignedText("".join(text), starts, ends)

    def absorb(self, pattern: re.Pattern | str) -> "AlignedText":
        """Delete the matches, adding each to the raw span of the character before it, so that a
        word keeps its diacritics and tatweel when mapped back (`العربيةُ`, not `العربية`)."""
        pattern = re.compile(pattern) if isinstance(pattern, str) else pattern
        if not pattern.search(self.text):
            return self
        keep = [True] * len(self.text)
        ends = list(self.ends)
        for m in pattern.finditer(self.text):
            for i in range(m.start(), m.end()):
                keep[i] = False
            if m.start() > 0 and keep[m.start() - 1]:
                ends[m.start() - 1] = self.ends[m.end() - 1]
        return AlignedText("".join(c for c, k in zip(self.text, keep) if k),
                           [x for x, k in zip(self.starts, keep) if k], [x for x, k in zip(ends, keep) if k])

    def translate(self, table: dict[int, str]) -> "AlignedText":
        """One-to-one character mapping (`str.translate` with single characters)."""
        return AlignedText(self.text.translate(table), self.starts, self.ends)

    def _span_of(self, start: int, end: int) -> tuple[int, int]:
        if end > start:
            return self.starts[start], self.ends[end - 1]
        at = self.starts[start] if start < len(self.starts) else (self.ends[-1] if self.ends else 0)
        return at, at


# The rules of arabert 1.0.1's `_preprocess_v2` for bert-base-arabertv02, as data.
_TASHKEEL = "\u064b\u064c\u064d\u064e\u064f\u0650\u0652\u0651"  # pyarabic.araby.TASHKEEL
_TATWEEL = "\u0640"
# Where a pattern starts with a run (`X+` then something X cannot be), it is anchored at the run's
# start with a lookbehind: the leftmost match starts there anyway, so the output is arabert's, but
# the engine no longer retries from every character of a long run (quadratic: a 20,000-letter
# "word" took seconds, 2,000,000 characters hours).
_URL_REGEXES = [
    r"(http(s)?:\/\/.)?(www\.)?[-a-zA-Z0-9@:%._\+~#=]{2,256}\.[a-z]{2,6}\b([-a-zA-Z0-9@:%_\+.~#?&//=]*)",
    # arabert's second pattern, r"@(https?|ftp)://(-\.)?([^\s/?\.#-]+\.?)+(/[^\s]*)?$@iS" (a PHP
    # pattern copied with its delimiters), can never match (`$` then `@`) and backtracks
    # exponentially on "@http://" and a long word (30 letters: minutes): left out.
    r"http[s]?://[a-zA-Z0-9_\-./~\?=%&]+",
    r"www[a-zA-Z0-9_\-?=%&/.~]+",
    r"(?<![a-zA-Z])[a-zA-Z]+\.com",
    r"(?=http)[^\s]+",
    r"(?=www)[^\s]+",
    r"://",
]
_EMAIL_REGEXES = [r"(?<![\w-])[\w-]+@([\w-]+\.)+[\w-]+", r"(?<!\S)\S+@\S+"]
_MENTION_REGEX = r"@[\w\d]+"
_REPEATED_NON_DIGIT = re.compile(r"(\D)\1{2,}", re.DOTALL)
_NOT_WORD_CHAR = r"([^0-9\u0621-\u063A\u0641-\u064A\u0660-\u0669a-zA-Z\[\]])"
_DIGITS_THEN_LETTERS = r"(?<!\d)(\d+)([\u0621-\u063A\u0641-\u064A\u0660-\u066C]+)"
_LETTERS_THEN_DIGITS = r"(?<![\u0621-\u063A\u0641-\u064A\u0660-\u066C])([\u0621-\u063A\u0641-\u064A\u0660-\u066C]+)(\d+)"
_REJECTED_CHARS = r"[^0-9\u0621-\u063A\u0640-\u066C\u0671-\u0674a-zA-Z\[\]!\"#\$%\'\(\)\*\+,\.:;\-<=·>?@\[\\\]\^_ـ`{\|}~—٪’،؟`୍“؛”ۚ»؛\s+«–…‘]"
_HINDI_TO_ARABIC = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
_SLASH_TO_DASH = str.maketrans("/", "-")

_ABSORB = "absorb"
_ARABERT_V02: list[tuple[str, object, Replacement]] = [
    # (what, pattern, replacement); a pattern of None means str.translate with the table given,
    # a replacement of _ABSORB deletes the matches into the character before them
    ("html entities", html._charref, lambda m: html._replace_charref(m)),  # what html.unescape does
    ("tashkeel", f"[{_TASHKEEL}]", _ABSORB),
    ("tatweel", _TATWEEL, _ABSORB),
    *[("url", r, " [رابط] ") for r in _URL_REGEXES],
    *[("email", r, " [بريد] ") for r in _EMAIL_REGEXES],
    ("mention", _MENTION_REGEX, " [مستخدم] "),
    ("html line break", "<br />", " "),
    ("html markup", "</?[^>]+>", " "),
    ("eastern arabic digits", None, _HINDI_TO_ARABIC),
    ("repeated characters", _REPEATED_NON_DIGIT, lambda m: m.group(1) * 2),
    ("space around symbols", _NOT_WORD_CHAR, r" \1 "),
    ("digits glued to letters", _DIGITS_THEN_LETTERS, r" \1 \2 "),
    ("letters glued to digits", _LETTERS_THEN_DIGITS, r" \1 \2 "),
    ("slash", None, _SLASH_TO_DASH),
    ("rejected characters", _REJECTED_CHARS, " "),
    ("variation selector", "\uFE0F", _ABSORB),
    ("outer white space", r"^\s+|\s+$", ""),
    ("inner white space", r"\s+", " "),
]


def normalize(raw: str, scheme: str) -> AlignedText:
    """Normalize `raw` with `scheme` ("arabert_v02" or "none"), keeping the raw offsets."""
    aligned = AlignedText.identity(raw)
    if scheme == "none":
        return aligned
    if scheme != "arabert_v02":
        raise ValueError(f"unknown normalization {scheme!r}")
    for _, pattern, repl in _ARABERT_V02:
        if pattern is None:
            aligned = aligned.translate(repl)
        elif repl is _ABSORB:
            aligned = aligned.absorb(pattern)
        else:
            aligned = aligned.sub(pattern, repl)
    return aligned
