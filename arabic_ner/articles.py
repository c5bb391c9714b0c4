"""Reading articles to tag, lazily: .txt files, folders of them, .jsonl, .parquet and .arrow files,
and stdin. A corpus of millions of records never sits in memory whole: `Articles` reads them one
at a time, as often as asked (a first pass plans the chunks, the second tags them: tagging.py).

A record or input that cannot be tagged (not UTF-8, not JSON, no text field) is skipped and said,
never the end of the run: the millionth record of an archive should not cost the 999,999 before it.
"""
from __future__ import annotations

import math
import os
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from arabic_ner.corpus import check_id
from arabic_ner.errors import UserError
from arabic_ner.messages import first_line, plural, shorten
from arabic_ner.sentences import split_sentences
from arabic_ner.stories import KeptOut
from arabic_ner.textfiles import (CorpusError, NotText, check_json, decode_text, is_utf16, numbered_lines, parse_json,
                                  read_text, unicode_problem)

TABLES = {".parquet": "parquet", ".arrow": "arrow"}  # read through datasets' streaming builders
SHOWN_SKIPS = 20  # skips said one by one; more are counted (a million bad records would flood stderr)


@dataclass
class Article:
    """One text to tag, as read."""

    id: str | int | float  # the file's path, `stdin`, or the record's id (`FILE:LINE` without one)
    text: str  # exactly as read: entity offsets point into it
    fields: dict = field(default_factory=dict)  # a record's other fields, written back out

    def output(self, entities: list[dict]) -> dict:
        """The output record: the record's fields as given, `id`, and the entities."""
        return {**self.fields, "id": self.id, "entities": entities}

    def sentences(self) -> Iterator[tuple[int, int, dict]]:
        """Each sentence's `(start, end)` in the text and its corpus record without entities,
        `{"id": "<article>-s<k>", "article", "text"}`: the one naming of an article's sentences
        for the data made from unlabelled articles (silver data, sentences to annotate)."""
        for k, (start, end) in enumerate(split_sentences(self.text), 1):
            yield start, end, {"id": f"{self.id}-s{k}", "article": str(self.id), "text": self.text[start:end]}


class Skips:
    """Inputs and records not tagged, each with why: all counted, the first SHOWN_SKIPS kept and, if
    `say` is given, said as they are met."""

    def __init__(self, say: Callable[[str], None] | None = None):
        self.count, self.shown, self.say = 0, [], say

    def add(self, where: str, reason: str) -> None:
        self.count += 1
        if len(self.shown) < SHOWN_SKIPS:
            self.shown.append((where, reason))
            if self.say:
                self.say(f"skipped {where}: {reason}")
        elif self.count == SHOWN_SKIPS + 1 and self.say:
            self.say(f"skipping more: {SHOWN_SKIPS} shown, the rest are counted")

    def summary(self) -> str:
        first = f"{self.shown[0][0]}: {self.shown[0][1]}" if self.shown else "no inputs"
        return first + (f" ({plural(self.count - 1, 'more skip')} too)" if self.count > 1 else "")


