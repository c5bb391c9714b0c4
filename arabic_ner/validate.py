"""Check annotated corpus files: `python -m arabic_ner validate FILE.jsonl... [--types A,B,C]`.

Errors (exit status 1): broken JSON or fields, offsets out of range, overlapping spans, labels
outside the tag set, a span that starts or ends in white space, an invisible character (a direction
mark, a zero-width joiner) or punctuation, duplicate ids,
the same text in two files (a leak between splits), an empty text. Warnings: a span that starts
with a clitic the spec keeps outside (`لداعش`, `والحشد` tagged whole); a span that cuts a word
other than after such a clitic (training and evaluation read whole words, so `عش` of `داعش`
counts as `داعش`). Prints entity counts per label and file.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from arabic_ner.clitics import Proclitics, may_be_proclitics
from arabic_ner.corpus import check_record, corpus_format, record_place
from arabic_ner.errors import moved_command
from arabic_ner.messages import shorten
from arabic_ner.textfiles import CorpusError, numbered_lines, parse_json, read_text
from arabic_ner.words import is_punct, outside_words, word_spans


@dataclass
class Problem:
    message: str  # starts with the place: file:line (id ...)
    error: bool = True

    def __str__(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.message}"


def validate_files(paths: list[Path], entity_types: list[str]) -> tuple[list[Problem], dict[str, Counter]]:
    """All problems found in `paths`, and entity counts per label for each file."""
    problems: list[Problem] = []
    counts: dict[str, Counter] = {}
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    loaded: list[tuple[str, dict]] = []
    for path in paths:
        counts[str(path)] = Counter()
        if corpus_format(path) != "jsonl":
            # read line by line as JSON, each of its lines was an error that said nothing of the file
            problems.append(Problem(_not_jsonl(path)))
            continue
        before = len(problems)
        read = 0
        for where, record in _records(path, problems):
            read += 1
            # the id before the rest: a duplicate is reported with the record's other errors, not
            # only once they are mended
            if isinstance(record, dict) and "id" in record:
                rid, place = str(record["id"]), record_place(where, record)
                if rid in seen_ids:
                    problems.append(Problem(f"{place}: duplicate id, first at {seen_ids[rid]}"))
                else:
                    seen_ids[rid] = place
            try:
                check_record(record, where, set(entity_types))
            except CorpusError as exc:
                problems.append(Problem(str(exc)))
                continue
            if "id" not in record:
                problems.append(Problem(f"{where}: missing 'id'"))
            where = record_place(where, record)
            if not record["text"].strip():
                problems.append(Problem(f"{where}: empty text"))
                continue
            text_key = record["text"].strip()
            first = seen_texts.get(text_key)
            if first is not None and not first.startswith(f"{path}:"):
                problems.append(Problem(f"{where}: same text as {first} (a sentence in two splits)"))
            seen_texts.setdefault(text_key, where)
            problems += _span_problems(record, where)
            counts[str(path)].update(e["label"] for e in record["entities"])
            loaded.append((where, record))
        if not read and len(problems) == before:  # an empty file; unreadable ones said why already
            problems.append(Problem(f"{path}: no records"))
    problems += _clitic_warnings(loaded)
    return problems, counts


def _not_jsonl(path: Path) -> str:
    """What to do with a corpus file that training reads but this check does not."""
    if corpus_format(path) == "parquet":
        return f"{path}: validate checks JSONL; a Parquet file is checked as training reads it, record by record"
    return (f"{path}: validate checks JSONL; `python -m arabic_ner convert from-conll {path} OUT.jsonl` checks "
            f"this CoNLL file line by line (tags, stray I-) and writes the JSONL to validate")


def _records(path: Path, problems: list[Problem]):
    try:
        content = read_text(path)
    except CorpusError as exc:
        problems.append(Problem(str(exc)))
        return
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        try:
            yield f"{path}:{number}", parse_json(line, f"{path}:{number}")
        except CorpusError as exc:
            problems.append(Problem(str(exc)))


def _span_problems(record: dict, where: str) -> list[Problem]:
    problems = []
    text = record["text"]
    words = word_spans(text)
    for e in record["entities"]:
        surface = text[e["start"]:e["end"]]
        for start, end in words:
            cut_start = start < e["start"] < end and not may_be_proclitics(text[start:e["start"]])
            if cut_start or start < e["end"] < end:
                problems.append(Problem(f"{where}: span [{e['start']}, {e['end']}) {e['label']} {shorten(surface)} "
                                        f"cuts the word {shorten(text[start:end])}, which training and evaluation "
                                        f"read whole",
                                        error=False))
        for side, char in (("starts", surface[0]), ("ends", surface[-1])):
            if char.isspace():
                what = "white space"
            elif outside_words(char):
                what = f"the invisible character U+{ord(char):04X}"
            elif is_punct(char):
                what = "punctuation"
            else:
                continue
            problems.append(Problem(f"{where}: span [{e['start']}, {e['end']}) {e['label']} {side} with "
                                    f"{what}: {shorten(surface)}"))
    return problems


def _clitic_warnings(loaded: list[tuple[str, dict]]) -> list[Problem]:
    # A span that prediction's own rules would cut (clitics.py) most likely took a clitic in: the
    # words that begin spans elsewhere in the corpus are the known stems (`لداعش` where `داعش` is tagged).
    first_words = {r["text"][e["start"]:e["end"]].split()[0] for _, r in loaded for e in r["entities"]
                   if r["text"][e["start"]:e["end"]].strip()}
    rules = Proclitics(first_words)
    warnings = []
    for where, record in loaded:
        for e in record["entities"]:
            text = record["text"]
            if not text[e["start"]:e["end"]].strip():  # white space only: an error already
                continue
            cut = rules.start(text, e["start"], e["end"])
            if cut > e["start"]:
                warnings.append(Problem(f"{where}: span {shorten(text[e['start']:e['end']].split()[0])} ({e['label']}) "
                                        f"starts with the clitic {text[e['start']:cut]!r}, which the spec keeps "
                                        f"outside", error=False))
    return warnings


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("validate")
