"""No flag removes a folder that is not a run; every stop (Ctrl-C, SIGTERM, a full disk, a diverging
loss) leaves resumable state or nothing half written."""
import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from arabic_ner.config import load_config
from arabic_ner.errors import Stopped, UserError
from arabic_ner.files import swap_folders, write_files
from arabic_ner.run_folder import RUN_MARK
from arabic_ner.training import train
from conftest import ROOT, paragraph_corpus, tiny_args


def no_swap_left(run_dir: Path) -> bool:
    """No copy of `last/` or `best/` that a save writes or steps aside is left in the run folder."""
    return not any(folder.exists() for name in ("last", "best") for folder in swap_folders(run_dir / name))


def tiny(tiny_bert, corpus_dir, out, **extra):
    return load_config(ROOT / "configs" / "quickstart.yaml",
                       tiny_args(tiny_bert, corpus_dir, out, **{"train.epochs": "2", "data.test": "", **extra}))


# --- --overwrite removes run folders only -------------------------------------------------------

@pytest.mark.parametrize("layout", [
    {"notes.txt": "a user's file"},                      # any folder of the user's
    {"config.yaml": "x", "notes.txt": "y"},              # a config alone is not the mark of a run
    {"metrics.jsonl": "{}", "data.jsonl": "y"},          # nor a metrics file alone
    {"config.yaml": "run_name: mine\n"},                # a config of the user's own, alone
    {"config.yaml": "run_name: mine\n", "best": None},  # with a folder named like a run's
    # another tool's config and metrics (a logger's), with the user's results: not a run of train.py
    {"config.yaml": "lr: 0.001\n", "metrics.jsonl": '{"step": 1}\n', "results_final.csv": "weeks of work"},
    {"config.yaml": "lr: 0.001\n", "metrics.jsonl": '{"step": 1}\n', "last": None},
])
def test_overwrite_never_removes_a_folder_that_is_not_a_run(tiny_bert, corpus_dir, tmp_path, layout):
    folder = tmp_path / "tiny"
    folder.mkdir()
    for name, content in layout.items():
        (folder / name).mkdir() if content is None else (folder / name).write_text(content)
    for resume, overwrite in ((False, True), (False, False), (True, False)):
        with pytest.raises(UserError, match="is not a run folder written by train.py"):
            train(tiny(tiny_bert, corpus_dir, tmp_path), resume=resume, overwrite=overwrite)
    assert {p.name: None if p.is_dir() else p.read_text() for p in folder.iterdir()} == layout


def test_overwrite_never_follows_a_link(tiny_bert, corpus_dir, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "keep.txt").write_text("x")
    (tmp_path / "tiny").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UserError, match="is a link, not a run folder"):
        train(tiny(tiny_bert, corpus_dir, tmp_path), overwrite=True)
    assert (tmp_path / "elsewhere" / "keep.txt").exists()


@pytest.mark.parametrize("name", ["..", "."])
def test_dot_run_names_stop_before_any_work(tmp_path, name):
    """`--run_name .. --overwrite` once removed the folder above models/ (the clone itself)."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "keep.txt").write_text("x")
    result = subprocess.run([sys.executable, "train.py", "configs/quickstart.yaml", "--run_name", name,
                             "--output_dir", str(models), "--overwrite"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("error: 'run_name' must be one plain folder name")
    assert (models / "keep.txt").exists()


def test_overwrite_replaces_a_run(tiny_bert, corpus_dir, tmp_path):
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    (config.run_dir / "best" / "mine.txt").write_text("x")  # inside a run: the run's to replace
    train(config, overwrite=True)
    assert not (config.run_dir / "best" / "mine.txt").exists()


LAST_NEW, BEST_NEW = (swap_folders(Path(name))[0].name + "/" for name in ("last", "best"))  # a save cut short


@pytest.mark.parametrize("leftovers", [[], [LAST_NEW], [LAST_NEW, BEST_NEW], ["best/", LAST_NEW],
                                       ["best/", "metrics.jsonl"], ["metrics.jsonl"]])
def test_a_run_that_saved_nothing_restarts_without_overwrite(tiny_bert, corpus_dir, tmp_path, leftovers):
    """Killed before its first save of last/ (SIGKILL, power loss), a run folder holds config.yaml and
    maybe a save cut short, or best/ and metrics.jsonl of its first epochs without last/ (saved every
    few minutes): --resume starts it again (there is nothing to resume from), and so does a rerun,
    unless it would replace a best/ or the epochs' metrics: those only with --overwrite."""
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    config.run_dir.mkdir()
    (config.run_dir / "config.yaml").write_text(RUN_MARK + "run_name: tiny\n")
    for name in leftovers:
        if name.endswith("/"):
            (config.run_dir / name).mkdir()
            (config.run_dir / name / "model.safetensors").write_bytes(b"half")
        else:
            (config.run_dir / name).write_text('{"epoch": 1}\n')
    kept = {"best/", "metrics.jsonl"} & set(leftovers)
    if kept:
        before = sorted(p.name for p in config.run_dir.iterdir())
        with pytest.raises(UserError, match="stopped before its first save of last/, so nothing to resume from; "
                                            "pass --overwrite"):
            train(config)
        assert sorted(p.name for p in config.run_dir.iterdir()) == before
    for resume in (False, True):
        summary = train(config, resume=resume, overwrite=bool(kept) and not resume)
        assert summary["best_epoch"] == 1 and no_swap_left(config.run_dir)
        for path in config.run_dir.iterdir():  # back to "saved nothing" for the --resume round
            if path.name != "config.yaml":
                shutil.rmtree(path) if path.is_dir() else path.unlink()


