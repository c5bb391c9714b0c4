"""End to end on a tiny BERT built in the test: train, save, reload with transformers, predict."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from arabic_ner.config import Config, load_config
from arabic_ner.errors import UserError
from arabic_ner.training import train
from conftest import (ROOT, TWO_CPU_PROCESSES, Cleared, assert_replayed_exactly, paragraph_corpus, refused_while_clearing,
                      run_here, tiny_args)


def test_run_folder(trained):
    config, summary = trained
    run = config.run_dir
    for name in ("config.yaml", "metrics.jsonl", "metrics.json", "best/model.safetensors", "last/model.safetensors",
                 "best/arabic_ner.json", "best/README.md", "last/training_state.pt"):
        assert (run / name).exists(), name
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == list(range(1, 13))
    assert epochs[-1]["train_loss"] < epochs[0]["train_loss"]
    assert summary["dev_f1"] == max(e["dev"]["char"]["f1"] for e in epochs)  # selected on character-exact F1
    # train == dev == test here: a model that learns anything memorises these six sentences
    assert summary["test"]["f1"] > 0.8
    assert load_config(run / "config.yaml") == config
    card = (run / "best" / "README.md").read_text()
    assert "CASUALTY" in card and "test: F1" in card


def test_saved_labels_are_the_declared_tag_set(trained):
    config, _ = trained
    saved = json.loads((config.run_dir / "best" / "config.json").read_text())
    assert saved["id2label"] == {"0": "O", "1": "B-ARMED_GROUP", "2": "I-ARMED_GROUP", "3": "B-SECURITY_UNIT",
                                 "4": "I-SECURITY_UNIT", "5": "B-CASUALTY", "6": "I-CASUALTY"}


def test_transformers_pipeline_loads_model_best(trained):
    from transformers import pipeline

    config, _ = trained
    ner = pipeline("token-classification", model=str(config.run_dir / "best"), aggregation_strategy="first")
    found = {(e["word"], e["entity_group"]) for e in ner("قتل تنظيم داعش خمسة جنود في بغداد")}
    assert ("خمسة جنود", "CASUALTY") in found


def test_predictor_gives_exact_raw_offsets(trained):
    from arabic_ner.predictor import Predictor

    config, _ = trained
    article = "قُتِلَ تنظيـــم داعش خمسة جنود في بغداد.\n\nاعلنت القوات الامنية اعتقال عنصرين من داعش"
    entities, = Predictor.from_folder(config.run_dir / "best").predict([article])
    assert entities, "the memorised sentences should yield entities"
    for e in entities:
        assert article[e["start"]:e["end"]] == e["text"] and 0 < e["score"] <= 1
    assert {"text": "القوات الامنية", "label": "SECURITY_UNIT"} in [
        {"text": e["text"], "label": e["label"]} for e in entities]


def run(*args, env=None):
    """A command's result: in this process (run_here) unless it needs environment variables of its own."""
    if env is None:
        return run_here(*args)
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_cli_evaluate_and_predict(trained, corpus_dir, tmp_path):
    config, _ = trained
    best = str(config.run_dir / "best")
    result = run("eval/evaluate.py", best, str(corpus_dir / "test.jsonl"), "--out", str(tmp_path / "eval"))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["support"] == 11 and metrics["f1_ci95"][0] <= metrics["f1"] <= metrics["f1_ci95"][1]
    assert {"errors.jsonl", "errors.md", "report.md"} <= {p.name for p in (tmp_path / "eval").iterdir()}
    assert "Strict entity F1" in result.stdout
    (tmp_path / "a.txt").write_text("قتل تنظيم داعش خمسة جنود في بغداد", encoding="utf-8")
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\x00binary")
    out = tmp_path / "out.jsonl"
    result = run("predict.py", best, str(tmp_path / "a.txt"), str(tmp_path / "bad.txt"), "-o", str(out))
    assert result.returncode == 1 and "skipped" in result.stderr and "bad.txt" in result.stderr
    line, = out.read_text(encoding="utf-8").splitlines()
    assert json.loads(line)["entities"]


def test_unknown_label_in_data_is_an_error(tiny_bert, corpus_dir, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "text": "داعش", "entities": [{"start": 0, "end": 4, "label": "PER"}]}) + "\n")
    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **{"data.train": str(bad)}))
    with pytest.raises(UserError, match=r"bad.jsonl:1 \(id x\): label 'PER' is not in the tag set"):
        train(config)
    conll = tmp_path / "bad.tsv"  # CoNLL: the line of the tag, as for JSONL
    conll.write_text("داعش\tB-ARMED_GROUP\n\nقتل\tO\nبغداد\tB-LOC\n", encoding="utf-8")
    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **{"data.train": str(conll)}))
    with pytest.raises(UserError, match=r"bad.tsv:4: label 'LOC' is not in the tag set \(ARMED_GROUP, CASUALTY"):
        train(config)


def test_existing_run_is_not_overwritten_silently(trained, tiny_bert, corpus_dir):
    config, _ = trained
    again = load_config(None, tiny_args(tiny_bert, corpus_dir, config.output_dir))
    with pytest.raises(UserError, match="already holds a run; pass --resume"):
        train(again)


