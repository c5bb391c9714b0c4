"""Output paths are checked before any work; files are written whole or not at all."""
import importlib.util
import io
import os
import stat
import sys
from pathlib import Path

import pytest

from conftest import read_articles

from arabic_ner.articles import input_files
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_files, check_output_folder, make_output_folder, write_atomic, write_files


@pytest.mark.parametrize("outputs, message", [
    ({"-o": "missing/out.jsonl"}, "-o {tmp}/missing/out.jsonl: no such folder {tmp}/missing"),
    ({"-o": "sub"}, "-o {tmp}/sub: is a folder; name a file"),
    ({"-o": "in.txt"}, "-o {tmp}/in.txt: is also an input; writing it would destroy the input"),
    ({"-o": "link.txt"}, "-o {tmp}/link.txt: is also an input; writing it would destroy the input"),
    ({"-o": "out.jsonl", "--html": "out.jsonl"}, "--html {tmp}/out.jsonl: -o writes there too; give each output its own file"),
    ({"-o": "model/config.json"}, "-o {tmp}/model/config.json: would replace a file of the model folder {tmp}/model; "
                                  "name a file elsewhere"),
    # written whole, then renamed over it: a regular file in place of the link (the file it points to
    # left as it was) or of the pipe or device (`-o /dev/null` as root replaced the machine's)
    ({"-o": "other-link.txt"}, "-o {tmp}/other-link.txt: is a symbolic link (to {tmp}/mine.txt), which the output "
                               "would replace; name a regular file"),
    ({"--conll": "pipe"}, "--conll {tmp}/pipe: is not a regular file (a device, a pipe or a socket); name a file"),
    ({"--html": "sub/../model/tokenizer.json"}, "--html {tmp}/sub/../model/tokenizer.json: would replace a file of the "
                                                "model folder {tmp}/model; name a file elsewhere"),
])
def test_bad_outputs_are_refused(tmp_path, outputs, message):
    (tmp_path / "sub").mkdir()
    (tmp_path / "in.txt").write_text("نص", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(tmp_path / "in.txt")
    (tmp_path / "mine.txt").write_text("a file of the user's", encoding="utf-8")
    (tmp_path / "other-link.txt").symlink_to(tmp_path / "mine.txt")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "model").mkdir()
    for name in ("config.json", "tokenizer.json"):
        (tmp_path / "model" / name).write_text("{}")
    with pytest.raises(UserError) as err:
        check_output_files({k: tmp_path / v for k, v in outputs.items()}, [tmp_path / "in.txt"],
                           keep_out_of={"the model folder": tmp_path / "model"})
    assert str(err.value) == message.format(tmp=tmp_path)


def test_good_outputs_pass(tmp_path):
    (tmp_path / "old.jsonl").write_text("x", encoding="utf-8")
    (tmp_path / "model").mkdir()
    check_output_files({"-o": tmp_path / "old.jsonl", "--html": tmp_path / "new.html", "--conll": None,
                        "--labelstudio": tmp_path / "model" / "new.json"},  # a new file harms no model file
                       [tmp_path / "missing-input.txt"], keep_out_of={"the model folder": tmp_path / "model"})


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


@pytest.mark.parametrize("kind", ["link", "pipe"])
def test_write_files_replaces_no_link_and_no_pipe(tmp_path, kind):
    """The last guard, for a path no option check saw: the link or pipe stays, and nothing is written."""
    (tmp_path / "mine.txt").write_text("a file of the user's", encoding="utf-8")
    target = tmp_path / "out"
    target.symlink_to(tmp_path / "mine.txt") if kind == "link" else os.mkfifo(target)
    with pytest.raises(UserError, match=f"^{target}: is (a symbolic link|not a regular file)"):
        write_files({target: "x", tmp_path / "other.txt": "y"})
    assert (target.is_symlink() if kind == "link" else stat.S_ISFIFO(os.lstat(target).st_mode))
    assert (tmp_path / "mine.txt").read_text(encoding="utf-8") == "a file of the user's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt", "out"]