def test_a_swap_cut_between_its_renames_is_finished(tiny_bert, corpus_dir, tmp_path):
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    (config.run_dir / "last").rename(swap_folders(config.run_dir / "last")[1])  # the crash fell right after this
    train(replace(config, train=replace(config.train, epochs=2)), resume=True)
    assert (config.run_dir / "last").is_dir() and no_swap_left(config.run_dir)
    assert len((config.run_dir / "metrics.jsonl").read_text().splitlines()) == 2
    mask = os.umask(0)
    os.umask(mask)  # safetensors writes 0600: a model unreadable to a server run as another user
    assert (config.run_dir / "best" / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~mask


# --- stops: SIGTERM like Ctrl-C ---------------------------------------------------------------------

def _start(args, log):
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, stderr=log, stdout=subprocess.DEVNULL, text=True)


def _wait_for(predicate, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and not predicate() and proc.poll() is None:
        time.sleep(0.1)


def test_sigterm_in_the_first_epoch_saves_state_and_resumes(tiny_bert, corpus_dir, tmp_path):
    """A scheduler's SIGTERM once saved nothing: killed in epoch 1, the folder held only config.yaml."""
    args = ["train.py", "configs/quickstart.yaml",
            *tiny_args(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "3", "train.batch_size": "1",
                                                            "data.test": ""})]
    log_file = tmp_path / "train.log"
    with log_file.open("w") as log:
        proc = _start(args, log)
        _wait_for(lambda: "epoch 1/3" in log_file.read_text(), proc)  # the first batches are under way
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    err = log_file.read_text()
    assert proc.returncode == 143, err[-2000:]
    assert "interrupted: state saved" in err and "Traceback" not in err
    assert (tmp_path / "tiny" / "last" / "training_state.pt").exists()
    result = subprocess.run([sys.executable, *args, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {tmp_path / 'tiny'} at epoch" in result.stderr
    epochs = [json.loads(line)["epoch"] for line in (tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


def test_sigterm_stops_predict_with_no_output(trained, tmp_path):
    config, _ = trained
    article = tmp_path / "big.txt"
    article.write_text("قتل تنظيم داعش خمسة جنود في بغداد.\n" * 20000, encoding="utf-8")
    out, html = tmp_path / "out.jsonl", tmp_path / "view.html"
    log_file = tmp_path / "predict.log"
    with log_file.open("w") as log:
        proc = _start(["predict.py", str(config.run_dir / "best"), str(article), "-o", str(out), "--html", str(html),
                       "--no-compile"], log)
        _wait_for(lambda: "article" in log_file.read_text(), proc)  # its progress bar: tagging has begun
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    assert proc.returncode == 143, log_file.read_text()[-2000:]
    assert "interrupted" in log_file.read_text() and "Traceback" not in log_file.read_text()
    assert not out.exists() and not html.exists() and not list(tmp_path.glob("*.tmp"))


@pytest.fixture
def archive(tmp_path):
    """1,000 short articles in a JSONL file: 1,000 chunks at --chunk-words 10, long enough to stop
    mid-way; a field holds U+2028, which JSON leaves unescaped and str.splitlines splits at."""
    lines = [json.dumps({"id": i, "text": f"قتل تنظيم داعش {i} جنود في بغداد. اعلنت القوات الامنية اعتقال عنصرين.",
                         "note": "سطر\u2028سطر"}, ensure_ascii=False) for i in range(1000)]
    path = tmp_path / "archive.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _predict_here(monkeypatch, *args) -> int:
    """predict.py's main in this process (no second start-up of torch): its exit status."""
    from arabic_ner.cli.predict import main
    monkeypatch.setattr(sys, "argv", ["predict.py", *map(str, args)])
    return main()


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGTERM])
def test_predict_resumes_after_a_stop_to_the_same_bytes(trained, archive, tmp_path, monkeypatch, capsys, stop):
    config, _ = trained
    command = ["predict.py", str(config.run_dir / "best"), str(archive), "--chunk-words", "10", "--no-compile"]
    whole, out = tmp_path / "whole.jsonl", tmp_path / "out.jsonl"
    assert _predict_here(monkeypatch, *command[1:], "-o", whole, "--html", tmp_path / "whole.html") == 0
    manifest = tmp_path / ".out.jsonl.partial.json"
    written = lambda: manifest.exists() and json.loads(manifest.read_text() or "{}").get("records", 0) >= 20
    log_file = tmp_path / "predict.log"
    with log_file.open("w") as log:
        proc = _start([*command, "-o", str(out)], log)
        _wait_for(written, proc)
        proc.send_signal(stop)
        proc.wait(timeout=300)
    assert proc.returncode == (-9 if stop == signal.SIGKILL else 143), log_file.read_text()[-2000:]
    assert not out.exists() and 20 <= json.loads(manifest.read_text())["records"] < 1000
    if stop == signal.SIGTERM:
        assert "the same command with --resume continues" in log_file.read_text()
    with pytest.raises(UserError, match="add --resume to continue it"):  # never overwritten unasked
        _predict_here(monkeypatch, *command[1:], "-o", out)
    with pytest.raises(UserError, match="--resume with another batch size than the interrupted run"):
        _predict_here(monkeypatch, *command[1:], "-o", out, "--resume", "--batch-size", "3")
    capsys.readouterr()
    # the whole-file outputs take the interrupted run's entities from its partial file
    assert _predict_here(monkeypatch, *command[1:], "-o", out, "--resume", "--html", tmp_path / "out.html") == 0
    assert "from the interrupted run" in capsys.readouterr().err
    assert out.read_bytes() == whole.read_bytes()
    assert (tmp_path / "out.html").read_bytes() == (tmp_path / "whole.html").read_bytes()
    assert not manifest.exists() and not (tmp_path / ".out.jsonl.partial").exists()


def test_predict_resume_needs_an_interrupted_run(trained, archive, tmp_path, monkeypatch):
    config, _ = trained
    with pytest.raises(UserError, match="--resume: no interrupted run of it to continue"):
        _predict_here(monkeypatch, config.run_dir / "best", archive, "-o", tmp_path / "out.jsonl", "--resume")


def _raise_on(calls: dict, n: int, exc: BaseException):
    def hook(*_):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
    return hook


def test_a_stop_while_writing_leaves_no_output(tmp_path, monkeypatch):
    """The outputs of one command appear all together or not at all."""
    calls = {"n": 0}
    real = Path.write_text

    def write_text(self, *args, **kwargs):
        _raise_on(calls, 2, Stopped(signal.SIGTERM))()
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Path, "write_text", write_text)
    with pytest.raises(Stopped):
        write_files({tmp_path / "a.jsonl": "a", tmp_path / "b.html": "b"})
    assert list(tmp_path.iterdir()) == []


def test_a_stop_while_renaming_waits_until_every_output_is_in_place(tmp_path, monkeypatch):
    calls = {"n": 0}
    real = Path.replace
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(Stopped(signum)))

    def replace(self, target):
        calls["n"] += 1
        if calls["n"] == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # held back until both files are in place
        return real(self, target)
    monkeypatch.setattr(Path, "replace", replace)
    try:
        with pytest.raises(Stopped):
            write_files({tmp_path / "a.jsonl": "a", tmp_path / "b.html": "b"})
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", "b.html"]


