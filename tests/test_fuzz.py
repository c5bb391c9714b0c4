"""Fuzz of every reader and converter: hostile input is read, or refused with one short line.

Hypothesis mutates valid inputs (JSONL corpus lines, CoNLL, Label Studio's full export and
JSON-MIN, doccano's JSONL, .txt and .jsonl articles to tag): JSON values replaced by another type
(numbers, NaN, lists, objects, null, bools, huge strings, lone surrogate escapes), keys dropped
or renamed, values nested, then characters and bytes inserted, deleted, replaced and repeated
(NULs, BOMs, UTF-16, bytes that are not UTF-8, tabs, line separators, JSON fragments). Each
reader may only accept its input or raise the project's UserError, in one line of reasonable
length; what it accepts must then go through the writers (CoNLL, Label Studio, JSONL, the
splitter's grouping) without an exception, and the JSONL written must read back.

The default run is seeded and small (FUZZ_EXAMPLES, default 200 examples per test; a few
seconds). The long run, last done for issue 21: 5,000 examples for each of the 6 fuzz tests
(30,000 inputs, about a minute), 0 unhandled exceptions; also 20,000 per test unseeded
(derandomize=False), 0. Run on the code before issue 21's fixes it fails at once (a ValueError
on a 4,300-digit number, a TypeError ordering Label Studio annotations, untruncated messages):

    FUZZ_EXAMPLES=5000 OMP_NUM_THREADS=1 .venv/bin/python -m pytest tests/test_fuzz.py -q
"""
import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arabic_ner.conll import from_conll, to_conll
from arabic_ner.convert import checked_import, from_doccano, from_labelstudio, to_labelstudio
from arabic_ner.corpus import read_corpus, read_jsonl, write_jsonl
from arabic_ner.textfiles import read_text
from arabic_ner.errors import UserError
from arabic_ner.split import assign_groups
from arabic_ner.validate import validate_files
from conftest import SENTENCES, make_record, read_articles

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
TYPES = ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"]
LONGEST_MESSAGE = 400  # a path of the temporary folder, and at most a couple of quoted values cut short

RECORDS = [{**make_record(i, text, spans), "paragraph": i // 2} for i, (text, spans) in enumerate(SENTENCES)]
RECORDS[1]["meta"] = {"source": "وكالة", "tags": ["a", 1, None, 2.5, True]}
CORPUS = copy.deepcopy(RECORDS)
del CORPUS[2]["id"]  # an id is optional in the corpus

HOSTILE = st.one_of(
    st.integers(), st.integers(min_value=-2**70, max_value=2**70), st.just(-10**4000), st.floats(), st.booleans(),
    st.none(),
    st.just([]), st.just({}), st.lists(st.integers(-3, 40), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(max_size=12), st.sampled_from(["", " ", "\ud800", "ab\udfffc", "\u2028", "B-", "O", "x" * 100_000,
                                           "ARMED_GROUP", "\t", "\n", "\x00", "start", "start_offset", "label"]),
)
# JSON fragments, and what breaks text: NULs, byte-order marks, separators, bytes that are not UTF-8
SNIPPETS = st.sampled_from([
    b"NaN", b"-Infinity", b"1e999", b"9" * 5000, b"[" * 3000, b"{" * 3000, b'"\\ud800"', b"\\ud800", b'"', b"\\",
    b"{", b"}", b"[", b"]", b",", b":", b"null", b"true", b"-0", b"1.5", b'{"a": 1}', b"\x00", b"\xef\xbb\xbf",
    b"\xff\xfe", b"\xfe\xff", b"\xff", b"\xc3", b"\xed\xa0\x80", b"\t", b"\n", b"\r", b"\r\n", b"\n\n",
    "\u2028".encode(), "\x85".encode(), " ".encode(), b"B-", b"I-", b"O", b"\tO\n", b"\tB-X\n", b"\tI-X\n",
    b"B-ARMED_GROUP", b"I-CASUALTY", "داعش".encode(), b"x" * 100_000,
])


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, (*prefix, i))


def _mutate_value(draw, doc):
    """`doc` with one node replaced by another JSON type, dropped, nested, or its key renamed."""
    path = draw(st.sampled_from(list(_paths(doc))))
    op = draw(st.sampled_from(["replace", "replace", "drop", "wrap", "rename", "repeat"]))
    if not path:
        return draw(HOSTILE) if op == "replace" else [doc] if op == "wrap" else doc
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if op == "replace":
        parent[key] = draw(HOSTILE)
    elif op == "drop":
        del parent[key]
    elif op == "wrap":
        parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}, [parent[key], parent[key]]]))
    elif op == "rename" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["\ud800", "", "id", "text", "x" * 1000, "start", "labels"]))] = parent.pop(key)
    elif op == "repeat" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    return doc