def test_arabert_offline_fails_with_one_clear_line(corpus_dir):
    result = run("train.py", "configs/arabert.yaml", "--data.train", str(corpus_dir / "train.jsonl"),
                 "--data.dev", str(corpus_dir / "dev.jsonl"), "--data.test", "", "--output_dir", "/tmp/unused",
                 env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2
    assert "cannot load model 'aubmindlab/bert-base-arabertv02'" in result.stderr
    assert "--model.name_or_path" in result.stderr and "Traceback" not in result.stderr


def test_unreachable_hub_fails_at_once_without_retries(monkeypatch, capfd):
    from arabic_ner.model import load_tokenizer

    for name in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    started = time.time()
    with pytest.raises(UserError, match="the model hub could not be reached"):
        load_tokenizer("arabic-ner-tests/no-such-model")  # never in a local cache either
    assert time.time() - started < 10 and "Retrying" not in capfd.readouterr().err


def test_ctrl_c_saves_last_and_resume_continues(tiny_bert, corpus_dir, tmp_path):
    args = ["train.py", "configs/quickstart.yaml",
            *tiny_args(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "500", "train.batch_size": "1",
                                                            "data.test": ""})]
    log = tmp_path / "train.log"  # a file, not a pipe: a full pipe would block the child's progress bars
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, stderr=stderr, text=True)
        state = tmp_path / "tiny" / "metrics.jsonl"
        deadline = time.time() + 300
        while time.time() < deadline and (not state.exists() or len(state.read_text().splitlines()) < 2):
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=300)
    err = log.read_text()
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted: state saved" in err
    import torch

    progress = torch.load(tmp_path / "tiny" / "last" / "training_state.pt", weights_only=False)["progress"]
    assert progress["epoch"] >= 2
    done = len(state.read_text().splitlines())
    result = run(*args[:-2], "--train.epochs", str(done + 1), "--data.test", "", "--resume")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"resuming {tmp_path / 'tiny'} at epoch" in result.stderr
    assert len(state.read_text().splitlines()) >= done + 1


def test_interrupt_mid_epoch_then_resume_replays_the_run_exactly(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    """Ctrl-C arrives in the middle of a forward pass (dropout half drawn); the resumed run must end
    with the very weights and losses of a run never interrupted."""
    import torch

    import arabic_ner.training as training
    from arabic_ner.training import Interrupted

    def config(name):
        return load_config(ROOT / "configs" / "quickstart.yaml", tiny_args(
            tiny_bert, corpus_dir, tmp_path, run_name=name, **{"train.epochs": "3", "train.batch_size": "1",
                                                                "data.test": "", "model.dropout": "0.3"}))

    whole = config("whole")
    train(whole)

    calls = {"n": 0}
    load_encoder = training.load_encoder

    def interrupting_encoder(*args, **kwargs):
        model, tokenizer = load_encoder(*args, **kwargs)

        def ctrl_c(module, inputs):
            calls["n"] += 1
            if calls["n"] == 10:  # epoch 2, batch 3 (6 training windows, then 1 dev batch, per epoch)
                signal.raise_signal(signal.SIGINT)
        model.bert.encoder.layer[0].register_forward_pre_hook(ctrl_c)
        return model, tokenizer

    cut = config("cut")
    monkeypatch.setattr(training, "load_encoder", interrupting_encoder)
    with pytest.raises(Interrupted):
        train(cut)
    monkeypatch.setattr(training, "load_encoder", load_encoder)
    progress = torch.load(cut.run_dir / "last" / "training_state.pt", weights_only=False)["progress"]
    assert progress["epoch"] == 1 and progress["batch"] > 0  # the cut fell inside an epoch
    train(cut, resume=True)
    assert_replayed_exactly(whole, cut, epochs=3)


@pytest.mark.parametrize("crf", ["false", "true"])  # the CRF's loss is computed outside the model's forward pass
def test_two_processes(tiny_bert, corpus_dir, tmp_path, crf):
    result = subprocess.run(TWO_CPU_PROCESSES + ["train.py", "configs/quickstart.yaml",
                                                 *tiny_args(tiny_bert, corpus_dir, tmp_path,
                                                            **{"train.epochs": "3", "train.group_by_length": "true",
                                                               "model.crf": crf})],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "ACCELERATE_USE_CPU": "true"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p.name for p in (tmp_path / "tiny" / "last").glob("rng_*.pt")} == {"rng_0.pt", "rng_1.pt"}
    summary = json.loads(result.stdout)
    assert summary["best_epoch"] >= 1 and (tmp_path / "tiny" / "best" / "model.safetensors").exists()
    assert len((tmp_path / "tiny" / "metrics.jsonl").read_text().splitlines()) == 3


def test_two_processes_refused_by_a_run_in_progress_stop_with_one_line_each(tiny_bert, corpus_dir, tmp_path):
    """Only the main process takes the run folder's lock: the other went on alone, renamed folders
    of the live run and died at the next barrier with a page of gloo tracebacks."""
    from arabic_ner.run_folder import run_lock

    with run_lock(tmp_path / "tiny"):
        result = subprocess.run(TWO_CPU_PROCESSES + ["train.py", "configs/quickstart.yaml",
                                                     *tiny_args(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})],
                                cwd=ROOT, capture_output=True, text=True, timeout=300,
                                env={**os.environ, "ACCELERATE_USE_CPU": "true"})
    assert result.returncode != 0 and result.stderr.count(f"error: {tmp_path / 'tiny'}: another training runs in it "
                                                          f"now") == 2, result.stderr[-3000:]
    assert "[rank1]" not in result.stderr and "[rank0]" not in result.stderr