class Articles:
    """The articles of `inputs` in input order, read lazily each time they are iterated (stdin,
    one article, is read once and kept)."""

    def __init__(self, inputs: list[str], text_field: str = "text", text_option: str | None = "--text-field"):
        """`text_option`: the command's option that names another text field, if it has one."""
        self.inputs, self.text_field, self.text_option = inputs, text_field, text_option
        self.files = {item: input_files(item) for item in inputs}  # missing inputs fail here, first
        self._stdin: bytes | None = None

    def read(self, skips: Skips) -> Iterator[Article]:
        """Each article in turn; what cannot be tagged goes to `skips`."""
        for item in self.inputs:
            if item == "-":
                if self._stdin is None:
                    self._stdin = sys.stdin.buffer.read()
                text = _decode(self._stdin, "stdin", skips)
                if text is not None:
                    yield Article("stdin", text)
                continue
            for file in self.files[item]:
                if file.suffix == ".jsonl":
                    yield from self._jsonl(file, skips)
                elif file.suffix in TABLES:
                    yield from self._table(file, skips)
                else:
                    text = _decode(_read_bytes(file), str(file), skips)
                    if text is not None:
                        yield Article(str(file), text)

    def stdin_digest(self) -> str:
        """The SHA-256 of stdin as read (a resumed run must be given the same)."""
        import hashlib

        return hashlib.sha256(self._stdin or b"").hexdigest()

    def _jsonl(self, path: Path, skips: Skips) -> Iterator[Article]:
        try:
            with path.open("rb") as file:
                head = file.read(4096)
        except OSError as exc:
            raise UserError(f"{path}: cannot read ({exc.strerror})") from None
        if is_utf16(head):  # said once for the file, not on each line
            skips.add(str(path), "UTF-16 text; convert it to UTF-8")
            return
        records = 0
        # newline="": lines end at LF, CRLF and CR only, as numbered_lines splits them (never at
        # U+2028, which JSON leaves raw inside strings); bytes that are not UTF-8 become lone
        # surrogates, found on their line
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                records += 1
                where = f"{path}:{number}"
                article = _or_skip(skips, self._record, line, where, f"{path.name}:{number}")
                if article:
                    yield article
        if not records:
            skips.add(str(path), "no records")

    def _record(self, line: str, where: str, default_id: str) -> Article:
        if unicode_problem(line):
            raise CorpusError(f"{where}: not UTF-8 text")
        return self._article(parse_json(line, where), where, default_id, check_json)

    def _article(self, record: object, where: str, default_id: str,
                 check: Callable[[object, str], None] | None = None) -> Article:
        """The article of one record; `check`: of the fields a JSON record carries to the output."""
        if not isinstance(record, dict) or not isinstance(record.get(self.text_field), str):
            value = record.get(self.text_field) if isinstance(record, dict) else None
            hint = f" (set {self.text_option})" if self.text_option else ""
            if value is not None:  # "no string field" sent users looking for a field that is there
                kind = "true or false" if isinstance(value, bool) else {int: "a number", float: "a number", list: "a list",
                                                                        dict: "an object"}.get(type(value), "no text")
                raise CorpusError(f"{where}: field {shorten(self.text_field)} holds {kind}, not text{hint}")
            raise CorpusError(f"{where}: no string field {shorten(self.text_field)}{hint}")
        if check:
            check(record, where)
        # The id is only echoed: a float or a null, as pandas writes ids of a column with gaps, is
        # kept or replaced by the record's place; a list or object is no id.
        article_id = record.get("id")
        if article_id is None or isinstance(article_id, float) and not math.isfinite(article_id):
            article_id = default_id
        elif not isinstance(article_id, float):
            check_id(article_id, where)
        text = record.pop(self.text_field)
        return Article(article_id, text, record)

    def _table(self, path: Path, skips: Skips) -> Iterator[Article]:
        # datasets' streaming builders read the file a record batch at a time (Dataset.from_parquet
        # would first copy all of it into the cache folder); offline, local files need no hub
        import datasets

        datasets.disable_progress_bars()
        datasets.logging.set_verbosity(datasets.logging.CRITICAL)  # a bad file's error is said once, below
        number = 0
        try:
            rows = iter(datasets.load_dataset(TABLES[path.suffix], data_files=str(path), split="train", streaming=True))
            for number, record in enumerate(rows, start=1):
                where = f"{path}:row {number}"
                article = _or_skip(skips, self._article, _json_null(record), where, f"{path.name}:row {number}")
                if article:
                    yield article
        except Exception as exc:  # pyarrow's and datasets' errors share no base class; any is a bad file here
            after = f" after row {number}" if number else ""
            skips.add(str(path), f"not a readable {TABLES[path.suffix]} file{after} ({first_line(exc)[:200]})")
            return
        if not number:
            skips.add(str(path), "no records")