def _mutate_bytes(draw, data: bytes) -> bytes:
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        piece = draw(st.one_of(SNIPPETS, st.binary(min_size=1, max_size=4)))
        end = min(len(data), at + draw(st.integers(1, 20)))
        if op == "insert":
            data = data[:at] + piece + data[at:]
        elif op == "delete":
            data = data[:at] + data[end:]
        elif op == "replace":
            data = data[:at] + piece + data[end:]
        else:
            data = data[:end] + data[at:end] * draw(st.integers(1, 3)) + data[end:]
    if draw(st.integers(0, 20)) == 0:  # the whole file in another encoding
        data = data.decode("utf-8", "replace").encode(draw(st.sampled_from(["utf-16", "utf-16-le", "utf-8-sig"])))
    return data


@st.composite
def mutated(draw, documents: list, jsonl: bool = False, text: bool = False) -> bytes:
    """One of `documents` (JSON values; a list of rows when `jsonl`; strings when `text`), mutated
    in structure, then in bytes."""
    doc = copy.deepcopy(draw(st.sampled_from(documents)))
    if text:
        content = doc
    else:
        for _ in range(draw(st.integers(0, 3))):
            doc = _mutate_value(draw, doc)
        ascii_only = draw(st.booleans())  # else a lone surrogate goes out raw, as bytes that are not UTF-8
        if jsonl and isinstance(doc, list):
            content = "".join(json.dumps(row, ensure_ascii=ascii_only) + draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
                              for row in doc)
        else:
            content = json.dumps(doc, ensure_ascii=ascii_only, indent=draw(st.sampled_from([None, 1])))
    return _mutate_bytes(draw, content.encode("utf-8", "surrogatepass"))


def refused_in_one_line(read, *args):
    """What `read` accepts, or None when it raises a UserError of one short line; anything else fails."""
    try:
        return read(*args)
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and "\r" not in message and len(message) < LONGEST_MESSAGE, message[:1000]
        return None


def written(records: list[dict], folder: Path) -> None:
    """Accepted records go through every writer, and the JSONL written reads back."""
    to_conll(records)
    json.dumps(to_labelstudio(records, "annotations"), ensure_ascii=False).encode("utf-8")
    write_jsonl(folder / "out.jsonl", records)
    assert read_jsonl(folder / "out.jsonl")
    assert sorted(p.name for p in folder.iterdir() if p.suffix == ".tmp") == []
    groups = refused_in_one_line(assign_groups, records, "paragraph", [0.7, 0.15, 0.15], 13)
    if groups is not None:
        assert sorted(k for keys in groups for k in keys) == sorted({str(r["paragraph"]) for r in records})


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def put(folder: Path, name: str, data: bytes) -> Path:
    for old in folder.iterdir():
        old.unlink()
    path = folder / name
    path.write_bytes(data)
    return path


@FUZZ
@given(data=mutated([CORPUS, CORPUS[:1], CORPUS[4:]], jsonl=True))
def test_corpus_jsonl(folder, data):
    path = put(folder, "c.jsonl", data)
    records = refused_in_one_line(read_jsonl, path)
    refused_in_one_line(read_jsonl, path, TYPES, True)
    problems, _ = validate_files([path], TYPES)
    assert all("\n" not in str(p) and len(str(p)) < LONGEST_MESSAGE for p in problems), problems
    if records is not None:
        written(records, folder)