def test_arabert_tokenizer_with_normalization(corpus_dir, tmp_path):
    """AraBERT v0.2's real WordPiece vocabulary (from ../shared) under a small random BERT."""
    vocab = Path(ROOT).parent / "shared" / "tokenizers" / "arabertv02"
    if not vocab.exists():
        pytest.skip(f"{vocab} absent: the AraBERT tokenizer test needs ../shared")
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path / "arabert-shaped"
    tokenizer = AutoTokenizer.from_pretrained(vocab)
    tokenizer.save_pretrained(folder)
    BertModel(BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    config = load_config(ROOT / "configs" / "arabert.yaml",
                         tiny_args(folder, corpus_dir, tmp_path, **{"train.epochs": "2", "model.max_length": "32"}))
    summary = train(config)
    assert summary["test"]["support"] == 11


@pytest.mark.parametrize("content, message", [
    ("", "no records"),
    ("not json\n", "not valid JSON"),
    ('{"text": "داعش", "entities": [{"start": 0, "end": 4, "label": "PER"}]}\n',
     "label 'PER' is not in the tag set.*was trained on ARMED_GROUP, SECURITY_UNIT, CASUALTY"),
])
def test_evaluate_bad_input(trained, tmp_path, content, message):
    config, _ = trained
    data = tmp_path / "gold.jsonl"
    data.write_text(content, encoding="utf-8")
    result = run("eval/evaluate.py", str(config.run_dir / "best"), str(data))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    import re
    assert re.search(message, result.stderr), result.stderr


@pytest.mark.parametrize("args, message", [
    (["--bootstrap", "-5"], "--bootstrap -5: must be 0 (no interval) to 100,000"),
    # was a MemoryError after predicting
    (["--bootstrap", "100000000000"], "--bootstrap 100000000000: must be 0 (no interval) to 100,000"),
    (["--batch-size", "0"], "--batch-size 0: must be 1-65,536"),
    (["--seed", "-1"], "--seed -1: must be in [0, 2**32) (numpy's seed range)"),  # was a traceback after predicting
    (["--out", "{file}"], "--out {file}: is a file, not a folder"),
])
def test_evaluate_bad_options(trained, corpus_dir, tmp_path, args, message):
    config, _ = trained
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = run("eval/evaluate.py", str(config.run_dir / "best"), str(corpus_dir / "test.jsonl"),
                 *[a.format(file=taken) for a in args])
    assert result.returncode == 2 and result.stderr == f"error: {message.format(file=taken)}\n"


def test_run_folder_problems_are_one_line(tiny_bert, corpus_dir, tmp_path):
    (tmp_path / "file").write_text("x")
    for extra, message in (({"output_dir": str(tmp_path / "file")}, "output_dir .*/file: is a file, not a folder"),
                           ({"run_name": "file"}, "file: is a file, not a run folder")):
        config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **extra))
        with pytest.raises(UserError, match=message):
            train(config)
    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path))
    with pytest.raises(UserError, match="pass one of them"):
        train(config, resume=True, overwrite=True)


def test_crossval_reports_mean_and_std(tiny_bert, corpus_dir, records, tmp_path):
    corpus = paragraph_corpus(tmp_path / "all.jsonl", records * 2)
    args = tiny_args(tiny_bert, corpus_dir, tmp_path, splits=False, **{"train.epochs": "2"})
    refused = run("eval/crossval.py", "configs/quickstart.yaml", "--corpus", str(corpus), *args, "--data.dev", "d.jsonl")
    assert refused.returncode == 2 and refused.stderr == (
        "error: --data.dev: a cross-validation trains, selects and tests on the folds of --corpus and never reads "
        "data.dev; add training files with --also-train\n")
    result = run("eval/crossval.py", "configs/quickstart.yaml", "--corpus", str(corpus), "--folds", "3",
                 "--seeds", "2", *args)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "strict F1 over 6 runs:" in result.stdout and "CASUALTY:" in result.stdout
    summary = json.loads((tmp_path / "tiny-cv" / "crossval.json").read_text())
    assert len(summary["f1"]["values"]) == 6 and summary["runs"] == 6
    runs = [json.loads(line) for line in (tmp_path / "tiny-cv" / "runs.jsonl").read_text().splitlines()]
    assert {(r["fold"], r["seed"]) for r in runs} == {(k, 42 + s) for k in range(3) for s in range(2)}
    assert not (tmp_path / "tiny-cv" / "fold0-seed0" / "best").exists()
    assert [row["epoch"] for row in summary["dev_f1_by_epoch"]] == [1, 2] and summary["epochs"] in (1, 2)
    assert f"mean dev F1 peaks at epoch {summary['epochs']} " in result.stdout