def test_sigterm_in_crossval_then_resume_keeps_finished_runs(tiny_bert, corpus_dir, records, tmp_path):
    corpus = paragraph_corpus(tmp_path / "all.jsonl", records * 2)
    args = ["eval/crossval.py", "configs/quickstart.yaml", "--corpus", str(corpus), "--folds", "3", "--seeds", "1",
            *tiny_args(tiny_bert, corpus_dir, tmp_path, splits=False, **{"train.epochs": "40", "train.batch_size": "1"})]
    runs = tmp_path / "tiny-cv" / "runs.jsonl"
    log_file = tmp_path / "cv.log"
    with log_file.open("w") as log:
        proc = _start(args, log)
        _wait_for(lambda: runs.exists() and runs.read_text().count("\n") >= 1, proc)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=300)
    assert proc.returncode == 143, log_file.read_text()[-2000:]
    first = runs.read_text().splitlines()
    assert 1 <= len(first) < 3
    again = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "already holds a cross-validation; pass --resume" in again.stderr
    result = subprocess.run([sys.executable, *args, "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    final = runs.read_text().splitlines()
    assert final[:len(first)] == first and len(final) == 3
    assert [json.loads(line)["name"] for line in final] == ["fold0-seed0", "fold1-seed0", "fold2-seed0"]


# --- faults while training ---------------------------------------------------------------------------

def test_a_full_disk_while_saving_keeps_the_previous_last(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    import torch

    import arabic_ner.checkpoint as checkpoint

    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "3", "train.save_minutes": "0"})  # last/ each epoch
    calls = {"n": 0}
    real = torch.save

    def save(obj, path, *args, **kwargs):
        if Path(path).name == checkpoint.STATE_FILE:
            calls["n"] += 1
            if calls["n"] == 2:  # last/ of epoch 2
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path, *args, **kwargs)
    monkeypatch.setattr(checkpoint.torch, "save", save)
    with pytest.raises(UserError, match=r"cannot save .*last \(\[Errno 28\] No space left on device\); the "
                                        r"previous last/ is kept as it was; fix that \(free some space\?\) and continue with --resume"):
        train(config)
    monkeypatch.setattr(checkpoint.torch, "save", real)
    assert no_swap_left(config.run_dir)
    progress = torch.load(config.run_dir / "last" / checkpoint.STATE_FILE, weights_only=False)["progress"]
    assert progress["epoch"] == 1
    assert train(config, resume=True)["best_epoch"] >= 1
    assert [json.loads(line)["epoch"] for line in (config.run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_full_disk_in_a_small_file_of_a_save_is_one_line_too(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    """The project's own writer (config.yaml, the model card) says a full disk as a UserError: the
    save still cleans up and says what is kept (under several processes, all of them stop)."""
    import arabic_ner.checkpoint as checkpoint
    from arabic_ner.files import write_files as real

    calls = {"n": 0}

    def card(folder, *args):
        calls["n"] += 1
        if calls["n"] == 3:  # epoch 2's save
            real({Path(folder) / "README.md": "x" * 10})  # a real write first, then the disk is full
            raise UserError(f"{folder}/README.md: cannot write (No space left on device)")
        return checkpoint_card(folder, *args)
    checkpoint_card = checkpoint.write_model_card
    monkeypatch.setattr(checkpoint, "write_model_card", card)
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "3", "train.save_minutes": "0"})
    with pytest.raises(UserError, match=r"cannot save .*\((.*)No space left on device\)\); the previous"):
        train(config)
    assert no_swap_left(config.run_dir) and (config.run_dir / "last").is_dir()


def test_a_diverging_loss_stops_with_one_line(tiny_bert, corpus_dir, tmp_path):
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.lr": "1e30", "train.epochs": "5",
                                                     "train.warmup_ratio": "0", "train.max_grad_norm": "1e30"})
    with pytest.raises(UserError, match=r"train loss is not finite \((nan|inf)\) at epoch \d, batch \d+: "
                                        r"training diverged; lower train.lr"):
        train(config)
    metrics = config.run_dir / "metrics.jsonl"
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in metrics.jsonl"))


