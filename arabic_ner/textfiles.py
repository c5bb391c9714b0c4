"""Reading input files as text: UTF-8 or a one-line reason why not, lines numbered as JSONL and
CoNLL count them, and JSON values checked before any other code sees them. Shared by every reader
(corpus, CoNLL, Label Studio, doccano, predict's articles), so that each says the same thing about
the same bad bytes.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

from arabic_ner.errors import UserError
from arabic_ner.messages import shorten


class CorpusError(UserError):
    pass


class NotText(CorpusError):
    """Bytes that are not UTF-8 text; `reason` says why, for a reader that skips such a file."""

    def __init__(self, name: str, reason: str, line: int | None = None):
        super().__init__(f"{name}{'' if line is None else f':{line}'}: {reason}")
        self.reason = reason


MAX_DEPTH = 64  # JSON nesting read; far above any export's, far below what json.dumps and repr can recurse


def numbered_lines(content: str) -> Iterator[tuple[int, str]]:
    """`(line number, line)` of a JSONL or CoNLL file, split at LF, CRLF and CR only: `str.splitlines`
    also splits at U+2028, U+2029 and U+0085, which `json.dumps(..., ensure_ascii=False)` leaves
    unescaped inside strings, and so cut valid records in two. (A raw CR is never inside a JSON string.)"""
    yield from enumerate(re.split(r"\r\n|\r|\n", content), start=1)


def read_text(path: Path) -> str:
    """A corpus file as text; a missing file or bytes that are not UTF-8 are a CorpusError naming the line."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such file") from None
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror})") from None
    # A NUL is no reason to refuse the whole file: JSON refuses it on its line, which is then named.
    return decode_text(raw, str(path), nul_is_binary=False)


def decode_text(data: bytes, name: str, nul_is_binary: bool = True) -> str:
    """`data` as UTF-8 text, without the byte-order mark some editors write first; else a NotText
    saying why: UTF-16 (what Windows tools call "Unicode"), binary, or the line that is not UTF-8."""
    if is_utf16(data):
        raise NotText(name, "UTF-16 text; convert it to UTF-8")
    if nul_is_binary and b"\x00" in data:
        raise NotText(name, "binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(name, "not UTF-8 text", data[: exc.start].count(b"\n") + 1) from None


def is_utf16(data: bytes) -> bool:
    """Whether `data` (a file, or its first 4,096 bytes) is UTF-16, with or without a byte-order mark."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return True
    # UTF-16 without a byte-order mark: each space, newline, digit or Latin letter puts a NUL on the
    # same side of its two bytes (even Arabic has a space every few words); a binary file has NULs
    # on both sides, and a stray NUL or two in a text file is no pattern.
    head = data[:4096]
    even, odd = head[0::2].count(0), head[1::2].count(0)
    return len(data) % 2 == 0 and min(even, odd) == 0 and max(even, odd) >= max(8, len(head) / 16)


def parse_json(text: str, where: str, numbered: bool = False) -> object:
    """One JSON value, or a CorpusError naming `where` (and, if `numbered`, the line within `text`).
    Python's json also reads NaN, Infinity and 1e999, which are not JSON and which writers would
    echo back, and fails otherwise than with JSONDecodeError on over-deep nesting and on integers of
    over 4,300 digits; and it keeps the last of a key given twice, which hides a slip (`"text"` twice)
    that YAML configs refuse."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        where, why = (f"{where}:{exc.lineno}" if numbered else where), exc.msg
    except _NotJson as exc:
        why = str(exc)
    except RecursionError:
        why = "nested too deeply"
    except ValueError:  # int() refuses to read a number of over 4,300 digits
        why = "a number of over 4,300 digits"
    raise CorpusError(f"{where}: not valid JSON ({why})")


class _NotJson(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise _NotJson(f"the key {shorten(key)} appears twice in one object")
        found[key] = value
    return found


def _no_constant(name: str) -> float:
    raise _NotJson(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise _NotJson(f"{shorten(literal)} is not a finite number")
    return value


def check_json(value: object, where: str) -> None:
    """A parsed JSON value holds only valid Unicode strings, keys included (JSON's `\\ud800` escapes
    decode to lone surrogates, which no tokenizer reads and no UTF-8 writer writes), and is nested
    at most MAX_DEPTH deep (so that writing or quoting it cannot exhaust the stack)."""
    stack: list[tuple[tuple, object]] = [((), value)]
    while stack:
        path, item = stack.pop()
        if len(path) > MAX_DEPTH:
            raise CorpusError(f"{where}: nested over {MAX_DEPTH} levels deep")
        if isinstance(item, str):
            problem = unicode_problem(item)
            if problem:
                raise CorpusError(f"{where}: field {_field(path)} {problem}")
        elif isinstance(item, dict):
            for key in item:
                problem = unicode_problem(key)
                if problem:
                    raise CorpusError(f"{where}: key {shorten(key)}{f' in {_field(path)}' if path else ''} {problem}")
            stack += reversed([((*path, key), child) for key, child in item.items()])
        elif isinstance(item, list):
            stack += reversed([((*path, i), child) for i, child in enumerate(item)])


def _field(path: tuple) -> str:
    """`'entities'[0]['label']`: where a value sits in a record."""
    return shorten(path[0]) + "".join(f"[{shorten(key)}]" for key in path[1:]) if path else "value"


def unicode_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode, or None. JSON's `\\ud800` escapes decode to lone surrogates,
    which no tokenizer accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"holds a lone surrogate (U+{code:04X}) at character {exc.start}, which is not valid Unicode"
    return None
