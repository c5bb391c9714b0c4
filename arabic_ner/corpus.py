"""The corpus format: one JSON object per line, `{"id", "text", "entities": [{start, end, label}]}`.

Offsets are `[start, end)` Python character offsets into `text`. Reading checks every record and
names the file and line of the first problem.
"""
from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator

from arabic_ner.errors import UserError, plural, shorten
from arabic_ner.files import write_atomic


class CorpusError(UserError):
    pass


class NotText(CorpusError):
    """Bytes that are not UTF-8 text; `reason` says why, for a reader that skips such a file."""

    def __init__(self, name: str, reason: str, line: int | None = None):
        super().__init__(f"{name}{'' if line is None else f':{line}'}: {reason}")
        self.reason = reason


MAX_DEPTH = 64  # JSON nesting read; far above any export's, far below what json.dumps and repr can recurse


CONLL_SUFFIXES = (".tsv", ".conll", ".bio")


def read_corpus(path: str | Path, entity_types: Iterable[str] | None = None,
                warn: Callable[[str], None] | None = None) -> list[dict]:
    """A corpus file: JSONL, or CoNLL (`token<TAB>tag`, ANERcorp's format) by its suffix.

    CoNLL tokens are joined by single spaces into each record's text; a stray `I-X` there
    starts an entity, as conlleval reads it, and `warn` (default: print to stderr) says so.
    """
    path = Path(path)
    if path.suffix not in CONLL_SUFFIXES:
        return read_jsonl(path, entity_types)
    from arabic_ner.convert import from_conll  # convert builds on this module

    repaired: list[str] = []
    records = from_conll(read_text(path), str(path), repaired)
    if repaired:  # accepted, as conlleval accepts them, but not silently: they may be annotation slips
        (warn or _to_stderr)(f"warning: {path}: {plural(len(repaired), 'stray I- tag')} read as starting an "
                             f"entity (first: {repaired[0]}); `python -m arabic_ner.convert from-conll {path} "
                             f"OUT.jsonl` lists them all")
    allowed = set(entity_types) if entity_types is not None else None
    for n, record in enumerate(records, start=1):
        check_record(record, f"{path}: sentence {n}", allowed)
    if not records:
        raise CorpusError(f"{path}: no records")
    return records


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


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
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(data):
        raise NotText(name, "UTF-16 text; convert it to UTF-8")
    if nul_is_binary and b"\x00" in data:
        raise NotText(name, "binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotText(name, "not UTF-8 text", data[: exc.start].count(b"\n") + 1) from None


def _looks_utf16(data: bytes) -> bool:
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
    over 4,300 digits."""
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
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


def check_id(value: object, where: str, field: str = "id") -> None:
    """Ids are listed (folds.json), compared and printed: a string or a whole number, not a bool."""
    if not (isinstance(value, str) or type(value) is int):
        raise CorpusError(f"{where}: {field!r} is a string or a whole number, got {shorten(value)}")


def record_place(where: str, record: dict) -> str:
    """`where (id ID)`: the id as written, unless too long or too odd to print bare."""
    if "id" not in record:
        return where
    rid = str(record["id"])
    return f"{where} (id {rid if len(rid) <= 80 and rid.isprintable() else shorten(record['id'])})"


def read_jsonl(path: str | Path, entity_types: Iterable[str] | None = None, unique_ids: bool = False) -> list[dict]:
    """Read and check a corpus file; with `entity_types`, a label outside the tag set is an error;
    with `unique_ids`, so are two records with one id (`1` and `"1"` count as one, as printed)."""
    path = Path(path)
    allowed = set(entity_types) if entity_types is not None else None
    content = read_text(path)
    records = []
    line_of: dict[str, int] = {}
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json(line, where)
        check_record(record, where, allowed)
        record.setdefault("id", f"{path.stem}-{number}")
        if unique_ids:
            first = line_of.setdefault(str(record["id"]), number)
            if first != number:
                raise CorpusError(f"{where}: duplicate id {shorten(record['id'])}, first at line {first}")
        records.append(record)
    if not records:
        raise CorpusError(f"{path}: no records")
    return records


def check_record(record: object, where: str, allowed: set[str] | None = None) -> None:
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: a record is a JSON object with 'text' and 'entities'")
    check_json(record, where)
    if "id" in record:
        check_id(record["id"], where)
    where = record_place(where, record)
    text = record.get("text")
    if not isinstance(text, str):
        raise CorpusError(f"{where}: missing or non-string 'text'")
    entities = record.get("entities", None)
    if not isinstance(entities, list):
        raise CorpusError(f"{where}: missing 'entities' (a list, empty when the text has none)")
    previous_end, previous = 0, None
    for entity in sorted(entities, key=_start_of):
        if not isinstance(entity, dict) or not {"start", "end", "label"} <= entity.keys():
            raise CorpusError(f"{where}: an entity needs 'start', 'end' and 'label', got {shorten(entity)}")
        start, end, label = entity["start"], entity["end"], entity["label"]
        if not (type(start) is int and type(end) is int):  # bool is an int subclass, and no offset
            raise CorpusError(f"{where}: entity offsets are whole numbers, got start {shorten(start)}, "
                              f"end {shorten(end)}")
        if not start < end:
            raise CorpusError(f"{where}: entity [{shorten(start)}, {shorten(end)}) is empty or reversed "
                              f"(end must exceed start)")
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"{where}: entity offsets [{shorten(start)}, {shorten(end)}) outside the text "
                              f"(length {len(text)})")
        if not isinstance(label, str) or not label:
            raise CorpusError(f"{where}: an entity's label is a name, got {shorten(label)}")
        if allowed is not None and label not in allowed:
            raise CorpusError(f"{where}: label {shorten(label)} is not in the tag set ({', '.join(sorted(allowed))})")
        if previous is not None and start < previous_end:
            raise CorpusError(f"{where}: entities [{previous['start']}, {previous['end']}) and [{start}, {end}) overlap")
        previous_end, previous = end, entity


def unicode_problem(text: str) -> str | None:
    """Why `text` is not valid Unicode, or None. JSON's `\\ud800` escapes decode to lone surrogates,
    which no tokenizer accepts."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        code = ord(text[exc.start])
        return f"holds a lone surrogate (U+{code:04X}) at character {exc.start}, which is not valid Unicode"
    return None


def _start_of(entity: object) -> int:
    start = entity.get("start") if isinstance(entity, dict) else None
    return start if isinstance(start, int) else -1


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Write records atomically: a reader never sees a half-written file."""
    write_atomic(path, jsonl_text(records))


def jsonl_text(records: Iterable[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