def test_a_corpus_of_empty_texts_is_one_line(tiny_bert, corpus_dir, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"id": "a", "text": "", "entities": []}\n{"id": "b", "text": "  ", "entities": []}\n')
    with pytest.raises(UserError, match=r"empty.jsonl: no words to train on \(every text of its 2 records is empty\)"):
        train(tiny(tiny_bert, corpus_dir, tmp_path, **{"data.train": str(empty)}))


def test_max_length_beyond_the_encoder_is_one_line(tiny_bert, corpus_dir, tmp_path):
    with pytest.raises(UserError, match=r"'model.max_length' is 4096, but .* reads at most 128 subwords per window"):
        train(tiny(tiny_bert, corpus_dir, tmp_path, **{"model.max_length": "4096"}))
    assert not (tmp_path / "tiny").exists()


@pytest.mark.parametrize("layout", ["folder", "link", "file"])
def test_the_offline_encoder_never_replaces_what_it_did_not_build(tmp_path, layout):
    """`python -m arabic_ner offline-encoder --out data` once renamed data/ aside and deleted it."""
    target, mine = tmp_path / "data", tmp_path / "mine"
    mine.mkdir()
    (mine / "keep.jsonl").write_text("x")
    if layout == "folder":
        target = mine
    elif layout == "link":
        target.symlink_to(mine)
    else:
        target.write_text("x")
    result = subprocess.run([sys.executable, "-m", "arabic_ner", "offline-encoder", "--out", str(target)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert (mine / "keep.jsonl").read_text() == "x"


def finished_run(fold: int, entity_types: list[str], **fields) -> dict:
    """A line of runs.jsonl as a finished run writes it, test F1 0.5 everywhere."""
    scores = {"f1": 0.5, "per_type": {t: {"f1": 0.5} for t in entity_types}}
    return {"name": f"fold{fold}-seed0", "fold": fold, "seed": 42, "test": {**scores, "char": scores}, **fields}


def test_crossval_resume_ignores_the_silver_section_but_not_a_training_setting(tmp_path):
    """Self-training's `silver:` settings never reach a cross-validation run: a plan written with
    them (or with other ones) is continued; a changed training setting is not."""
    from arabic_ner.config import Config, to_dict
    from arabic_ner.crossval import _runs_so_far

    def plan(**sections):
        config = to_dict(Config())
        for section, values in sections.items():
            config[section] = {**config[section], **values}
        return {"corpus": "c.jsonl", "folds": 5, "seeds": 1, "group_by": "story", "also_train": [], "config": config}

    (tmp_path / "runs.jsonl").write_text(json.dumps(finished_run(0, Config().entity_types)) + "\n")
    (tmp_path / "plan.json").write_text(json.dumps(plan(silver={"rounds": 7, "articles": ["x.jsonl"]})))
    now = plan()
    del now["config"]["silver"]
    assert list(_runs_so_far(tmp_path, now, resume=True, overwrite=False, log=print)) == ["fold0-seed0"]
    # nor do a config's data splits: each fold replaces them (editing them in the config changes no run)
    assert list(_runs_so_far(tmp_path, plan(data={"train": ["other.jsonl"], "test": []}), resume=True,
                             overwrite=False, log=print)) == ["fold0-seed0"]
    with pytest.raises(UserError, match=r"continues \(config\.train\.lr: 5e-05 there, 1\.0 now\); resume with "
                                        r"those of its plan\.json"):
        _runs_so_far(tmp_path, plan(train={"lr": 1.0}), resume=True, overwrite=False, log=print)
    # a plan written before a setting existed was run as config.BEFORE_ADDED says, not at today's default
    before = plan()
    del before["config"]["train"]["fast_dropout"]
    (tmp_path / "plan.json").write_text(json.dumps(before))
    with pytest.raises(UserError, match=r"continues \(config\.train\.fast_dropout: False there, True now\)"):
        _runs_so_far(tmp_path, plan(), resume=True, overwrite=False, log=print)
    assert list(_runs_so_far(tmp_path, plan(train={"fast_dropout": False}), resume=True, overwrite=False,
                             log=print)) == ["fold0-seed0"]
    (tmp_path / "plan.json").write_text(json.dumps(plan()))
    # the changed setting is what is said, not the kept runs' scores it makes unreadable (--rescore
    # would then fail on the setting all the same)
    old = finished_run(0, Config().entity_types)
    del old["test"]["char"]
    (tmp_path / "runs.jsonl").write_text(json.dumps(old) + "\n")
    with pytest.raises(UserError, match=r"continues \(config\.train\.lr: 5e-05 there, 1\.0 now\); resume with "
                                        r"those of its plan\.json"):
        _runs_so_far(tmp_path, plan(train={"lr": 1.0}), resume=True, overwrite=False, log=print)


def test_crossval_resume_leaves_out_a_cut_last_line_and_names_a_damaged_one(tmp_path):
    """A stop (kill -9, a full disk) while a run's line was appended leaves it cut: --resume keeps
    the runs before it and trains that one again; a damaged line elsewhere is named, file and line."""
    from arabic_ner.crossval import _runs_so_far

    plan = {"corpus": "c.jsonl", "folds": 5, "seeds": 1, "group_by": "story", "config": {"entity_types": ["A"]}}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    whole = json.dumps(finished_run(0, ["A"])) + "\n"
    cut = json.dumps(finished_run(1, ["A"]))[:-20]
    (tmp_path / "runs.jsonl").write_text(whole + cut)
    said = []
    assert list(_runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)) == ["fold0-seed0"]
    assert said == [f"{tmp_path / 'runs.jsonl'}:2: a cut last line (a stop while a run was recorded), left out: "
                    f"that run is trained again"]
    (tmp_path / "runs.jsonl").write_text(cut + "\n" + whole)
    with pytest.raises(UserError, match=r"runs\.jsonl:1: not valid JSON"):
        _runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)
    (tmp_path / "runs.jsonl").write_text(whole + "5\n")
    with pytest.raises(UserError, match=r"runs\.jsonl:2: not a finished run"):
        _runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)
    # test scores without the character-exact ones (a version before them) are named now, not after
    # the runs still to train; --rescore replaces them from the kept models
    without_char = finished_run(0, ["A"])
    del without_char["test"]["char"]
    (tmp_path / "runs.jsonl").write_text(json.dumps(without_char) + "\n")
    with pytest.raises(UserError, match=r"runs\.jsonl:1: not a run with test F1 per type of A, character-exact"):
        _runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)
    assert list(_runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append, rescore=True)) == [
        "fold0-seed0"]
    (tmp_path / "plan.json").write_text("[1]")
    with pytest.raises(UserError, match=r"plan\.json: not a cross-validation plan"):
        _runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)
    (tmp_path / "plan.json").unlink()
    with pytest.raises(UserError, match=r"plan\.json: missing beside .*runs\.jsonl; pass --overwrite"):
        _runs_so_far(tmp_path, plan, resume=True, overwrite=False, log=said.append)