@FUZZ
@given(data=mutated([to_conll(RECORDS), to_conll(RECORDS[3:4]) + "\n"], text=True), repair=st.booleans())
def test_conll(folder, data, repair):
    path = put(folder, "c.tsv", data)
    said: list[str] = []
    records = refused_in_one_line(read_corpus, path, TYPES, said.append)
    assert len(said) <= 1
    content = refused_in_one_line(read_text, path)
    if content is not None:
        converted = refused_in_one_line(lambda: checked_import(from_conll(content, str(path), [] if repair else None),
                                                         str(path)))
        records = records or converted
    if records:
        written(records, folder)


def _label_studio_exports() -> list:
    full = to_labelstudio(RECORDS, "annotations")
    for n, task in enumerate(full):
        task["id"] = n + 1
        task["annotations"][0].update({"id": 10 + n, "updated_at": f"2026-01-0{n + 1}", "was_cancelled": False})
    full[1]["annotations"].append({"id": 3, "updated_at": "2025-12-01", "result": []})
    full.append({"id": 99, "data": {"text": "نص"}, "annotations": [], "predictions": [{"result": []}]})
    minimal = [{"id": i + 1, "annotation_id": i + 1, "text": r["text"],
                "label": [{"start": e["start"], "end": e["end"], "text": r["text"][e["start"]:e["end"]],
                           "labels": [e["label"]]} for e in r["entities"]]} for i, r in enumerate(RECORDS)]
    minimal.append({"id": 42, "annotation_id": None, "text": "نص"})
    return [full, full[:2], minimal, minimal[:2]]


@FUZZ
@given(data=mutated(_label_studio_exports()), predictions=st.booleans())
def test_label_studio(folder, data, predictions):
    path = put(folder, "export.json", data)
    content = refused_in_one_line(read_text, path)
    if content is not None:
        records = refused_in_one_line(lambda: checked_import(from_labelstudio(content, str(path), predictions, []),
                                                       str(path)))
        if records is not None:
            written(records, folder)


def _doccano_exports() -> list:
    triples = [{"id": i, "text": r["text"], "label": [[e["start"], e["end"], e["label"]] for e in r["entities"]]}
               for i, r in enumerate(RECORDS)]
    offsets = [{"id": i, "text": r["text"], "entities": [{"id": 7, "start_offset": e["start"], "end_offset": e["end"],
                                                          "label": e["label"]} for e in r["entities"]]}
               for i, r in enumerate(RECORDS)]
    return [triples, offsets, triples[:1]]


@FUZZ
@given(data=mutated(_doccano_exports(), jsonl=True))
def test_doccano(folder, data):
    path = put(folder, "export.jsonl", data)
    content = refused_in_one_line(read_text, path)
    if content is not None:
        records = refused_in_one_line(lambda: checked_import(from_doccano(content, str(path)), str(path)))
        if records is not None:
            written(records, folder)


def _predicted(articles: list) -> None:
    """What predict.py writes of its articles (no model needed: no entities)."""
    "".join(json.dumps(a.output([]), ensure_ascii=False) + "\n" for a in articles).encode("utf-8")
    to_conll([{"id": str(a.id), "text": a.text, "entities": []} for a in articles])


@FUZZ
@given(data=mutated([[{"id": r["id"], "text": r["text"], "source": "وكالة"} for r in RECORDS],
                     [{"text": ""}]], jsonl=True))
def test_articles_jsonl(folder, data):
    path = put(folder, "a.jsonl", data)
    result = refused_in_one_line(read_articles, [str(path)])
    if result is not None:
        _predicted(result[0])


@FUZZ
@given(data=mutated(["\n".join(r["text"] for r in RECORDS), "", "نص"], text=True))
def test_articles_txt(folder, data):
    path = put(folder, "a.txt", data)
    result = refused_in_one_line(read_articles, [str(path), str(folder)])
    if result is not None:
        _predicted(result[0])


def test_fuzz_reads_valid_inputs_unchanged(folder):
    # the seeds the mutations start from are valid: a fuzz of inputs that are all refused proves nothing
    path = put(folder, "c.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in CORPUS).encode())
    assert [r["text"] for r in read_jsonl(path, TYPES)] == [r["text"] for r in CORPUS]
    for export in _label_studio_exports():
        assert from_labelstudio(json.dumps(export), "e.json")
    for export in _doccano_exports():
        assert checked_import(from_doccano("".join(json.dumps(row) + "\n" for row in export), "d"), "d")
