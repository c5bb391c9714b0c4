"""The corpus format: one JSON object per line, `{"id", "text", "entities": [{start, end, label}]}`.

Offsets are `[start, end)` Python character offsets into `text`. Reading checks every record and
names the file and line of the first problem.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator

from arabic_ner.errors import UserError, plural
from arabic_ner.files import write_atomic


class CorpusError(UserError):
    pass


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
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CorpusError(f"{path}:{line}: not UTF-8 text") from None


def read_jsonl(path: str | Path, entity_types: Iterable[str] | None = None) -> list[dict]:
    """Read and check a corpus file; with `entity_types`, a label outside the tag set is an error."""
    path = Path(path)
    allowed = set(entity_types) if entity_types is not None else None
    content = read_text(path)
    records = []
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from None
        check_record(record, where, allowed)
        record.setdefault("id", f"{path.stem}-{number}")
        records.append(record)
    if not records:
        raise CorpusError(f"{path}: no records")
    return records


def check_record(record: object, where: str, allowed: set[str] | None = None) -> None:
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: a record is a JSON object with 'text' and 'entities'")
    where = f"{where} (id {record['id']})" if "id" in record else where
    text = record.get("text")
    if not isinstance(text, str):
        raise CorpusError(f"{where}: missing or non-string 'text'")
    problem = unicode_problem(text)
    if problem:
        raise CorpusError(f"{where}: 'text' {problem}")
    entities = record.get("entities", None)
    if not isinstance(entities, list):
        raise CorpusError(f"{where}: missing 'entities' (a list, empty when the text has none)")
    previous_end, previous = 0, None
    for entity in sorted(entities, key=_start_of):
        if not isinstance(entity, dict) or not {"start", "end", "label"} <= entity.keys():
            raise CorpusError(f"{where}: an entity needs 'start', 'end' and 'label', got {entity!r}")
        start, end, label = entity["start"], entity["end"], entity["label"]
        if not (type(start) is int and type(end) is int):  # bool is an int subclass, and no offset
            raise CorpusError(f"{where}: entity offsets are whole numbers, got start {start!r}, end {end!r}")
        if not start < end:
            raise CorpusError(f"{where}: entity [{start}, {end}) is empty or reversed (end must exceed start)")
        if not 0 <= start < end <= len(text):
            raise CorpusError(f"{where}: entity offsets [{start}, {end}) outside the text (length {len(text)})")
        if not isinstance(label, str) or not label:
            raise CorpusError(f"{where}: an entity's label is a name, got {label!r}")
        if allowed is not None and label not in allowed:
            raise CorpusError(f"{where}: label {label!r} is not in the tag set ({', '.join(sorted(allowed))})")
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
    write_atomic(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