def test_a_stop_while_a_model_loads_is_a_stop_once_it_has_loaded(tiny_bert, monkeypatch):
    """SIGTERM landing inside transformers' loading contexts (torch function modes) came out once as
    "RuntimeError: trying to pop from empty mode stack" and a traceback (crossval, between two runs:
    a race, not reproduced here); held until the model is loaded, it is the stop it was."""
    from transformers import BertForTokenClassification

    from arabic_ner.errors import _raise_stop
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder

    built = []
    original = BertForTokenClassification.__init__

    def init_then_stop(self, *args, **kwargs):  # inside from_pretrained's contexts
        original(self, *args, **kwargs)
        built.append(True)
        signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(BertForTokenClassification, "__init__", init_then_stop)
    previous = signal.signal(signal.SIGTERM, _raise_stop)  # as run_cli sets it
    try:
        with pytest.raises(Stopped) as stop:
            load_encoder(str(tiny_bert), LabelSet(["ARMED_GROUP"]), 0.1, 0.0)
    finally:
        signal.signal(signal.SIGTERM, previous)
    # raised once loading has returned (from held_stops), not inside the model's __init__
    assert built and stop.value.exit_status == 143
    assert "init_then_stop" not in [entry.name for entry in stop.traceback]


# --- a damaged last/ or best/ -----------------------------------------------------------------------