@pytest.mark.parametrize("curves, epochs, means", [
    ([[0.1, 0.5, 0.4], [0.2, 0.3, 0.6]], 3, [0.15, 0.4, 0.5]),
    ([[0.1, 0.9], [0.3, 0.1, 0.8]], 2, [0.2, 0.5]),  # only the epochs every run reached (an early stop)
    ([[0.5, 0.5]], 1, [0.5, 0.5]),  # a tie: the earlier epoch
])
def test_dev_by_epoch_is_the_mean_curve_and_its_peak(curves, epochs, means):
    from arabic_ner.crossval import dev_by_epoch

    result = dev_by_epoch(curves)
    assert result["epochs"] == epochs
    assert [row["mean"] for row in result["dev_f1_by_epoch"]] == pytest.approx(means)
    assert dev_by_epoch([]) == {} == dev_by_epoch([[], [0.3]])


def test_length_grouped_order_is_seeded_by_epoch_and_cuts_padding():
    from arabic_ner.training import EpochLengthGroupedSampler

    lengths = [int(x) for x in np.random.default_rng(0).integers(5, 128, size=2000)]
    sampler = EpochLengthGroupedSampler(lengths, batch_size=16, seed=7)
    sampler.set_epoch(3)
    order = list(sampler)
    assert sorted(order) == list(range(2000))
    sampler.set_epoch(4)
    assert list(sampler) != order
    sampler.set_epoch(3)
    assert list(sampler) == order  # what a resumed run replays

    def padded(indices):
        return sum(16 * max(lengths[i] for i in indices[k:k + 16]) for k in range(0, len(indices), 16))
    shuffled = list(np.random.default_rng(1).permutation(2000))
    assert padded(order) < 0.7 * padded(shuffled)


def _multi_sentence_records(records: list[dict]) -> list[dict]:
    """Pairs of the small corpus's sentences as one record each (`. ` between them), as ANERcorp and
    real annotations have: predict.py reads such a record as two sentences."""
    joined = []
    for n, (a, b) in enumerate(zip(records[::2], records[1::2])):
        shift = len(a["text"]) + 2
        joined.append({"id": f"m{n}", "paragraph": n, "text": a["text"] + ". " + b["text"],
                       "entities": a["entities"] + [{**e, "start": e["start"] + shift, "end": e["end"] + shift}
                                                    for e in b["entities"]]})
    return joined


def test_training_evaluate_and_crossval_score_alike(tiny_bert, records, tmp_path, monkeypatch):
    """One scoring of a model on gold records: training's test scores (metrics.json), evaluate.py's
    and cross-validation's are the same numbers, on records of several sentences."""
    from arabic_ner.evaluation import evaluate_model
    from arabic_ner.predictor import Predictor
    from arabic_ner.crossval import crossval

    gold = _multi_sentence_records(records)
    data = tmp_path / "multi.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in gold), encoding="utf-8")
    config = load_config(ROOT / "configs" / "quickstart.yaml", tiny_args(
        tiny_bert, tmp_path, tmp_path, **{"data.train": str(data), "data.dev": str(data), "data.test": str(data)}))
    summary = train(config)
    best = config.run_dir / "best"
    assert all(len(list(Predictor.from_folder(best).sentences(r["text"]))) == 2 for r in gold)
    assert summary["test"]["f1"] > 0
    keys = ("char", "precision", "recall", "f1", "support", "per_type", "macro", "default_mode")
    evaluated = evaluate_model(best, data, bootstrap=0)["scores"]
    assert {k: evaluated[k] for k in keys} == {k: summary["test"][k] for k in keys}

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({**r, "id": f"{r['id']}-{copy}"}, ensure_ascii=False) + "\n"
                              for copy in range(2) for r in gold), encoding="utf-8")
    result = crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None)
    runs = [json.loads(line) for line in (tmp_path / "tiny-cv" / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == result["runs"] == 3
    for run in runs:
        folder = tmp_path / "tiny-cv" / run["name"]
        evaluated = evaluate_model(folder / "best", tmp_path / "tiny-cv" / "data" / f"fold{run['fold']}" / "test.jsonl",
                                   bootstrap=0)["scores"]
        assert {k: evaluated[k] for k in keys} == {k: run["test"][k] for k in keys}
    # the decoding benchmark on the kept models (it stopped with a TypeError once word_tags_of passed a CRF's
    # transitions, None here, to the decoders it swaps in)
    bench = subprocess.run([sys.executable, "benchmarks/decoding.py", str(tmp_path / "tiny-cv")], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert bench.returncode == 0 and "Viterbi" in bench.stdout, bench.stderr[-2000:]

    # --rescore: the finished runs scored again from their best/ (here over numbers made wrong on purpose)
    runs_file = tmp_path / "tiny-cv" / "runs.jsonl"
    runs_file.write_text("".join(json.dumps({**r, "test": {"f1": -1.0, "char": {"f1": -1.0}}}) + "\n" for r in runs))
    for resume, keep in ((False, True), (True, False)):  # without --keep-models the models would go
        with pytest.raises(UserError, match="pass --resume and --keep-models too"):
            crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=keep, log=lambda m: None,
                     resume=resume, rescore=True)
    assert all((tmp_path / "tiny-cv" / r["name"] / "best").is_dir() for r in runs)
    said = []
    crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=said.append,
             resume=True, rescore=True)
    assert [json.loads(line) for line in runs_file.read_text().splitlines()] == runs
    assert len([m for m in said if "test F1 -1.0000 -> " in m and m.endswith("scored again")]) == 3
    shutil.rmtree(tmp_path / "tiny-cv" / "fold1-seed0" / "best")
    with pytest.raises(UserError, match=r"no best/ kept for fold1-seed0; --rescore needs"):
        crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None,
                 resume=True, rescore=True)
    # --overwrite while another cross-validation trains one of the runs: it cleared every folder first
    from arabic_ner.run_folder import run_lock
    with run_lock(tmp_path / "tiny-cv" / "fold1-seed0"):
        with pytest.raises(UserError, match=r"fold1-seed0: another training runs in it now"):
            crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None,
                     overwrite=True)
    assert (tmp_path / "tiny-cv" / "fold0-seed0" / "best").is_dir() and (tmp_path / "tiny-cv" / "crossval.json").exists()
    # and a training that starts between that check and the clearing: refused while the folders are cleared
    import arabic_ner.crossval as cv

    monkeypatch.setattr(cv, "clear_run_dir", refused_while_clearing)
    with pytest.raises(Cleared):
        crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None,
                 overwrite=True)