def test_stdin_that_is_not_utf8_is_skipped(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9")))
    (tmp_path / "a.txt").write_text("نص", encoding="utf-8")
    # with another input: nothing at all to tag is an error (issue 21)
    articles, skipped = read_articles(["-", str(tmp_path / "a.txt")])
    assert [a.text for a in articles] == ["نص"] and skipped == [("stdin", "not UTF-8 text")]


def test_jsonl_article_keeps_its_line_separators(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "داعش\u2028قتل\x85"}\n', encoding="utf-8")  # raw U+2028 and U+0085, as json.dumps writes
    articles, _ = read_articles([str(path)])
    assert [a.text for a in articles] == ["داعش\u2028قتل\x85"]


@pytest.mark.parametrize("line, reason", [
    (b'{"text": "bad \\udc80"}', "field 'text' holds a lone surrogate (U+DC80) at character 4, which is not valid Unicode"),
    (b'{"text": "a\x00b"}', "not valid JSON (Invalid control character at)"),
    (b'{"text": "caf\xe9"}', "not UTF-8 text"),
    (b'{"text": broken', "not valid JSON (Expecting value)"),
    (b'{"body": "x"}', "no string field 'text' (set --text-field)"),
    (b'["text"]', "no string field 'text' (set --text-field)"),
    (b'{"text": 5}', "field 'text' holds a number, not text (set --text-field)"),  # was "no string field 'text'"
    (b'{"text": ["a"]}', "field 'text' holds a list, not text (set --text-field)"),
    (b'{"text": "ok", "id": [1]}', "'id' is a string or a whole number, got [1]"),
    (b'{"text": "' + b"x" * 2_000_000 + b'", ', "not valid JSON (Expecting property name enclosed in double quotes)"),
])
def test_bad_jsonl_record_is_skipped_naming_its_line(tmp_path, line, reason):
    # a bad record in the middle of an archive costs that record, not the run (issue 19)
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "one"}\r\n' + line + b'\n\n{"text": "three"}\n')
    articles, skipped = read_articles([str(path)])
    assert [a.text for a in articles] == ["one", "three"] and skipped == [(f"{path}:2", reason)]


@pytest.mark.parametrize("content, fail", [
    ("ok \ud800", None),  # not encodable: UnicodeEncodeError once the temporary file exists
    ("ok", KeyboardInterrupt),  # Ctrl-C between writing and renaming
])
def test_write_atomic_leaves_no_temporary_file_whatever_the_exception(tmp_path, monkeypatch, content, fail):
    if fail:
        def interrupted(self, target):
            raise fail
        monkeypatch.setattr(type(tmp_path), "replace", interrupted)
    with pytest.raises(UnicodeEncodeError if fail is None else fail):
        write_atomic(tmp_path / "out.jsonl", content)
    assert list(tmp_path.iterdir()) == []


