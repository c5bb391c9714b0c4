"""Reading articles to tag: .txt files, folders of them, .jsonl files and stdin."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from arabic_ner.corpus import check_id
from arabic_ner.errors import UserError
from arabic_ner.messages import plural, shorten
from arabic_ner.textfiles import NotText, check_json, decode_text, numbered_lines, parse_json


@dataclass
class Article:
    """One text to tag, as read."""

    id: str | int | float  # the file's path, `stdin`, or the .jsonl record's id (`FILE:LINE` without one)
    text: str  # exactly as read: entity offsets point into it
    fields: dict = field(default_factory=dict)  # a .jsonl record's other fields, written back out

    def output(self, entities: list[dict]) -> dict:
        """The output line: the record's fields as given, `id`, and the entities."""
        return {**self.fields, "id": self.id, "entities": entities}


def read_articles(inputs: list[str], text_field: str = "text") -> tuple[list[Article], list[tuple[str, str]]]:
    """The articles of `inputs`, in input order; and the `(name, reason)` of each input skipped
    because it is not UTF-8 text. Nothing to tag at all (every input skipped) is an error."""
    articles: list[Article] = []
    skipped: list[tuple[str, str]] = []
    for item in inputs:
        if item == "-":
            text = _decode(sys.stdin.buffer.read(), "stdin", skipped)
            if text is not None:
                articles.append(Article("stdin", text))
            continue
        for file in input_files(item):
            text = _read_text(file, skipped)
            if text is None:
                continue
            if file.suffix == ".jsonl":
                articles += _jsonl_articles(file, text, text_field)
            else:
                articles.append(Article(str(file), text))
    if not articles:  # every input skipped: an empty .jsonl or folder has failed already
        first = f"{skipped[0][0]}: {skipped[0][1]}" if skipped else "no inputs"
        more = f" ({plural(len(skipped) - 1, 'more input')} skipped too)" if len(skipped) > 1 else ""
        raise UserError(f"nothing to tag: {first}{more}")
    return articles, skipped


def input_files(item: str) -> list[Path]:
    """The files an input names: itself, or a folder's .txt files (recursively); `-` names none."""
    if item == "-":
        return []
    path = Path(item)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise UserError(f"{path}: no .txt files")
        return files
    if path.is_file():
        return [path]
    raise UserError(f"{path}: no such file or folder")


def _read_text(path: Path, skipped: list) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    # In JSONL a NUL is refused by JSON, on its line; elsewhere it means a binary file.
    return _decode(data, str(path), skipped, nul_is_binary=path.suffix != ".jsonl")


def _decode(data: bytes, name: str, skipped: list, nul_is_binary: bool = True) -> str | None:
    try:
        return decode_text(data, name, nul_is_binary)
    except NotText as exc:
        skipped.append((name, exc.reason))
        return None


def _jsonl_articles(path: Path, content: str, text_field: str) -> list[Article]:
    articles = []
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        record = parse_json(line, where)
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise UserError(f"{where}: no string field {shorten(text_field)} (set --text-field)")
        check_json(record, where)  # the other fields are written back out
        # The id is only echoed: a float or a null, as pandas writes ids of a column with gaps, is
        # kept or replaced by the line's place; a list or object is no id.
        article_id = record.get("id")
        if article_id is None:
            article_id = f"{path.name}:{number}"
        elif not isinstance(article_id, float):
            check_id(article_id, where)
        text = record.pop(text_field)
        articles.append(Article(article_id, text, record))
    if not articles:
        raise UserError(f"{path}: no records")
    return articles