@pytest.mark.parametrize("seed, seeds, refused", [(2**32 - 2001, 1, False), (2**32 - 2000, 1, True),
                                                   (2**32 - 2003, 3, False), (2**32 - 2002, 3, True)])
def test_crossval_refuses_seeds_past_numpys_range_before_any_run(tmp_path, seed, seeds, refused):
    """seed s of a fold trains with train.seed + s, and a collapsed run again with + 1000, + 2000:
    all of them must be numpy seeds, or the run would fail after hours of others."""
    import arabic_ner.crossval as cv

    config = replace(Config(), train=replace(Config().train, seed=seed), output_dir=str(tmp_path))
    missing = tmp_path / "no-corpus.jsonl"  # read only after the check: the error says which passed
    with pytest.raises(UserError, match="past numpy's 4294967295" if refused else "no-corpus.jsonl"):
        cv.crossval(config, missing, folds=3, seeds=seeds, group_by="paragraph", keep_models=False, log=lambda m: None)


def trained_summary(config, f1: float) -> dict:
    """What `train` returns for a run scoring `f1` on dev and test (word-level and character-exact alike):
    the crossval tests' stand-in for training."""
    scores = {"f1": f1, "per_type": {t: {"f1": f1} for t in config.entity_types}}
    return {"best_epoch": 1, "dev_f1": f1, "test": {**scores, "char": scores}, "collapsed": f1 == 0.0}


def test_crossval_trains_every_fold_on_also_train_and_never_scores_it(records, tmp_path, monkeypatch):
    """--also-train files join each fold's training data, not its dev or test fold; a resume is
    refused when they change, and accepted over a plan written before the setting existed."""
    import arabic_ner.crossval as cv
    from arabic_ner.config import Config
    from arabic_ner.corpus import read_split

    corpus, extra = tmp_path / "corpus.jsonl", tmp_path / "extra.jsonl"
    paragraph_corpus(corpus, records)
    extra.write_text("".join(json.dumps({**r, "id": "extra-" + r["id"], "text": r["text"] + " امس"}, ensure_ascii=False)
                             + "\n" for r in records[:2]), encoding="utf-8")
    seen = []

    def fake_train(config, resume=False, overwrite=False):
        seen.append({split: [r["id"] for r in read_split(getattr(config.data, split))]
                     for split in ("train", "dev", "test")})
        return trained_summary(config, 0.5)

    monkeypatch.setattr(cv, "train", fake_train)
    config = Config(run_name="x", output_dir=str(tmp_path))
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                also_train=[extra])
    assert len(seen) == 3
    for run in seen:
        assert {"extra-" + r["id"] for r in records[:2]} <= set(run["train"])
        assert not any(i.startswith("extra-") for i in run["dev"] + run["test"])
    with pytest.raises(UserError, match=r"continues \(also_train: \['\S+extra\.jsonl'\] there, \[\] now, "
                                              r"also_train_digest: "):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    resume=True)
    # the same file with other sentences in it: more seeds would train on other data than the runs kept
    extra.write_text(extra.read_text(encoding="utf-8").replace(" امس", " اليوم"), encoding="utf-8")
    with pytest.raises(UserError, match=r"continues \(also_train_digest: '\w+' there, '\w+' now\)"):
        cv.crossval(config, corpus, folds=3, seeds=2, group_by="paragraph", keep_models=False, log=lambda m: None,
                    resume=True, also_train=[extra])

    plan = json.loads((tmp_path / "x-cv" / "plan.json").read_text())
    del plan["also_train"], plan["also_train_digest"], plan["config"]["train"]["head_lr"], plan["fold_digest"]  # as a version without them wrote it
    (tmp_path / "x-cv" / "plan.json").write_text(json.dumps(plan))
    (tmp_path / "x-cv" / "runs.jsonl").write_text("")
    seen.clear()
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                resume=True)
    assert len(seen) == 3

    # the corpus edited under the same name: other folds, whose runs do not continue the old ones
    edited = corpus.read_text(encoding="utf-8").replace(records[0]["text"], records[0]["text"] + " امس")
    corpus.write_text(edited, encoding="utf-8")
    with pytest.raises(UserError, match=r"continues \(fold_digest: '\w+' there, '\w+' now\)"):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    resume=True)

    # {fold}: each fold its own file (silver data from that fold's own model, say)
    for k in range(3):
        (tmp_path / f"silver{k}.jsonl").write_text(json.dumps({**records[0], "id": f"silver-{k}", "text": records[0]["text"]
                                                               + f" {k}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    seen.clear()
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                overwrite=True, also_train=[tmp_path / "silver{fold}.jsonl"])
    assert [[i for i in run["train"] if i.startswith("silver-")] for run in seen] == [["silver-0"], ["silver-1"],
                                                                                     ["silver-2"]]
    (tmp_path / "silver2.jsonl").unlink()
    with pytest.raises(UserError, match="silver2.jsonl"):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    overwrite=True, also_train=[tmp_path / "silver{fold}.jsonl"])
    # the corpus's own sentences, under other ids or another name, would be trained on where they are tested
    (tmp_path / "copy.jsonl").write_text(corpus.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UserError, match=rf"copy.jsonl: {len(records)} sentences of it also in .*corpus.jsonl"):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    overwrite=True, also_train=[tmp_path / "copy.jsonl"])


