"""Reading a corpus lazily (JSONL, Parquet, Arrow) and tagging it in chunks and shards
(arabic_ner/articles.py, arabic_ner/tagging.py), with a stand-in model: no torch needed."""
import json
from pathlib import Path

import pytest
from conftest import read_articles

from arabic_ner import files
from arabic_ner.articles import SHOWN_SKIPS, Article, Articles, Skips
from arabic_ner.errors import Stopped, UserError
from arabic_ner.files import ResumableLines
from arabic_ner.tagging import (check_shards, cut, jsonl_line, merged_lines, other_layouts, plan, shard_path, tag_chunks,
                                write_parquet)


class Initials:
    """A stand-in Predictor: each article's first word is an entity."""

    def __init__(self, stop_after: int | None = None):
        self.tagged, self.stop_after = 0, stop_after

    def predict_iter(self, texts):
        for text in texts:
            if self.tagged == self.stop_after:
                raise Stopped()
            self.tagged += 1
            word = text.split()[0] if text.split() else ""
            yield [{"start": 0, "end": len(word), "label": "X", "text": word, "score": 0.5}] if word else []


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize("words, chunk_words, chunks", [
    ([1, 1, 1, 1], 2, [2, 2]),
    ([5, 1, 1], 2, [1, 2]),  # a long article is a chunk of its own
    ([1, 1, 1], 10, [3]),  # the last chunk may be short
    ([0, 0, 3], 1, [3]),  # empty articles go with the next
])
def test_plan_cuts_chunks_of_whole_articles(tmp_path, words, chunk_words, chunks):
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": " ".join(["w"] * n)} for n in words])
    result = plan(Articles([str(path)]), chunk_words)
    assert result.chunks == chunks and result.words == sum(words) and result.articles == len(words)
    assert [len(c) for c in cut(Articles([str(path)]).read(Skips()), result.chunks)] == chunks


