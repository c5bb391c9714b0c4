"""CoNLL files: `token<TAB>tag` per line in IOB2, a blank line between sentences (ANERcorp's format).

Tokens are the project's words; a file read back gets its tokens joined by one space, a new id
and no other field.
"""
from __future__ import annotations

from pathlib import Path

from arabic_ner.messages import shorten
from arabic_ner.labels import entities_from_tags, repair_iob2, tags_to_ranges, word_tags
from arabic_ner.textfiles import CorpusError, numbered_lines
from arabic_ner.words import word_spans

CONLL_SUFFIXES = (".tsv", ".conll", ".bio")


def to_conll(records: list[dict], merged: list[str] | None = None) -> str:
    """The records in CoNLL. Tags are per word, so entities that share a word (`داعشوالنصرة`, a space
    missing) become one: the ids of such records are appended to `merged` where it is given."""
    blocks = []
    for record in records:
        spans = word_spans(record["text"])
        tags = word_tags(spans, record["entities"])
        if merged is not None and len(tags_to_ranges(tags)) < len(record["entities"]):
            merged.append(str(record["id"]))
        blocks.append("".join(f"{record['text'][s:e]}\t{tag}\n" for (s, e), tag in zip(spans, tags)))
    return "\n".join(blocks)


def from_conll(content: str, name: str, repaired: list[str] | None = None,
               allowed: set[str] | None = None) -> list[dict]:
    """Records of a CoNLL file. A stray `I-X` (one that continues no X entity, as ANERcorp has a
    few) is an error, unless a `repaired` list is given: then it starts an entity and its place
    is appended to the list (`FILE:LINE`). With `allowed` (the tag set), a label outside it is an error naming
    its line."""
    records, tokens, tags, lines = [], [], [], []

    def flush():
        if tokens:
            text, spans = " ".join(tokens), []
            for token in tokens:  # each token's place in the joined text
                start = spans[-1][1] + 1 if spans else 0
                spans.append((start, start + len(token)))
            valid = _valid_iob2(tags, [f"{name}:{number}" for number in lines], repaired)
            entities = [{"start": e["start"], "end": e["end"], "label": e["label"]}
                        for e in entities_from_tags(text, spans, valid)]
            records.append({"id": f"{Path(name).stem}-{len(records) + 1}", "text": text, "entities": entities})
            tokens.clear()
            tags.clear()
            lines.clear()

    for number, line in numbered_lines(content):
        if not line.strip():
            flush()
            continue
        if line.split()[0] == "-DOCSTART-":  # CoNLL-2003's document mark: a break between sentences, no word
            flush()
            continue
        # fields as the file has them, without the white space around them (`بغداد\tB-LOC `, a trailing tab)
        parts = [part.strip() for part in line.split("\t")] if "\t" in line else line.split()
        while len(parts) > 2 and not parts[-1]:
            parts.pop()
        if len(parts) < 2:
            raise CorpusError(f"{name}:{number}: expected 'token<TAB>tag', got {shorten(line)}")
        token, tag = parts[0], parts[-1]
        if not token.strip():  # it would join into no word, or a span of white space
            raise CorpusError(f"{name}:{number}: empty token before the tag {shorten(tag)}")
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise CorpusError(f"{name}:{number}: {shorten(tag)} is not an IOB2 tag (O, B-X, I-X)")
        if allowed is not None and tag != "O" and tag[2:] not in allowed:
            raise CorpusError(f"{name}:{number}: label {shorten(tag[2:])} is not in the tag set "
                              f"({', '.join(sorted(allowed))})")
        tokens.append(token)
        tags.append(tag)
        lines.append(number)
    flush()
    return records


def _valid_iob2(tags: list[str], places: list[str], repaired: list[str] | None) -> list[str]:
    """`places`: each tag's `FILE:LINE`."""
    fixed = repair_iob2(tags)
    for tag, new, place in zip(tags, fixed, places):
        if tag != new:
            if repaired is None:
                raise CorpusError(f"{place}: {shorten(tag)} does not continue an entity")
            repaired.append(place)
    return fixed