@pytest.mark.parametrize("mine, overwrite, message", [
    ({"plan.json": '{"my": "own"}', "runs.jsonl": '{"mine": 1}'}, True, "plan.json: not a cross-validation plan"),
    ({"notes.txt": "mine", "data/fold0/train.jsonl": "mine"}, False, "x-cv: holds files but no plan.json"),
    ({"notes.txt": "mine"}, True, "x-cv: holds files but no plan.json"),
])
def test_crossval_writes_into_no_folder_of_the_users(records, tmp_path, monkeypatch, mine, overwrite, message):
    """A folder of the user's under <run_name>-cv: its plan.json and runs.jsonl were replaced by
    --overwrite, and without it plan.json, runs.jsonl and data/ were written into it."""
    import arabic_ner.crossval as cv
    from arabic_ner.config import Config

    monkeypatch.setattr(cv, "train", lambda *a, **k: pytest.fail("trained"))
    out = tmp_path / "x-cv"
    for name, text in mine.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        cv.crossval(Config(run_name="x", output_dir=str(tmp_path)), paragraph_corpus(tmp_path / "corpus.jsonl", records),
                    folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None, overwrite=overwrite)
    assert {str(p.relative_to(out)): p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()} == mine


@pytest.mark.parametrize("left", [[".fold0-seed0.arabic-ner-lock"], ["runs.jsonl"], []])
def test_a_cross_validations_folder_is_its_own_without_its_plan(tmp_path, left):
    """What `rm -rf x-cv/*` leaves (the runs' hidden locks), or runs.jsonl without its plan (which
    --resume and --overwrite answer in their own words): not taken for a folder of the user's."""
    from arabic_ner.crossval import _check_cross_validation_folder

    out = tmp_path / "x-cv"
    out.mkdir()
    for name in left:
        (out / name).write_text("", encoding="utf-8")
    _check_cross_validation_folder(out)


def test_crossval_overwrite_clears_the_runs_of_before(records, tmp_path, monkeypatch):
    """--overwrite then a stop then --resume: the runs the overwrite started again were continued
    from their folders of before (an old last/, or "nothing to resume" where it had been removed).
    And --resume takes the same corpus by another path: the folds' records are what count."""
    import arabic_ner.crossval as cv
    from arabic_ner.config import Config, dump_yaml
    from arabic_ner.run_folder import RUN_MARK

    corpus = paragraph_corpus(tmp_path / "corpus.jsonl", records)
    trained = []

    def fake_train(config, resume=False, overwrite=False):
        trained.append((config.run_name, resume))
        return trained_summary(config, 0.5)

    monkeypatch.setattr(cv, "train", fake_train)
    config = Config(run_name="x", output_dir=str(tmp_path))
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None)
    stale = tmp_path / "x-cv" / "fold2-seed0"
    (stale / "last").mkdir(parents=True)
    (stale / "config.yaml").write_text(RUN_MARK + dump_yaml(config), encoding="utf-8")
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None,
                overwrite=True)
    assert not stale.exists()
    trained.clear()
    moved = tmp_path / "elsewhere" / "corpus.jsonl"
    moved.parent.mkdir()
    moved.write_bytes(corpus.read_bytes())
    cv.crossval(config, moved, folds=3, seeds=2, group_by="paragraph", keep_models=True, log=lambda m: None,
                resume=True)
    assert trained == [(f"fold{k}-seed1", True) for k in range(3)]  # the seed-0 runs are kept


