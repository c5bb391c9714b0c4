"""Validator and converters: round trips, and one clear error per kind of bad input."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from arabic_ner.convert import from_conll, from_doccano, from_labelstudio, to_conll, to_labelstudio
from arabic_ner.corpus import CorpusError, read_corpus, read_jsonl
from arabic_ner.validate import validate_files
from conftest import SHARED

ROOT = Path(__file__).resolve().parents[1]
TYPES = ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"]


def test_conll_round_trip(records):
    conll = to_conll(records)
    assert conll.splitlines()[:3] == ["قتل\tO", "تنظيم\tB-ARMED_GROUP", "داعش\tI-ARMED_GROUP"]
    back = from_conll(conll, "x.tsv")
    assert to_conll(back) == conll
    # CoNLL works on whole words: a clitic glued to a name comes back inside the span
    assert [[b["text"][e["start"]:e["end"]] for e in b["entities"]] for b in back][3] == ["12 مدنيا", "لداعش"]
    assert [[e["label"] for e in b["entities"]] for b in back] == [[e["label"] for e in r["entities"]] for r in records]


def test_anercorp_round_trip():
    path = SHARED / "corpora" / "anercorp" / "dev.tsv"
    if not path.exists():
        pytest.skip(f"{path} absent: needs ../shared")
    content = path.read_text(encoding="utf-8")
    repaired = []
    records = from_conll(content, str(path), repaired)
    assert len(records) > 400 and repaired, "ANERcorp's dev split has a few stray I- tags"
    rows = [line.split("\t") for line in content.splitlines() if line.strip()]
    tags = [tag for _, tag in rows]
    assert sum(t.startswith("B-") for t in tags) + len(repaired) == sum(len(r["entities"]) for r in records)
    assert " ".join(r["text"] for r in records).split(" ") == [token for token, _ in rows]
    with pytest.raises(CorpusError, match="does not continue an entity"):
        from_conll(content, str(path), None)


@pytest.mark.parametrize("kind", ["predictions", "annotations"])
def test_label_studio_round_trip(records, kind):
    tasks = to_labelstudio(records, kind)
    assert tasks[0][kind][0]["result"][0]["value"]["labels"] == ["ARMED_GROUP"]
    assert from_labelstudio(json.dumps(tasks), "export.json", predictions=True) == records
    unreviewed: list[str] = []
    gold = from_labelstudio(json.dumps(tasks), "export.json", unreviewed=unreviewed)
    # pre-annotations nobody submitted are not gold: left out, and said
    assert (gold, len(unreviewed)) == ((records, 0) if kind == "annotations" else ([], len(records)))


def test_label_studio_json_min_keeps_the_newest_annotation_and_leaves_out_unannotated_rows():
    rows = [{"id": 1, "text": "قتل جندي", "annotation_id": 9, "label": [{"start": 4, "end": 8, "labels": ["CASUALTY"]}]},
            {"id": 1, "text": "قتل جندي", "annotation_id": 3, "label": [{"start": 0, "end": 3, "labels": ["CASUALTY"]}]},
            {"id": 2, "text": "داعش", "annotation_id": None}]
    unreviewed: list[str] = []
    rec, = from_labelstudio(json.dumps(rows), "m.json", unreviewed=unreviewed)
    assert rec["entities"] == [{"start": 4, "end": 8, "label": "CASUALTY"}] and unreviewed == ["m.json: task 3"]


def test_label_studio_cancelled_annotation_is_not_gold():
    prediction = [{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["CASUALTY"]}}]
    task = {"id": 5, "data": {"text": "قتل جندي"}, "annotations": [{"id": 1, "was_cancelled": True, "result": []}],
            "predictions": [{"result": prediction}]}
    unreviewed: list[str] = []
    assert from_labelstudio(json.dumps([task]), "e.json", unreviewed=unreviewed) == []
    assert unreviewed == ["e.json: task 1"]


@pytest.mark.parametrize("importer, content, message", [
    (from_doccano, '{"text": "داعش", "entities": [[0, 4, "ARMED_GROUP"]]}', "x:1: each of 'entities' is an object"),
    (from_labelstudio, '[{"data": {"text": "داعش"}, "annotations": [{"result": ["oops"]}]}]', "x: task 1: a result is"),
    (from_labelstudio, '[{"data": {"text": "داعش"}, "annotations": [{"result": [{"type": "labels", "value": "x"}]}]}]',
     "x: task 1: a span is a JSON object"),
    (from_labelstudio, '[{"data": {"text": "داعش"}, "annotations": "none"}]', "'annotations' is a list"),
    (from_labelstudio, '[{"data": {"text": "داعش"}, "annotations": [{"result": 5}]}]', "a result is a list"),
    (from_labelstudio, '[{"data": {}, "annotations": []}]', "x: task 1: no text"),
    (from_doccano, '{"text": "داعش", "label": 5}', "x:1: 'label' is a list of"),
])
def test_malformed_exports_are_one_line_errors(importer, content, message):
    with pytest.raises(CorpusError, match=message):
        importer(content, "x")


def test_label_studio_latest_annotation_wins_and_json_min():
    task = {"id": 7, "data": {"text": "قتل جندي"}, "annotations": [
        {"id": 1, "updated_at": "2026-01-01", "result": [{"type": "labels", "value": {"start": 0, "end": 3, "labels": ["CASUALTY"]}}]},
        {"id": 2, "updated_at": "2026-02-01", "result": [{"type": "labels", "value": {"start": 4, "end": 8, "labels": ["CASUALTY"]}}]},
    ]}
    rec, = from_labelstudio(json.dumps([task]), "e.json")
    assert rec["entities"] == [{"start": 4, "end": 8, "label": "CASUALTY"}] and rec["id"] == "7"
    minimal = [{"id": 3, "text": "قتل جندي", "label": [{"start": 4, "end": 8, "text": "جندي", "labels": ["CASUALTY"]}]}]
    assert from_labelstudio(json.dumps(minimal), "m.json")[0]["entities"] == rec["entities"]


@pytest.mark.parametrize("line", [
    '{"id": 1, "text": "قتل جندي", "label": [[4, 8, "CASUALTY"]]}',
    '{"id": 1, "text": "قتل جندي", "entities": [{"id": 9, "label": "CASUALTY", "start_offset": 4, "end_offset": 8}]}',
])
def test_doccano_import(line):
    rec, = from_doccano(line + "\n", "d.jsonl")
    assert rec == {"id": "1", "text": "قتل جندي", "entities": [{"start": 4, "end": 8, "label": "CASUALTY"}]}


@pytest.mark.parametrize("content, message", [
    ("قتل\tI-CASUALTY\n", "I-CASUALTY does not continue an entity"),
    ("قتل\tCASUALTY\n", "'CASUALTY' is not an IOB2 tag"),
    ("قتل\n", "x.tsv:1: expected 'token<TAB>tag'"),
])
def test_bad_conll(content, message):
    with pytest.raises(CorpusError, match=message):
        from_conll(content, "x.tsv", None)


@pytest.mark.parametrize("content, message", [
    ('{"text": "abc", "entities": [{"start": 0, "end": 9, "label": "CASUALTY"}]}', r"c.jsonl:1: entity offsets \[0, 9\) outside the text"),
    ('{"text": "abc"}', "c.jsonl:1: missing 'entities'"),
    ('{"entities": []}', "c.jsonl:1: missing or non-string 'text'"),
    ('{"text": "abc", "entities": [{"start": 0, "end": 1, "label": "PER"}]}', "label 'PER' is not in the tag set"),
    ('{"text": "abc", "entities": [{"start": 0, "end": 2, "label": "CASUALTY"}, {"start": 1, "end": 3, "label": "CASUALTY"}]}', "overlap"),
    ('{"text": "abc", ', "c.jsonl:1: not valid JSON"),
    ('{"text": "ab\\ud800c", "entities": []}', r"c.jsonl:1: 'text' holds a lone surrogate \(U\+D800\) at character 2"),
    ('{"text": "abc", "entities": [{"start": "x", "end": 2, "label": "CASUALTY"}]}', "whole numbers, got start 'x'"),
    ('{"text": "abc", "entities": [{"start": true, "end": 2, "label": "CASUALTY"}]}', "whole numbers, got start True"),
    ('{"text": "abc", "entities": [{"start": 2, "end": 2, "label": "CASUALTY"}]}', r"\[2, 2\) is empty or reversed"),
    ('{"text": "abc", "entities": [{"start": 0, "end": 2, "label": ["CASUALTY"]}]}', "label is a name, got \\['CASUALTY'\\]"),
])
def test_bad_jsonl(tmp_path, content, message):
    path = tmp_path / "c.jsonl"
    path.write_text(content + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=message):
        read_jsonl(path, TYPES)


def test_line_separators_inside_json_strings_stay_in_their_record(tmp_path):
    # json.dumps(ensure_ascii=False) leaves U+2028, U+2029 and U+0085 as they are; str.splitlines
    # would cut the record at each of them.
    rows = [{"id": "a", "text": "داعش\u2028قتل\u2029\x85 جنود", "entities": [{"start": 0, "end": 4, "label": "ARMED_GROUP"}]},
            {"id": "b", "text": "سطر\r\nثان", "entities": []}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows), encoding="utf-8")
    assert [r["text"] for r in read_jsonl(path, TYPES)] == [r["text"] for r in rows]
    result = subprocess.run([sys.executable, "-m", "arabic_ner.validate", str(path)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "not valid JSON" not in result.stdout + result.stderr


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_conll_with_any_line_ending(newline):
    content = newline.join(["قتل\tO", "جندي\tB-CASUALTY", "", "داعش\tB-ARMED_GROUP", ""])
    assert [(r["text"], [e["label"] for e in r["entities"]]) for r in from_conll(content, "x.tsv")] == [
        ("قتل جندي", ["CASUALTY"]), ("داعش", ["ARMED_GROUP"])]


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"text": "a", "entities": []}\n{"text": "\xff"}\n')
    with pytest.raises(CorpusError, match="c.jsonl:2: not UTF-8"):
        read_jsonl(path)


def write(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_validator_finds_each_problem(tmp_path):
    a = write(tmp_path / "train.jsonl", [
        {"id": "1", "text": "هجوم لداعش امس", "entities": [{"start": 5, "end": 10, "label": "ARMED_GROUP"}]},
        {"id": "2", "text": "قتل داعش جندي", "entities": [{"start": 4, "end": 8, "label": "ARMED_GROUP"},
                                                             {"start": 8, "end": 13, "label": "CASUALTY"}]},
        {"id": "3", "text": "نص مكرر", "entities": []},
    ])
    b = write(tmp_path / "test.jsonl", [
        {"id": "3", "text": "نص آخر", "entities": []},
        {"id": "4", "text": "نص مكرر", "entities": []},
        {"id": "5", "text": "داعش.", "entities": [{"start": 0, "end": 5, "label": "ARMED_GROUP"}]},
        {"id": "6", "text": "قتل داعشي وداعش", "entities": [{"start": 4, "end": 8, "label": "ARMED_GROUP"},
                                                              {"start": 11, "end": 15, "label": "ARMED_GROUP"}]},
        {"id": "7", "text": "  ", "entities": []},
        {"id": "8", "text": "قتل وَداعش وـداعش", "entities": [{"start": 6, "end": 10, "label": "ARMED_GROUP"},
                                                                {"start": 13, "end": 17, "label": "ARMED_GROUP"}]},
        {"id": "9", "text": "قتل  داعش", "entities": [{"start": 3, "end": 4, "label": "ARMED_GROUP"}]},
        {"text": "بلا رقم", "entities": []},
    ])
    problems, counts = validate_files([a, b], TYPES)
    text = "\n".join(map(str, problems))
    assert "warning: " in text and "starts with the clitic 'ل'" in text
    assert "(id 2): span [8, 13) CASUALTY starts with white space" in text
    assert "test.jsonl:1 (id 3): duplicate id" in text
    assert "test.jsonl:2 (id 4): same text as" in text
    assert "test.jsonl:3 (id 5): span [0, 5) ARMED_GROUP ends with punctuation" in text
    assert ("warning: " + str(b) + ":4 (id 6): span [4, 8) ARMED_GROUP 'داعش' cuts the word 'داعشي'") in text
    assert "[11, 15)" not in text  # after the clitic و, as the spec asks: no warning
    assert f"error: {b}:5 (id 7): empty text" in text
    assert "(id 8)" not in text  # a clitic with a diacritic, or stretched by tatweel, is still a clitic
    assert f"{b}:7 (id 9): span [3, 4) ARMED_GROUP starts with white space" in text  # and no crash
    assert f"error: {b}:8: missing 'id'" in text
    assert counts[str(a)]["ARMED_GROUP"] == 2


def test_validator_command_exit_status(tmp_path):
    good = write(tmp_path / "good.jsonl", [{"id": "1", "text": "قتل جندي", "entities": [
        {"start": 4, "end": 8, "label": "CASUALTY"}]}])
    result = subprocess.run([sys.executable, "-m", "arabic_ner.validate", str(good)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "0 errors" in result.stdout
    bad = write(tmp_path / "bad.jsonl", [{"id": "1", "text": "قتل جندي", "entities": [
        {"start": 3, "end": 8, "label": "CASUALTY"}]}])
    result = subprocess.run([sys.executable, "-m", "arabic_ner.validate", str(bad)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "bad.jsonl:1 (id 1): span [3, 8)" in result.stderr


def test_training_reader_accepts_a_stray_inside_tag_with_a_warning(tmp_path, capsys):
    path = tmp_path / "c.tsv"
    path.write_text("قتل\tO\nجندي\tI-CASUALTY\n", encoding="utf-8")
    record, = read_corpus(path, TYPES)
    assert [e["label"] for e in record["entities"]] == ["CASUALTY"]
    assert capsys.readouterr().err.startswith(f"warning: {path}: 1 stray I- tag read as starting an entity")
    said: list[str] = []
    read_corpus(path, TYPES, warn=said.append)  # training passes its main-process log
    assert len(said) == 1 and said[0].startswith("warning:") and capsys.readouterr().err == ""


def test_converter_command_writes_nothing_on_bad_input(tmp_path):
    src = tmp_path / "in.tsv"
    src.write_text("قتل\tB-CASUALTY\nجندي\tI-X\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = subprocess.run([sys.executable, "-m", "arabic_ner.convert", "from-conll", str(src), str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "error:" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--folds", "100"], "--folds 100: {corpus} has only 3 paragraph groups; use at most that many folds"),
    (["--group-by", "story"], "{corpus}: record 1 (id a) has no 'story' field to group by"),
    (["--out", "{corpus}"], "--out {corpus}: is a file, not a folder"),
    (["--out", "{corpus}.d", "--folds", "9"], "--folds 9: {corpus} has only 3 paragraph groups; use at most that many folds"),
])
def test_split_errors(tmp_path, args, message):
    corpus = write(tmp_path / "all.jsonl", [{"id": i, "paragraph": p, "text": "نص", "entities": []}
                                             for i, p in zip("abcd", (1, 1, 2, 3))])
    args = [a.format(corpus=corpus) for a in args]
    result = subprocess.run([sys.executable, "-m", "arabic_ner.split", str(corpus), *args], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr == f"error: {message.format(corpus=corpus)}\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.jsonl"]  # nothing written


def test_converter_refuses_to_write_over_its_input(tmp_path):
    corpus = write(tmp_path / "c.jsonl", [{"id": "a", "text": "نص", "entities": []}])
    before = corpus.read_bytes()
    result = subprocess.run([sys.executable, "-m", "arabic_ner.convert", "to-conll", str(corpus), str(corpus)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "is also an input" in result.stderr
    assert corpus.read_bytes() == before


def test_split_keeps_groups_together_and_is_deterministic(tmp_path):
    rows = []
    for p in range(20):
        for s in range(3):
            label = ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"][(p + s) % 3]
            rows.append({"id": f"p{p}-s{s}", "paragraph": p, "text": f"جملة {p} {s}",
                         "entities": [{"start": 0, "end": 4, "label": label}]})
    corpus = write(tmp_path / "all.jsonl", rows)
    outs = []
    for run in ("a", "b"):
        result = subprocess.run([sys.executable, "-m", "arabic_ner.split", str(corpus), "--out", str(tmp_path / run),
                                 "--folds", "4"], cwd=ROOT, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        outs.append({name: (tmp_path / run / name).read_text() for name in
                     ("train.jsonl", "dev.jsonl", "test.jsonl", "folds.json")})
    assert outs[0] == outs[1]
    parts = {name: [json.loads(line) for line in outs[0][name].splitlines()] for name in
             ("train.jsonl", "dev.jsonl", "test.jsonl")}
    paragraphs = [{r["paragraph"] for r in part} for part in parts.values()]
    assert not (paragraphs[0] & paragraphs[1] or paragraphs[0] & paragraphs[2] or paragraphs[1] & paragraphs[2])
    assert sum(map(len, parts.values())) == 60 and 36 <= len(parts["train.jsonl"]) <= 48
    folds = json.loads(outs[0]["folds.json"])["folds"]
    assert sorted(i for f in folds for i in f) == sorted(r["id"] for r in rows)
    assert all(12 <= len(f) <= 18 for f in folds)


def test_shipped_article_corpus_is_valid():
    folder = ROOT / "data" / "article"
    splits = [folder / f"{name}.jsonl" for name in ("train", "dev", "test")]
    problems, counts = validate_files(splits, TYPES)
    assert not [p for p in problems if p.error], problems
    article = (folder / "article.txt").read_text(encoding="utf-8")
    records = read_jsonl(folder / "article.jsonl", TYPES)
    assert all(r["text"] in article for r in records)
    assert sorted(r["id"] for path in splits for r in read_jsonl(path)) == sorted(r["id"] for r in records)
    folds = json.loads((folder / "folds.json").read_text())["folds"]
    assert sorted(i for f in folds for i in f) == sorted(r["id"] for r in records)
    assert sum(sum(c.values()) for c in counts.values()) == sum(len(r["entities"]) for r in records)


@pytest.mark.parametrize("text, span, warned", [
    ("هجوم والحشد الشعبي", "والحشد الشعبي", True),  # the conjunction glued to the article
    ("مقتل والي تلعفر", "والي تلعفر", False),  # governor: the و is the root's
    ("ذبح والديه", "والديه", False),  # his parents
])
def test_clitic_warning_spares_root_letters(tmp_path, text, span, warned):
    start = text.index(span)
    path = write(tmp_path / "c.jsonl", [{"id": "1", "text": text,
                                         "entities": [{"start": start, "end": start + len(span), "label": "CASUALTY"}]}])
    problems, _ = validate_files([path], TYPES)
    assert any("starts with the clitic" in str(p) for p in problems) == warned


def test_shipped_news_corpus_is_valid_and_split_by_story():
    folder = ROOT / "data" / "news"
    splits = {name: read_jsonl(folder / f"{name}.jsonl", TYPES) for name in ("train", "dev", "test")}
    problems, counts = validate_files([folder / f"{name}.jsonl" for name in splits]
                                      + [ROOT / "data" / "article" / f"{name}.jsonl" for name in splits], TYPES)
    assert not [p for p in problems if p.error], problems
    records = read_jsonl(folder / "news.jsonl", TYPES)
    assert sorted(r["id"] for part in splits.values() for r in part) == sorted(r["id"] for r in records)
    stories = [{r["story"] for r in part} for part in splits.values()]
    assert not (stories[0] & stories[1] or stories[0] & stories[2] or stories[1] & stories[2])
    assert len(records) >= 600 and len({r["article"] for r in records}) >= 60
    assert sum(e["label"] == "CASUALTY" for r in records for e in r["entities"]) >= 250


def test_news_sentences_are_verbatim_from_saudinewsnet():
    source = SHARED / "corpora" / "saudinewsnet" / "security_articles.jsonl"
    if not source.exists():
        pytest.skip(f"{source} absent: checking the news sentences against their articles needs ../shared")
    articles = {a["id"]: a["text"] for a in map(json.loads, source.read_text(encoding="utf-8").splitlines())}
    for r in read_jsonl(ROOT / "data" / "news" / "news.jsonl", TYPES):
        assert r["text"] in articles[r["article"]], r["id"]