def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


@pytest.mark.parametrize("damage, error", [
    (lambda run: _cut(run / "last" / "model.safetensors"), "last: damaged, cannot resume from it"),
    (lambda run: (run / "last" / "model.safetensors").unlink(), "last: damaged, cannot resume from it"),
    (lambda run: _cut(run / "last" / "training_state.pt"), "last: damaged, cannot resume from it"),
    (lambda run: (run / "last" / "training_state.pt").write_bytes(b""), "last: damaged, cannot resume from it"),
    (lambda run: _cut(run / "last" / "rng_0.pt"), "last: damaged, cannot resume from it"),
    (lambda run: shutil.rmtree(run / "best"), "best: missing or damaged"),
    (lambda run: (run / "best" / "scores.json").write_text('{"epoch": '), "best/scores.json: not valid JSON"),
])
def test_a_damaged_run_is_one_line_before_any_training(tiny_bert, corpus_dir, tmp_path, damage, error):
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    damage(config.run_dir)
    metrics = (config.run_dir / "metrics.jsonl").read_text()
    with pytest.raises(UserError, match=error) as raised:
        train(replace(config, train=replace(config.train, epochs=2)), resume=True)
    assert "\n" not in str(raised.value) and (config.run_dir / "metrics.jsonl").read_text() == metrics