def test_crossval_keeps_what_it_did_not_train(records, tmp_path, monkeypatch):
    """A --resume without --keep-models removes the models of the runs it trains, not those an earlier
    --keep-models kept (ensemble.py, decoding.py and --rescore read them); an --overwrite stopped
    before the end leaves no summary of the runs it replaced."""
    import arabic_ner.crossval as cv
    from arabic_ner.config import Config, dump_yaml
    from arabic_ner.errors import Stopped
    from arabic_ner.run_folder import RUN_MARK

    corpus = paragraph_corpus(tmp_path / "corpus.jsonl", records)
    trained = []

    def fake_train(config, resume=False, overwrite=False):
        if len(trained) == 1 and config.train.lr == 1e-3:
            raise Stopped(15)
        trained.append(config.run_name)
        (config.run_dir / "best").mkdir(parents=True, exist_ok=True)
        (config.run_dir / "config.yaml").write_text(RUN_MARK + dump_yaml(config), encoding="utf-8")
        return trained_summary(config, 0.5)

    monkeypatch.setattr(cv, "train", fake_train)
    config = Config(run_name="x", output_dir=str(tmp_path))
    out = tmp_path / "x-cv"
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=True, log=lambda m: None)
    cv.crossval(config, corpus, folds=3, seeds=2, group_by="paragraph", keep_models=False, log=lambda m: None,
                resume=True)
    assert sorted(p.parent.name for p in out.glob("*/best")) == [f"fold{k}-seed0" for k in range(3)]
    assert (out / "crossval.json").is_file()
    # a removal a stop cut short (the run recorded, its best/ still there) is finished by the next resume
    (out / "fold1-seed1" / "best").mkdir()
    cv.crossval(config, corpus, folds=3, seeds=2, group_by="paragraph", keep_models=False, log=lambda m: None,
                resume=True)
    assert sorted(p.parent.name for p in out.glob("*/best")) == [f"fold{k}-seed0" for k in range(3)]

    trained.clear()
    other = replace(config, train=replace(config.train, lr=1e-3))
    with pytest.raises(Stopped):
        cv.crossval(other, corpus, folds=3, seeds=2, group_by="paragraph", keep_models=False, log=lambda m: None,
                    overwrite=True)
    assert not (out / "crossval.json").exists()  # it summarized the runs of before


def test_crossval_trains_a_collapsed_run_again_with_another_seed(records, tmp_path, monkeypatch):
    """A run with dev F1 0 at every epoch learned nothing: it is trained again with its seed + 1000,
    then + 2000, and kept at the first that learns; runs pair on the planned seed; a finished
    collapsed run from before is trained again on --resume, and a retry cut by a stop continues."""
    import arabic_ner.crossval as cv
    from arabic_ner.config import Config, dump_yaml
    from arabic_ner.errors import Stopped
    from arabic_ner.run_folder import RUN_MARK

    corpus = paragraph_corpus(tmp_path / "corpus.jsonl", records)
    collapsing, trained = set(), []

    def fake_train(config, resume=False, overwrite=False):
        name, seed = config.run_name, config.train.seed
        trained.append((name, seed, resume, overwrite))
        f1 = 0.0 if (name, seed) in collapsing else 0.5
        return trained_summary(config, f1)

    monkeypatch.setattr(cv, "train", fake_train)
    config = Config(run_name="x", output_dir=str(tmp_path))
    collapsing |= {("fold1-seed0", 42), ("fold2-seed0", 42), ("fold2-seed0", 1042), ("fold2-seed0", 2042)}
    said = []
    result = cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=said.append)
    assert [(n, s) for n, s, _, _ in trained] == [("fold0-seed0", 42), ("fold1-seed0", 42), ("fold1-seed0", 1042),
                                                  ("fold2-seed0", 42), ("fold2-seed0", 1042), ("fold2-seed0", 2042)]
    assert all(overwrite and not resume for n, s, resume, overwrite in trained if s > 42)  # a new seed starts afresh
    runs = {r["name"]: r for r in map(json.loads, (tmp_path / "x-cv" / "runs.jsonl").read_text().splitlines())}
    assert (runs["fold1-seed0"]["seed"], runs["fold1-seed0"]["trained_seed"], runs["fold1-seed0"]["collapsed"]) == (42, 1042, [42])
    assert runs["fold1-seed0"]["test"]["char"]["f1"] == 0.5 and runs["fold0-seed0"]["collapsed"] == []
    assert (runs["fold2-seed0"]["trained_seed"], runs["fold2-seed0"]["collapsed"]) == (2042, [42, 1042])  # tries spent
    assert result["collapsed"] == 2 and result["f1"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert any("2 runs collapsed" in m and "fold2-seed0 (seeds 42, 1042)" in m for m in said)
    assert result["not_learned"] == 1 and any("1 run collapsed with every one" in m and "fold2-seed0" in m for m in said)

    # a collapsed run finished by a version without the retry is trained again on --resume, the others kept
    lines = [json.dumps({k: v for k, v in r.items() if k not in ("trained_seed", "collapsed")} if r["name"] == "fold1-seed0"
                        else r) for r in runs.values()]
    lines[1] = lines[1].replace('"learned": true', '"learned": false')
    (tmp_path / "x-cv" / "runs.jsonl").write_text("\n".join(lines) + "\n")
    trained.clear()
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                resume=True)
    assert [(n, s) for n, s, _, _ in trained] == [("fold1-seed0", 1042)]

    # a stop during a retry: --resume continues that retry from its last/, not the planned seed again
    collapsing.add(("fold0-seed0", 42))

    def stopped_in_retry(config, resume=False, overwrite=False):
        if (config.run_name, config.train.seed) == ("fold0-seed0", 1042) and not resume:
            config.run_dir.mkdir(parents=True, exist_ok=True)
            (config.run_dir / "config.yaml").write_text(RUN_MARK + dump_yaml(config), encoding="utf-8")
            raise Stopped(signal.SIGTERM)
        return fake_train(config, resume, overwrite)

    monkeypatch.setattr(cv, "train", stopped_in_retry)
    trained.clear()
    with pytest.raises(Stopped):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    overwrite=True)
    assert trained == [("fold0-seed0", 42, False, True)]
    trained.clear()
    cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=said.append,
                resume=True)
    assert trained[0] == ("fold0-seed0", 1042, True, False) and ("fold0-seed0", 42) not in [t[:2] for t in trained]
    runs = {r["name"]: r for r in map(json.loads, (tmp_path / "x-cv" / "runs.jsonl").read_text().splitlines())}
    assert (runs["fold0-seed0"]["trained_seed"], runs["fold0-seed0"]["collapsed"]) == (1042, [42])
    assert any("fold0-seed0: collapsed with seed 42" in m and "continuing seed 1042" in m for m in said)
    collapsing.discard(("fold0-seed0", 42))
    monkeypatch.setattr(cv, "train", fake_train)

    # more seeds on --resume add runs to the same plan; fewer is another plan
    trained.clear()
    result = cv.crossval(config, corpus, folds=3, seeds=2, group_by="paragraph", keep_models=False,
                         log=lambda m: None, resume=True)
    assert [(n, s) for n, s, _, _ in trained] == [(f"fold{k}-seed1", 43) for k in range(3)] and result["runs"] == 6
    with pytest.raises(UserError, match=r"continues \(seeds: 2 there, 1 now\)"):
        cv.crossval(config, corpus, folds=3, seeds=1, group_by="paragraph", keep_models=False, log=lambda m: None,
                    resume=True)

    # a cross-validation moved to another folder (its records kept in docs/cv/, say) continues there
    (tmp_path / "moved").mkdir()
    shutil.move(tmp_path / "x-cv", tmp_path / "moved" / "x-cv")
    trained.clear()
    moved = cv.crossval(replace(config, output_dir=str(tmp_path / "moved")), corpus, folds=3, seeds=2,
                        group_by="paragraph", keep_models=False, log=lambda m: None, resume=True)
    assert trained == [] and moved["f1"] == result["f1"]


