"""Output paths are checked before any work; files are written whole or not at all."""
import io
import sys

import pytest

from arabic_ner.articles import read_articles
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_files, check_output_folder, make_output_folder, write_atomic


@pytest.mark.parametrize("outputs, message", [
    ({"-o": "missing/out.jsonl"}, "-o {tmp}/missing/out.jsonl: no such folder {tmp}/missing"),
    ({"-o": "sub"}, "-o {tmp}/sub: is a folder; name a file"),
    ({"-o": "in.txt"}, "-o {tmp}/in.txt: is also an input; writing it would destroy the input"),
    ({"-o": "link.txt"}, "-o {tmp}/link.txt: is also an input; writing it would destroy the input"),
    ({"-o": "out.jsonl", "--html": "out.jsonl"}, "--html {tmp}/out.jsonl: -o writes there too; give each output its own file"),
])
def test_bad_outputs_are_refused(tmp_path, outputs, message):
    (tmp_path / "sub").mkdir()
    (tmp_path / "in.txt").write_text("نص", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tmp_path / "in.txt")
    with pytest.raises(UserError) as err:
        check_output_files({k: tmp_path / v for k, v in outputs.items()}, [tmp_path / "in.txt"])
    assert str(err.value) == message.format(tmp=tmp_path)


def test_good_outputs_pass(tmp_path):
    (tmp_path / "old.jsonl").write_text("x", encoding="utf-8")
    check_output_files({"-o": tmp_path / "old.jsonl", "--html": tmp_path / "new.html", "--conll": None},
                       [tmp_path / "missing-input.txt"])


def test_output_folder(tmp_path):
    make_output_folder(tmp_path / "a" / "b", "--out")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="--out .*/f: is a file, not a folder"):
        make_output_folder(tmp_path / "f", "--out")
    with pytest.raises(UserError, match="--out .*/f/g: cannot create the folder"):
        make_output_folder(tmp_path / "f" / "g", "--out")


def test_output_folder_check_creates_nothing(tmp_path):
    check_output_folder(tmp_path / "a" / "b", "--out")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match=f"--out {tmp_path}/f/g: {tmp_path}/f is a file, not a folder"):
        check_output_folder(tmp_path / "f" / "g", "--out")


def test_write_atomic_failure_is_one_line_and_leaves_nothing(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(UserError, match="out: cannot write"):
        write_atomic(tmp_path / "out", "x")  # a folder stands where the file would go
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_stdin_that_is_not_utf8_is_skipped(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9")))
    articles, skipped = read_articles(["-"])
    assert articles == [] and skipped == [("stdin", "not UTF-8 text")]


def test_jsonl_article_keeps_its_line_separators(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "داعش\u2028قتل\x85"}\n', encoding="utf-8")  # raw U+2028 and U+0085, as json.dumps writes
    articles, _ = read_articles([str(path)])
    assert [a["_text"] for a in articles] == ["داعش\u2028قتل\x85"]


def test_jsonl_article_with_a_lone_surrogate_names_the_line(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\n{"text": "bad \\udc80"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"a.jsonl:2: field 'text' holds a lone surrogate \(U\+DC80\)"):
        read_articles([str(path)])