def test_a_lost_random_state_is_said_on_resume(tiny_bert, corpus_dir, tmp_path, capsys):
    """Without rng_0.pt the run goes on, but it is no longer the uninterrupted run's replay."""
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    (config.run_dir / "last" / "rng_0.pt").unlink()
    capsys.readouterr()
    train(replace(config, train=replace(config.train, epochs=2)), resume=True)
    assert "rng_0.pt is missing: the resumed run draws other random numbers" in capsys.readouterr().err


@pytest.mark.parametrize("split", ["train", "dev"])
def test_resume_after_the_data_changed_in_place_is_one_line(tiny_bert, corpus_dir, tmp_path, split):
    """The same file names, other records: the rest of the run would train on other data than its start."""
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_dir, corpus)
    config = tiny(tiny_bert, corpus, tmp_path, **{"train.epochs": "1"})
    train(config)
    path = Path(getattr(config.data, split)[0])
    path.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:2]), encoding="utf-8")
    with pytest.raises(UserError, match=f"{path}: changed since the run started \\(data.{split}\\)"):
        train(replace(config, train=replace(config.train, epochs=2)), resume=True)


def test_a_swap_cut_short_by_the_code_of_before_is_finished_and_a_backup_kept(tiny_bert, corpus_dir, tmp_path):
    """The swap folders were `last.tmp`/`last.old` until 2026-12-06: a crash between that code's renames
    left those and no `last/`, and --resume then advised --overwrite, which deleted both checkpoints.
    A `best.old` beside `best/` is a user's backup, not a swap: kept."""
    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    run = config.run_dir
    shutil.copytree(run / "last", run / "last.tmp")
    (run / "last").rename(run / "last.old")
    shutil.copytree(run / "best", run / "best.old")
    train(replace(config, train=replace(config.train, epochs=2)), resume=True)
    assert (run / "last").is_dir() and not (run / "last.old").exists() and not (run / "last.tmp").exists()
    assert (run / "best.old").is_dir() and no_swap_left(run)
    assert len((run / "metrics.jsonl").read_text().splitlines()) == 2
    (run / "best").rename(run / "mine")  # `mv best best.old` of a user, the one before moved away first
    shutil.rmtree(run / "best.old")
    (run / "mine").rename(run / "best.old")
    with pytest.raises(UserError, match=r"best: missing or damaged .*; restore it, or start again with --overwrite"):
        train(replace(config, train=replace(config.train, epochs=3)), resume=True)
    assert (run / "best.old").is_dir() and not (run / "best").exists()  # not taken for the run's best/