@pytest.mark.parametrize("dev, collapsed", [
    ({"char": {"f1": 0.0, "support": 12}}, True),  # entities to find, none found at any epoch
    ({"char": {"f1": 0.31, "support": 12}}, False),
    ({"char": {"f1": 0.0, "support": 0}}, False),  # a dev split with no entities says nothing
    (None, False),  # no dev split
])
def test_a_run_collapsed_when_its_dev_split_has_entities_and_it_found_none(dev, collapsed):
    from arabic_ner.training import collapsed as run_collapsed
    assert run_collapsed(dev) is collapsed


def test_without_dev_data_all_epochs_run_and_best_is_the_last(tiny_bert, corpus_dir, tmp_path):
    """A final model on all the gold (`--data.dev ""`): no selection, no early stop (even with a
    patience set), best/ is the last epoch; the test split is still scored and the card says so."""
    result = run("train.py", "configs/quickstart.yaml",
                 *tiny_args(tiny_bert, corpus_dir, tmp_path, **{"data.dev": "", "train.epochs": "3",
                                                               "train.patience": "1"}))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no dev data: all 3 epochs, best/ the last" in result.stderr
    run_dir = tmp_path / "tiny"
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["best_epoch"] == 3 and summary["dev_f1"] is None and "char" in summary["test"]
    epochs = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3] and all(e["dev"] is None for e in epochs)
    assert json.loads((run_dir / "best" / "scores.json").read_text())["epoch"] == 3
    card = (run_dir / "best" / "README.md").read_text()
    assert "- test: F1" in card and "- dev:" not in card


def test_evaluate_writes_beside_the_model_by_default(trained, corpus_dir, tmp_path):
    """Not inside it: a resumed training swaps in a new best/ whole, and the scores would go with the old."""
    import shutil

    config, _ = trained
    best = tmp_path / "run" / "best"
    shutil.copytree(config.run_dir / "best", best)
    before = sorted(p.name for p in best.iterdir())
    result = run("eval/evaluate.py", str(best), str(corpus_dir / "test.jsonl"), "--bootstrap", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "run" / f"eval-best-{corpus_dir.name}-test" / "metrics.json").is_file()
    assert sorted(p.name for p in best.iterdir()) == before
    # another corpus's test.jsonl: its own folder, not the first one's replaced
    other = tmp_path / "article" / "test.jsonl"
    other.parent.mkdir()
    shutil.copy(corpus_dir / "test.jsonl", other)
    result = run("eval/evaluate.py", str(best), str(other), "--bootstrap", "0")
    assert result.returncode == 0 and (tmp_path / "run" / "eval-best-article-test" / "metrics.json").is_file()