def test_parquet_and_arrow_records_are_articles(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import datasets
    import pyarrow.parquet as pq

    rows = [{"id": 7, "body": "قتل جندي", "source": "وكالة"}, {"id": None, "body": None, "source": "x"},
            {"id": None, "body": "نص", "source": "y"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "a.parquet")
    datasets.Dataset.from_list(rows).to_parquet(tmp_path / "b.parquet")
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(rows).save_to_disk(folder)
    arrow, = folder.glob("*.arrow")
    for path in (tmp_path / "a.parquet", tmp_path / "b.parquet", arrow):
        articles, skipped = read_articles([str(path)], "body")
        assert [(a.id, a.text, a.fields) for a in articles] == [
            (7, "قتل جندي", {"id": 7, "source": "وكالة"}), (f"{path.name}:row 3", "نص", {"id": None, "source": "y"})]
        assert skipped == [(f"{path}:row 2", "no string field 'body' (set --text-field)")]


def test_a_tables_nan_and_infinity_come_out_as_json_null(tmp_path):
    """pandas writes a column's missing values as NaN: echoed as they were, the output was no JSON."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from arabic_ner.textfiles import parse_json
    pq.write_table(pa.table({"id": [1.0, float("nan")], "views": [float("inf"), float("nan")],
                             "scores": [[1.0, float("-inf")], []], "text": ["قتل جندي", "نص"]}), tmp_path / "a.parquet")
    articles, skipped = read_articles([str(tmp_path / "a.parquet")])
    assert not skipped and [a.id for a in articles] == [1.0, "a.parquet:row 2"]
    assert [parse_json(jsonl_line(a, []), "out") for a in articles] == [
        {"id": 1.0, "views": None, "scores": [1.0, None], "entities": []},
        {"id": "a.parquet:row 2", "views": None, "scores": [], "entities": []}]


def test_unreadable_table_is_skipped(tmp_path, capfd):
    (tmp_path / "a.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "b.txt").write_text("نص", encoding="utf-8")
    _, ((where, why),) = read_articles([str(tmp_path / "a.parquet"), str(tmp_path / "b.txt")])
    assert where == str(tmp_path / "a.parquet") and why.startswith("not a readable parquet file")
    assert "Failed to read schema" not in capfd.readouterr().err  # datasets logged it before the skip's one line


def test_utf16_jsonl_is_one_skip_not_one_per_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(('{"text": "نص"}\n' * 50).encode("utf-16"))
    (tmp_path / "b.txt").write_text("نص", encoding="utf-8")
    assert read_articles([str(path), str(tmp_path / "b.txt")])[1] == [(str(path), "UTF-16 text; convert it to UTF-8")]


def test_skips_are_all_counted_and_the_first_said(tmp_path):
    said = []
    skips = Skips(said.append)
    for i in range(SHOWN_SKIPS + 5):
        skips.add(f"a.jsonl:{i}", "not valid JSON")
    assert skips.count == SHOWN_SKIPS + 5 and len(skips.shown) == SHOWN_SKIPS
    assert said[0] == "skipped a.jsonl:0: not valid JSON" and len(said) == SHOWN_SKIPS + 1  # and "skipping more"
    assert skips.summary() == f"a.jsonl:0: not valid JSON ({SHOWN_SKIPS + 4} more skips too)"


@pytest.fixture
def corpus(tmp_path):
    """Nine articles of 1-3 words and a bad record: six chunks of 2 words or more."""
    texts = ["a1 b", "a2", "a3 b c", "a4", "a5", "a6 b", "a7", "a8 b c", "a9"]
    path = write_jsonl(tmp_path / "in.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    with path.open("a", encoding="utf-8") as file:
        file.write("{not json}\n")
    return Articles([str(path)])


def one_process(corpus, out) -> bytes:
    with ResumableLines(out, {"run": 1}) as sink:
        tag_chunks(Initials(), corpus, plan(corpus, 2), sink, Skips())
        # still open, so still locked, until the caller has named the output (POSIX)
        assert sink.file.closed == (files.fcntl is None)
    return sink.partial.read_bytes()


def test_shards_merge_to_the_one_process_lines(corpus, tmp_path):
    whole = one_process(corpus, tmp_path / "whole.jsonl")
    the_plan, out, partials = plan(corpus, 2), tmp_path / "out.jsonl", []
    assert the_plan.chunks == [1, 2, 2, 1, 2, 1]
    for rank in range(3):
        skips = Skips()
        with ResumableLines(shard_path(out, rank, 3), {"run": 1}) as sink:
            outcome = tag_chunks(Initials(), corpus, the_plan, sink, skips, keep=True, rank=rank, processes=3)
        assert len(outcome.results) == sum(the_plan.own(rank, 3)) and skips.count == 1  # every process reads all
        partials.append(sink.partial)
    assert partials[1].name == ".out-00001-of-00003.jsonl.partial"
    check_shards([shard_path(out, rank, 3) for rank in range(3)], the_plan)
    assert b"".join(merged_lines(partials, the_plan.chunks)) == whole


def test_a_process_with_no_chunk_has_an_empty_shard(corpus, tmp_path):
    the_plan, out = plan(corpus, 1000), tmp_path / "out.jsonl"  # one chunk, two processes
    shards = [shard_path(out, rank, 2) for rank in range(2)]
    with pytest.raises(UserError, match=r"\.out-00000-of-00002\.jsonl\.partial: missing or incomplete"):
        check_shards(shards, the_plan)
    for rank in range(2):
        with ResumableLines(shards[rank], {"run": 1}) as sink:
            tag_chunks(Initials(), corpus, the_plan, sink, Skips(), rank=rank, processes=2)
    check_shards(shards, the_plan)
    partials = [ResumableLines.files_of(s)[0] for s in shards]
    assert b"".join(merged_lines(partials, the_plan.chunks)) == one_process(corpus, tmp_path / "whole.jsonl")


def test_a_run_with_another_number_of_processes_is_found(corpus, tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableLines(shard_path(out, 1, 2), {"run": 1}) as sink:
        tag_chunks(Initials(), corpus, plan(corpus, 2), sink, Skips(), rank=1, processes=2)
    assert other_layouts(out, 2) == []
    assert [m.name for m in other_layouts(out, 1)] == [".out-00001-of-00002.jsonl.partial.json"]
    assert [m.name for m in other_layouts(out, 3)] == [".out-00001-of-00002.jsonl.partial.json"]


@pytest.mark.parametrize("name, other", [
    ("run[1].jsonl", "run[1].jsonl"),  # the stem is text, not a glob pattern: its own shards are found
    ("news.jsonl", "news-2024.jsonl"),  # another output's shards are not this one's
])
def test_other_layouts_are_this_outputs_own(corpus, tmp_path, name, other):
    with ResumableLines(shard_path(tmp_path / other, 1, 2), {"run": 1}) as sink:
        tag_chunks(Initials(), corpus, plan(corpus, 2), sink, Skips(), rank=1, processes=2)
    found = [m.name for m in other_layouts(tmp_path / name, 1)]
    assert found == ([f".{Path(other).stem}-00001-of-00002.jsonl.partial.json"] if name == other else [])


def test_an_input_that_changes_between_the_passes_is_an_error(corpus, tmp_path):
    the_plan = plan(corpus, 2)
    with pytest.raises(UserError, match="the inputs changed while being tagged"):
        list(cut(iter([Article(0, "a")] * (the_plan.articles + 1)), the_plan.chunks))
    with pytest.raises(UserError, match="the inputs changed while being tagged"):
        list(cut(iter([Article(0, "a")] * (the_plan.articles - 1)), the_plan.chunks))


def test_a_stopped_shard_resumes_alone(corpus, tmp_path):
    whole = one_process(corpus, tmp_path / "whole.jsonl")
    the_plan, out = plan(corpus, 2), tmp_path / "out.jsonl"
    shards = [shard_path(out, rank, 2) for rank in range(2)]  # chunks 0, 2, 4 (1, 2, 2 articles) and 1, 3, 5
    with pytest.raises(Stopped), ResumableLines(shards[0], {"run": 1}) as sink:  # stopped in its second chunk
        tag_chunks(Initials(stop_after=2), corpus, the_plan, sink, Skips(), rank=0, processes=2)
    assert ResumableLines.interrupted(shards, resume=True)["records"] == 1  # the first chunk is kept
    with ResumableLines(shards[1], {"run": 1}) as sink:
        tag_chunks(Initials(), corpus, the_plan, sink, Skips(), rank=1, processes=2)
    predictor = Initials()
    with ResumableLines(shards[0], {"run": 1}, resume=True) as resumed:
        assert tag_chunks(predictor, corpus, the_plan, resumed, Skips(), rank=0, processes=2).resumed == 1
    assert predictor.tagged == 2 + 2  # the rest of its chunks only
    partials = [ResumableLines.files_of(s)[0] for s in shards]
    assert b"".join(merged_lines(partials, the_plan.chunks)) == whole


def test_parquet_output_settles_column_types_over_all_records(tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    from arabic_ner import tagging

    monkeypatch.setattr(tagging, "PARQUET_ROWS", 2)  # the first row group has no entity and no date
    rows = [Article(1, "x", {"date": None}), Article(2, "y", {"date": None}), Article(3, "z", {"date": "2015"})]
    lines = [jsonl_line(a, [] if a.id < 3 else [{"start": 0, "end": 1, "label": "X", "text": "z", "score": 0.5}])
             for a in rows]
    write_parquet(lambda: (line.encode() for line in lines), "x")(tmp_path / "out.parquet")
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.to_pylist() == [json.loads(line) for line in lines]
    assert str(table.schema.field("date").type) == "string"


def test_parquet_output_writes_ids_of_mixed_kinds_as_text(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    lines = [jsonl_line(Article(i, "x", {"meta": m}), []) for i, m in [(1, {"a": 1}), ("a.jsonl:2", [1])]]
    write_parquet(lambda: (line.encode() for line in lines), "x")(tmp_path / "out.parquet")
    assert pq.read_table(tmp_path / "out.parquet").to_pylist() == [
        {"meta": '{"a": 1}', "id": "1", "entities": []}, {"meta": "[1]", "id": "a.jsonl:2", "entities": []}]


def test_without_a_lock_the_file_is_closed_for_its_rename(corpus, tmp_path, monkeypatch):
    """Without fcntl (Windows) there is no lock to hold, and an open file cannot be renamed there."""
    monkeypatch.setattr(files, "fcntl", None)
    with ResumableLines(tmp_path / "out.jsonl", {"run": 1}) as sink:
        tag_chunks(Initials(), corpus, plan(corpus, 2), sink, Skips())
        assert sink.file.closed


@pytest.mark.skipif(files.fcntl is None, reason="no fcntl here (Windows): no lock to test")
def test_a_live_run_with_another_number_of_processes_is_not_called_interrupted(corpus, tmp_path):
    out = tmp_path / "out.jsonl"
    with ResumableLines(shard_path(out, 0, 2), {"run": 1}) as live:
        live.append(['{"id": 0}\n'])
        with pytest.raises(UserError, match=r"out-00000-of-00002\.jsonl: another run is writing it now"):
            other_layouts(out, 1)
    assert [m.name for m in other_layouts(out, 1)] == [".out-00000-of-00002.jsonl.partial.json"]


def test_parquet_that_arrow_cannot_write_is_one_line_naming_the_records(tmp_path):
    # Parquet has no type for an object with no fields: a field that is {} in every record
    pytest.importorskip("pyarrow.parquet")
    lines = ['{"id": 1, "meta": {}, "entities": []}\n', '{"id": 2, "meta": {}, "entities": []}\n']
    with pytest.raises(UserError, match=r"cannot write Parquet \(.*\); the tagged records are complete in "
                                        r"RECORDS \(JSONL\): rename it to keep them"):
        write_parquet(lambda: (line.encode() for line in lines), "RECORDS")(tmp_path / "out.parquet")


@pytest.mark.parametrize("data, error", [
    (b'{"text": "\xd8\xaf"}\n{"text": broken\n', ":2: not valid JSON (Expecting value)"),
    (b'\xef\xbb\xbf{"text": "x"}\n', ":1: starts with a byte-order mark"),
    (b'{"text": "x"}\n{"text": 5}\n', ":2: field 'text' holds int, not text"),
    (b'[1, 2]\n', ":1: not a JSON object"),
    (b'{"text": "\xff"}\n', ":1: not UTF-8 text"),
    (b'{"text": NaN}\n', ":1: not valid JSON (NaN is not JSON)"),
    (b'{"text": "x"}\r\n\n{"text": null}\n{"id": 3}\n', None),  # CRLF, a blank line, no text: Ray reads them
])
def test_ray_jsonl_lines_it_cannot_read_are_refused_before_the_job(tmp_path, data, error):
    """Ray's read_json would stop the job at such a line, with a page of its own traceback."""
    from arabic_ner.ray_predict import check_jsonl

    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    if error is None:
        check_jsonl(path, "text")
        return
    with pytest.raises(UserError) as raised:
        check_jsonl(path, "text")
    assert str(raised.value).startswith(f"{path}{error}") and "predict.py, which skips it" in str(raised.value)