def _json_null(value):
    """`value` with every NaN and infinity (a table's missing values, as pandas writes them) made None,
    so that the output is JSON: JSON has no NaN, and JSONL input refuses it (`parse_json`)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_null(v) for v in value]
    return value


def input_files(item: str) -> list[Path]:
    """The files an input names: itself, or a folder's .txt files (recursively); `-` names none."""
    if item == "-":
        return []
    path = Path(item)
    if path.is_dir():
        found = sorted(path.rglob("*.txt"))
        # skipping a broken link would lose an article without a word; a hidden one is an editor's
        # mark of a file open (Emacs's .#a.txt), no article
        broken = next((p for p in found if p.is_symlink() and not p.exists() and not p.name.startswith(".")), None)
        if broken:
            raise UserError(f"{broken}: a link to {os.readlink(broken)}, which leads to no file")
        files = [p for p in found if p.is_file()]
        if not files:
            raise UserError(f"{path}: no .txt files")
        return files
    if path.is_file():
        return [path]
    raise UserError(f"{path}: no such file or folder")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def _or_skip(skips: Skips, read: Callable[..., Article], line_or_record, where: str, default_id: str) -> Article | None:
    """`read(line_or_record, where, default_id)`, or None with the CorpusError it raised said as a
    skip of `where`."""
    try:
        return read(line_or_record, where, default_id)
    except CorpusError as exc:
        skips.add(where, str(exc).removeprefix(f"{where}: "))
        return None


def _decode(data: bytes, name: str, skips: Skips) -> str | None:
    try:
        return decode_text(data, name)
    except NotText as exc:
        skips.add(name, exc.reason)
        return None


def read_kept_out(paths: Iterable[str | Path], articles: dict[str, str] | None = None) -> KeptOut:
    """The articles to keep out, from `.txt` files of article ids (one a line, as
    reserved_for_evaluation.txt; `#` starts a comment) and JSONL corpora whose records name their
    `article` (annotated data: its sentences are kept out along with their article). `articles`,
    id -> text, supplies the whole text of an article named by id, where known (the articles about
    to be used)."""
    ids, texts = set(), defaultdict(list)
    for path in map(Path, paths):
        kind = path.suffix.lower()
        if kind not in (".jsonl", ".txt"):  # read as ids, a corpus in another format would keep nothing out, silently
            raise UserError(f"{path}: to keep out, give a .txt of article ids (one a line) or annotated .jsonl "
                            f"records naming their `article`")
        try:
            lines = numbered_lines(read_text(path))  # as every corpus is read: no BOM kept in the first id
        except CorpusError as exc:
            raise UserError(f"{exc} (the articles to keep out)") from None
        for n, line in lines:
            if kind == ".txt":
                line = line.split("#", 1)[0]  # `snn-0014  # reserved` names snn-0014
            if not line.strip():
                continue
            if kind == ".txt":
                ids.add(line.strip())
                continue
            record = parse_json(line, f"{path}:{n}")
            if not (isinstance(record, dict) and record.get("article") is not None
                    and isinstance(record.get("text"), str)):
                raise UserError(f"{path}:{n}: a record to keep out needs `article` and `text` (a string)")
            ids.add(str(record["article"]))
            texts[str(record["article"])].append(record["text"])
    known = [articles[i] for i in sorted(ids) if articles and i in articles]
    unknown = [i for i in ids if not (articles and i in articles) and i not in texts]
    return KeptOut(ids, known + [" ".join(t) for t in texts.values()], unknown)


def unknown_kept_out(kept: KeptOut, option: str) -> str | None:
    """A warning when articles named to keep out are not among the inputs (ids as another input names
    them, `.txt` files named by path): an article retelling one cannot be found, and it may pass."""
    if not kept.unknown:
        return None
    return (f"warning: {option}: article ids to keep out that match no article read: {len(kept.unknown):,} (first: "
            f"{shorten(kept.unknown[0])}); articles retelling them cannot be found: give those articles among the "
            f"inputs too (they are never used), under the ids they carry")
