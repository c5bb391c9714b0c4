"""The corpus format: one JSON object per line, `{"id", "text", "entities": [{start, end, label}]}`.

Offsets are `[start, end)` Python character offsets into `text`. Reading checks every record and
names the file and line of the first problem.
"""
from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from arabic_ner.conll import CONLL_SUFFIXES, from_conll
from arabic_ner.messages import first_line, plural, shorten
from arabic_ner.files import write_atomic
from arabic_ner.textfiles import CorpusError, check_json, numbered_lines, parse_json, read_text


def read_corpus(path: str | Path, entity_types: Iterable[str] | None = None,
                warn: Callable[[str], None] | None = None) -> list[dict]:
    """A corpus file: JSONL, CoNLL (`token<TAB>tag`, ANERcorp's format) or Parquet, by its suffix.

    CoNLL tokens are joined by single spaces into each record's text; a stray `I-X` there
    starts an entity, as conlleval reads it, and `warn` (default: print to stderr) says so.
    """
    path = Path(path)
    kind = corpus_format(path)
    if kind == "parquet":
        return read_parquet(path, entity_types)
    if kind == "jsonl":
        return read_jsonl(path, entity_types)
    repaired: list[str] = []
    allowed = set(entity_types) if entity_types is not None else None
    records = from_conll(read_text(path), str(path), repaired, allowed)
    if repaired:  # accepted, as conlleval accepts them, but not silently: they may be annotation slips
        (warn or _to_stderr)(f"warning: {plural(len(repaired), 'stray I- tag')} read as starting an entity "
                             f"(first: {repaired[0]}); `python -m arabic_ner convert from-conll {path} "
                             f"OUT.jsonl --repair` lists them all")
    for n, record in enumerate(records, start=1):
        check_record(record, f"{path}: sentence {n}", allowed)
    if not records:
        raise CorpusError(f"{path}: no records")
    return records


def corpus_format(path: Path) -> str:
    """How `read_corpus` reads `path`: "parquet", "conll" (`.tsv`, `.conll`, `.bio`) or "jsonl" (any other)."""
    if path.suffix == ".parquet":
        return "parquet"
    return "conll" if path.suffix in CONLL_SUFFIXES else "jsonl"


def read_split(paths: Iterable[str | Path], entity_types: Iterable[str] | None = None,
               warn: Callable[[str], None] | None = None) -> list[dict]:
    """The records of one split (`data.train`, ...) given as several files: each read by `read_corpus`,
    one after another."""
    entity_types = list(entity_types) if entity_types is not None else None
    return [record for path in paths for record in read_corpus(path, entity_types, warn)]


def read_parquet(path: Path, entity_types: Iterable[str] | None = None) -> list[dict]:
    """Records from a Parquet file (columns `text`, `entities` as a list of {start, end, label},
    optional `id`), as `datasets` writes them (`Dataset.to_parquet`) and reads them; each row is
    checked like a JSONL line and named by its row number."""
    import datasets
    from datasets.utils.logging import disable_progress_bar, set_verbosity_error

    set_verbosity_error()
    disable_progress_bar()
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    try:  # datasets caches an Arrow copy of what it reads: in a folder of its own, not the user's home
        with tempfile.TemporaryDirectory() as cache:
            rows = datasets.Dataset.from_parquet(str(path), cache_dir=cache, keep_in_memory=True).to_list()
    except Exception as exc:  # pyarrow's and datasets' errors share no base class; any is a bad file here
        raise CorpusError(f"{path}: not a readable Parquet file ({first_line(exc)})") from None
    allowed = set(entity_types) if entity_types is not None else None
    for n, record in enumerate(rows, start=1):
        if record.get("id") is None:
            record["id"] = f"{path.stem}-{n}"
        check_record(record, f"{path}: row {n}", allowed)
    if not rows:
        raise CorpusError(f"{path}: no records")
    return rows


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


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


def _start_of(entity: object) -> int:
    start = entity.get("start") if isinstance(entity, dict) else None
    return start if isinstance(start, int) else -1


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    """Write records atomically: a reader never sees a half-written file."""
    write_atomic(path, jsonl_text(records))


def jsonl_text(records: Iterable[dict]) -> str:
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