def test_a_second_training_of_a_folder_in_use_is_refused(tiny_bert, corpus_dir, tmp_path):
    """The same command twice (or a scheduler's requeue while the first still ran): with --overwrite
    the second deleted the first's folder under it, and both failed, leaving neither to resume."""
    from arabic_ner.run_folder import run_lock

    config = tiny(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(config)
    before = sorted(p.name for p in config.run_dir.iterdir())
    with run_lock(config.run_dir):  # as the first training holds it while it runs
        for resume, overwrite in ((False, True), (True, False)):
            with pytest.raises(UserError, match=rf"^{config.run_dir}: another training runs in it now \(.*\.tiny\."
                                                r"arabic-ner-lock is locked\); wait for it to end or stop it"):
                train(config, resume=resume, overwrite=overwrite)
    assert sorted(p.name for p in config.run_dir.iterdir()) == before
    assert train(config, overwrite=True)["best_epoch"] == 1  # the lock goes with the run
    assert sorted(p.name for p in config.run_dir.parent.iterdir()) == [config.run_dir.name]  # and its file


@pytest.mark.skipif(importlib.util.find_spec("fcntl") is None, reason="no fcntl here (Windows): no lock to test")
def test_a_finished_run_leaves_no_lock_file_beside_its_folder(tmp_path, monkeypatch):
    """Each run left its `.<name>.arabic-ner-lock` beside its folder: the cross-validation records
    copied into docs/cv carried one a run. Where nothing locks (Windows), no file is made at all."""
    import arabic_ner.run_folder as run_folder

    run = tmp_path / "run"
    run.mkdir()
    for _ in range(2):  # the second takes a new file
        with run_folder.run_lock(run):
            assert run_folder._lock_file(run).exists()
        assert [p.name for p in tmp_path.iterdir()] == ["run"]
    with run_folder.run_lock(run):
        run_folder._lock_file(run).unlink()  # removed by hand while the run went on,
        run_folder._lock_file(run).write_text("", encoding="utf-8")  # and another run's made since: not removed
    assert run_folder._lock_file(run).exists()
    made = tmp_path / "made" / "run"
    with run_folder.run_lock(made):  # the same in an output folder made for the lock: both stay
        run_folder._lock_file(made).unlink()
        run_folder._lock_file(made).write_text("", encoding="utf-8")
    assert run_folder._lock_file(made).exists()
    monkeypatch.setattr(run_folder, "LOCKS", False)
    with run_folder.run_lock(tmp_path / "new" / "run"):
        assert not (tmp_path / "new").exists()


def test_a_training_into_an_output_folder_not_made_yet_is_guarded_too(tiny_bert, corpus_dir, tmp_path):
    """Two first runs of one command into a new --output_dir ran unguarded: the lock lives beside the
    run folder, in the output folder, which did not exist yet."""
    from arabic_ner.run_folder import _lock_file, run_lock

    config = tiny(tiny_bert, corpus_dir, tmp_path,
                  **{"train.epochs": "1", "output_dir": str(tmp_path / "new" / "runs")})
    with run_lock(config.run_dir):  # as the first training holds it while it runs
        with pytest.raises(UserError, match=rf"^{config.run_dir}: another training runs in it now"):
            train(config)
        assert _lock_file(config.run_dir).exists()  # the refused run removes nothing of the holder's
    assert not (tmp_path / "new").exists()  # made for the lock, and gone with it: nothing was written
    assert train(config)["best_epoch"] == 1 and (config.run_dir / "best").is_dir()


def test_a_lock_taken_on_a_lock_file_removed_meanwhile_is_taken_again(tmp_path, monkeypatch):
    """The holder of a lock in a folder made for it removes both as it ends, if its run wrote
    nothing: a run that opened the file just before holds a lock on a file no one else can see."""
    import arabic_ner.run_folder as run_folder

    taken = []

    def removed_as_it_is_locked(file, *args, **kwargs):
        taken.append(file.name)
        if len(taken) == 1:
            Path(file.name).unlink()  # the holder before ended, and removed it
        return True

    monkeypatch.setattr(run_folder, "lock", removed_as_it_is_locked)
    with run_folder.run_lock(tmp_path / "out" / "run"):
        assert run_folder._lock_file(tmp_path / "out" / "run").exists()
    assert len(taken) == 2 and not (tmp_path / "out").exists()


def test_a_legacy_swap_another_process_finished_first_is_no_error(tmp_path, monkeypatch):
    """Under torchrun every process checks the run folder: the one that renames a swap of the code
    before second found it gone (a FileNotFoundError traceback), though the first had finished it."""
    from arabic_ner.files import recover_swap
    from arabic_ner.run_folder import RUN_MARK, _adopt_legacy_swaps
    run = tmp_path / "run"
    (run / "last.tmp").mkdir(parents=True)
    (run / "last.old").mkdir()
    (run / "config.yaml").write_text(RUN_MARK + "run_name: run\n", encoding="utf-8")
    rename, others = Path.rename, []

    def another_process_first(self, target):
        if not others:  # the other process, a moment before: both renames, then the swap finished
            others.append(run)
            rename(run / "last.tmp", run / ".last.arabic-ner-new")
            rename(run / "last.old", run / ".last.arabic-ner-old")
            recover_swap(run / "last")
        return rename(self, target)
    monkeypatch.setattr(Path, "rename", another_process_first)
    _adopt_legacy_swaps(run)
    assert sorted(p.name for p in run.iterdir()) == [".last.arabic-ner-old", "config.yaml", "last"]
    (run / "last").rename(run / "last.tmp")
    (run / ".last.arabic-ner-old").rename(run / "last.old")

    def refused(self, target):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "rename", refused)
    with pytest.raises(PermissionError):  # a rename that fails with its source still there: no race, its error stands
        _adopt_legacy_swaps(run)