def test_folder_with_no_txt_files_is_an_error(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("نص", encoding="utf-8")
    with pytest.raises(UserError, match=f"^{tmp_path / 'docs'}: no .txt files$"):
        input_files(str(tmp_path / "docs"))


def test_folder_with_a_broken_link_is_an_error_not_an_article_lost(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("نص", encoding="utf-8")
    (tmp_path / "docs" / "b.txt").symlink_to(tmp_path / "gone.txt")
    (tmp_path / "docs" / ".#a.txt").symlink_to("user@host.1234:1700000000")  # Emacs: a.txt is open, no article
    with pytest.raises(UserError, match=f"^{tmp_path / 'docs' / 'b.txt'}: a link to {tmp_path / 'gone.txt'}, "
                                        "which leads to no file$"):
        input_files(str(tmp_path / "docs"))
    (tmp_path / "gone.txt").write_text("نص", encoding="utf-8")
    assert input_files(str(tmp_path / "docs")) == [tmp_path / "docs" / "a.txt", tmp_path / "docs" / "b.txt"]


@pytest.mark.parametrize("data", [b"", b"\n\n"])
def test_jsonl_with_no_articles_is_skipped(tmp_path, data):
    path = tmp_path / "a.jsonl"
    path.write_bytes(data)
    (tmp_path / "b.txt").write_text("نص", encoding="utf-8")
    assert read_articles([str(path), str(tmp_path / "b.txt")])[1] == [(str(path), "no records")]


def test_nothing_to_tag_is_an_error(tmp_path):
    from arabic_ner.articles import Articles
    from arabic_ner.tagging import plan

    (tmp_path / "a.txt").write_bytes(b"caf\xe9")
    (tmp_path / "b.txt").write_bytes(b"\x00\x01")
    with pytest.raises(UserError, match=f"^nothing to tag: {tmp_path / 'a.txt'}: not UTF-8 text "
                                        r"\(1 more skip too\)$"):
        plan(Articles([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")]), 100)


@pytest.mark.parametrize("data, reason", [
    ("قتل جندي\n".encode("utf-16"), "UTF-16 text; convert it to UTF-8"),
    ("some text\n".encode("utf-16-le"), "UTF-16 text; convert it to UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "binary file"),
    (b"caf\xe9", "not UTF-8 text"),
])
def test_skipped_article_says_why(tmp_path, data, reason):
    (tmp_path / "a.txt").write_bytes(data)
    (tmp_path / "ok.txt").write_text("نص", encoding="utf-8")
    articles, skipped = read_articles([str(tmp_path / "a.txt"), str(tmp_path / "ok.txt")])
    assert [a.text for a in articles] == ["نص"] and skipped == [(str(tmp_path / "a.txt"), reason)]


def test_article_byte_order_mark_is_dropped(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"\xef\xbb\xbf" + "نص".encode())
    (tmp_path / "b.jsonl").write_bytes(b"\xef\xbb\xbf" + '{"text": "نص"}\n'.encode())
    articles, _ = read_articles([str(tmp_path / "a.txt"), str(tmp_path / "b.jsonl")])
    assert [a.text for a in articles] == ["نص", "نص"]


@pytest.mark.parametrize("line, expected", [
    ('{"text": "ok", "id": 1.0}', 1.0),  # pandas writes the ids of a column with gaps as floats
    ('{"text": "ok", "id": null}', "a.jsonl:1"),
    ('{"text": "ok"}', "a.jsonl:1"),
])
def test_jsonl_article_ids_as_data_tools_write_them(tmp_path, line, expected):
    path = tmp_path / "a.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    (article,), _ = read_articles([str(path)])
    assert article.id == expected and article.output([])["id"] == expected


@pytest.mark.parametrize("line, reason", [
    ('{"text": "ok", "id": "\\ud800"}', "field 'id' holds a lone surrogate (U+D800)"),
    ('{"text": "ok", "meta": [{"\\udc00": 1}]}', "key '\\udc00' in 'meta'[0] holds a lone surrogate"),
])
def test_jsonl_article_fields_are_checked(tmp_path, line, reason):
    path = tmp_path / "a.jsonl"
    path.write_text(line + "\n" + '{"text": "ok"}\n', encoding="utf-8")
    _, ((where, why),) = read_articles([str(path)])
    assert where == f"{path}:1" and why.startswith(reason)


def test_resumable_lines_keep_what_was_synced_and_nothing_else(tmp_path):
    from arabic_ner.files import ResumableLines
    out, fingerprint = tmp_path / "out.jsonl", {"model": "m", "batch size": 32}
    first = ResumableLines(out, fingerprint)
    assert ResumableLines.state_of(out) is None  # nothing written yet: nothing to keep
    first.append(['{"id": 1}\n', '{"id": "a\u2028b"}\n'])
    first.close()
    with first.partial.open("ab") as torn:  # a chunk cut short by a kill: past the manifest's count
        torn.write(b'{"id": 3')
    with pytest.raises(UserError, match=r"left 2 records in .*\.out\.jsonl\.partial; add --resume"):
        ResumableLines(out, fingerprint)
    with pytest.raises(UserError, match=r"--resume with another batch size than the interrupted run \(it had batch size 32\)"):
        ResumableLines(out, {**fingerprint, "batch size": 8}, resume=True)
    second = ResumableLines(out, fingerprint, resume=True)
    assert second.records == 2 and second.done() == ['{"id": 1}\n', '{"id": "a\u2028b"}\n']
    second.append(['{"id": 3}\n'])
    manifest = second.manifest.read_bytes()
    second.close()
    write_files({tmp_path / "view.html": "<p>"}, renames={second.partial: out}, removals=(second.manifest,))
    assert out.read_text(encoding="utf-8") == '{"id": 1}\n{"id": "a\u2028b"}\n{"id": 3}\n'
    assert (tmp_path / "view.html").read_text() == "<p>" and not second.partial.exists()
    second.manifest.write_bytes(manifest)  # finish stopped between its rename and the manifest's removal
    assert ResumableLines.interrupted(out, resume=False) is None and not second.manifest.exists()
    with pytest.raises(UserError, match="--resume: no interrupted run of it to continue"):
        ResumableLines(out, fingerprint, resume=True)


@pytest.mark.skipif(importlib.util.find_spec("fcntl") is None, reason="no fcntl here (Windows): no lock to test")
def test_a_second_writer_of_the_same_output_is_refused_while_the_first_writes(tmp_path):
    """A scheduler's requeue with --resume while the first run still writes: the two would
    interleave their chunks (920 records for 648 articles, in the hunt that found it). Without
    --resume, the live run's records are no interrupted run's to delete and start over."""
    from arabic_ner.files import ResumableLines
    out, fingerprint = tmp_path / "out.jsonl", {"model": "m"}
    busy = r"out\.jsonl: another run is writing it now \(.*\.out\.jsonl\.partial is locked\)"
    with ResumableLines(out, fingerprint) as first:
        with pytest.raises(UserError, match=busy):  # before its first chunk too: not "no interrupted run"
            ResumableLines.interrupted(out, resume=True)
        first.append(['{"id": 1}\n'])
        for resume in (True, False):
            with pytest.raises(UserError, match=busy):
                ResumableLines.interrupted(out, resume)  # as predict.py checks, before any work
            with pytest.raises(UserError, match=busy):
                ResumableLines(out, fingerprint, resume=resume)
        first.append(['{"id": 2}\n'])
        assert first.done() == ['{"id": 1}\n', '{"id": 2}\n']
        write_files({}, renames={first.partial: out}, removals=(first.manifest,))  # named before the lock goes
    with ResumableLines(out, fingerprint) as second:  # the first has ended, its output named: a new run
        assert second.records == 0


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full here to fill a disk with")
def test_a_full_disk_is_one_line_and_keeps_what_was_written(tmp_path):
    """A chunk smaller than the file's buffer stays in it when the flush fails: closing the file
    tried it again and raised OSError over the one-line error."""
    from arabic_ner.files import ResumableLines
    out, fingerprint = tmp_path / "out.jsonl", {"model": "m"}
    with ResumableLines(out, fingerprint) as first:
        first.append(['{"id": 1}\n'])
    with pytest.raises(UserError, match=r"out\.jsonl: cannot write .*\(No space left on device\); what was written "
                                        r"before is kept: --resume continues it"):
        with ResumableLines(out, fingerprint, resume=True) as second:
            second.file.close()
            second.file = open("/dev/full", "ab")  # noqa: SIM115 (a disk that is full from here on)
            second.append(['{"id": 2}\n'])
    with ResumableLines(out, fingerprint, resume=True) as third:
        assert third.done() == ['{"id": 1}\n']


@pytest.mark.skipif(importlib.util.find_spec("fcntl") is None, reason="no fcntl here (Windows): no lock to test")
def test_locked_now_asks_the_lock_file_there_now(tmp_path, monkeypatch):
    """A partial output is renamed into place as its run ends: an asker that had opened the old file
    got its lock and answered "free" though a new run had started on a new partial file (its
    records would then be taken over or deleted by a second run)."""
    import arabic_ner.files as files
    path = tmp_path / ".run.arabic-ner-lock"
    path.write_text("", encoding="utf-8")
    real_lock, new_run = files.lock, []

    def the_run_ends_and_another_starts(file, *args, **kwargs):
        if not new_run:
            path.unlink()
            new_run.append(open(path, "a"))  # noqa: SIM115 (closed below)
            assert real_lock(new_run[0])
        return real_lock(file, *args, **kwargs)

    monkeypatch.setattr(files, "lock", the_run_ends_and_another_starts)
    assert files.locked_now(path)
    new_run[0].close()
    assert not files.locked_now(path)


@pytest.mark.skipif(importlib.util.find_spec("fcntl") is None, reason="no fcntl here (Windows): no lock to test")
def test_locked_now_says_whether_another_holder_has_the_lock(tmp_path):
    """One answer for every "is a live run using it?" (a run folder, a partial output): it reads
    only, so a lock file the asker may not write still answers."""
    from arabic_ner.files import lock, locked_now
    path = tmp_path / ".run.arabic-ner-lock"
    assert not locked_now(path)  # no file: nothing holds it, and none is created
    assert not path.exists()
    with open(path, "a") as holder:
        assert lock(holder)
        path.chmod(0o444)
        assert locked_now(path)
        with open(path, "rb") as second:
            assert not lock(second, shared=True)
    assert not locked_now(path)  # released as the holder closed
