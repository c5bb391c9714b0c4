"""Reading articles to tag: .txt files, folders of them, .jsonl files and stdin."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from arabic_ner.corpus import numbered_lines, unicode_problem
from arabic_ner.errors import UserError


def read_articles(inputs: list[str], text_field: str = "text") -> tuple[list[dict], list[tuple[str, str]]]:
    """Articles as dicts with `id` (and any other .jsonl fields) and the raw text under `_text`,
    in input order; and the `(name, reason)` of each input skipped because it is not UTF-8 text."""
    articles: list[dict] = []
    skipped: list[tuple[str, str]] = []
    for item in inputs:
        if item == "-":
            text = _decode(sys.stdin.buffer.read(), "stdin", skipped)
            if text is not None:
                articles.append({"id": "stdin", "_text": text})
            continue
        for file in input_files(item):
            text = _read_text(file, skipped)
            if text is None:
                continue
            if file.suffix == ".jsonl":
                articles += _jsonl_articles(file, text, text_field)
            else:
                articles.append({"id": str(file), "_text": text})
    return articles, skipped


def input_files(item: str) -> list[Path]:
    """The files an input names: itself, or a folder's .txt files (recursively); `-` names none."""
    if item == "-":
        return []
    path = Path(item)
    if path.is_dir():
        return sorted(p for p in path.rglob("*.txt") if p.is_file())
    if path.is_file():
        return [path]
    raise UserError(f"{path}: no such file or folder")


def _read_text(path: Path, skipped: list) -> str | None:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    return _decode(data, str(path), skipped)


def _decode(data: bytes, name: str, skipped: list) -> str | None:
    if b"\x00" in data:
        skipped.append((name, "binary file"))
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        skipped.append((name, "not UTF-8 text"))
        return None


def _jsonl_articles(path: Path, content: str, text_field: str) -> list[dict]:
    articles = []
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get(text_field), str):
            raise UserError(f"{path}:{number}: no string field {text_field!r} (set --text-field)")
        text = record.pop(text_field)
        problem = unicode_problem(text)
        if problem:
            raise UserError(f"{path}:{number}: field {text_field!r} {problem}")
        record.setdefault("id", f"{path.name}:{number}")
        articles.append({**record, "_text": text})
    return articles
