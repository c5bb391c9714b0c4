"""`model.crf`: the CRF's likelihood against every tag sequence counted out, and its transitions
trained, saved with the model, restored, and used by the predictor."""
import json
from itertools import product
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from arabic_ner.config import ConfigError, load_config
from arabic_ner.crf import TagTransitions, crf_of
from arabic_ner.errors import UserError
from arabic_ner.model import load_trained
from arabic_ner.predictor import Predictor
from arabic_ner.training import train
from conftest import ROOT, tiny_args

IGNORE = -100


def brute_force_nll(crf: TagTransitions, logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The same quantity by enumerating every tag sequence of each window's labelled subwords."""
    step, start = crf.step.double(), crf.start.double()
    total, count = 0.0, 0
    for window_logits, window_labels in zip(logits.double(), labels):
        keep = window_labels != IGNORE
        emissions, gold = window_logits[keep], window_labels[keep].tolist()
        if not gold:
            continue

        def score(tags):
            return (start[tags[0]] + sum(emissions[i, t] for i, t in enumerate(tags))
                    + sum(step[a, b] for a, b in zip(tags, tags[1:])))
        log_z = torch.logsumexp(torch.stack([score(tags) for tags in product(range(logits.shape[-1]),
                                                                              repeat=len(gold))]), dim=0)
        total += (log_z - score(gold)).item()
        count += len(gold)
    return total / count


@pytest.mark.parametrize("labels", [
    [[IGNORE, 0, 1, IGNORE, 2, 0, IGNORE], [IGNORE, 2, IGNORE, 2, 1, IGNORE, IGNORE]],  # gaps; a window starting in I-
    [[IGNORE, 1, 2, 2, 0, 1, IGNORE], [IGNORE] * 7],  # a window with no tagged subword counts for nothing
    [[IGNORE, 0, IGNORE, IGNORE, IGNORE, IGNORE, IGNORE], [IGNORE, 2, 0, 0, 0, 2, IGNORE]],  # one word alone
])
def test_likelihood_is_every_sequence_counted_out(labels):
    torch.manual_seed(0)
    crf = TagTransitions(3)
    with torch.no_grad():
        crf.step.normal_()
        crf.start.normal_()
    logits = torch.randn(2, 7, 3)
    labels = torch.tensor(labels)
    assert crf.nll(logits, labels).item() == pytest.approx(brute_force_nll(crf, logits, labels), rel=1e-5)


def test_no_tagged_subword_is_a_zero_loss_that_keeps_the_graph():
    crf = TagTransitions(3)
    logits = torch.randn(2, 4, 3, requires_grad=True)
    loss = crf.nll(logits, torch.full((2, 4), IGNORE))
    loss.backward()
    assert loss.item() == 0.0 and logits.grad is not None


def config(tiny_bert, corpus_dir, out, **extra):
    return load_config(ROOT / "configs" / "quickstart.yaml", tiny_args(
        tiny_bert, corpus_dir, out, **{"train.batch_size": "1", "model.crf": "true", **extra}))


@pytest.fixture(scope="module")
def crf_run(tiny_bert, corpus_dir, tmp_path_factory):
    run = config(tiny_bert, corpus_dir, tmp_path_factory.mktemp("crf"))
    return run, train(run)


def test_transitions_are_trained_saved_and_restored(crf_run):
    run, summary = crf_run
    saved = load_file(run.run_dir / "best" / "model.safetensors")
    assert saved["crf.step"].abs().sum() > 0  # trained away from the zeros it starts at
    assert json.loads((run.run_dir / "best" / "arabic_ner.json").read_text())["crf"] is True
    model, _, settings = load_trained(run.run_dir / "best")
    assert settings.crf and torch.equal(model.crf.step, saved["crf.step"]) and torch.equal(model.crf.start,
                                                                                          saved["crf.start"])
    assert "test" in summary


def test_predictor_decodes_with_the_transitions(crf_run):
    run, _ = crf_run
    predictor = Predictor.from_folder(run.run_dir / "best")
    texts = [json.loads(line)["text"] for line in (Path(run.data.dev[0])).read_text().splitlines()]
    assert any(predictor.predict(texts))
    with torch.no_grad():  # no step may enter an entity's tags: every word is O, whatever the softmax says
        crf_of(predictor.model).step[:, 1:] = -1e4
        crf_of(predictor.model).start[1:] = -1e4
    assert not any(predictor.predict(texts))


@pytest.mark.parametrize("extra, message", [
    ({"train.label_smoothing": "0.1"}, "'model.crf' takes no train.label_smoothing"),
    ({"model.label_all_subwords": "true"}, "'model.crf' tags words: set model.label_all_subwords false"),
])
def test_settings_the_crf_cannot_take_are_one_line(tiny_bert, corpus_dir, tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        config(tiny_bert, corpus_dir, tmp_path, **extra)


@pytest.mark.parametrize("edit, message", [
    ("drop", r"needs 2 weights not in this file \(e.g. crf.start\)"),
    ("unflag", r"2 weights in this file have no place .* \(e.g. crf.start\)"),
])
def test_a_folder_whose_weights_and_settings_disagree_on_the_crf_is_one_line(crf_run, tmp_path, edit, message):
    import shutil
    run, _ = crf_run
    folder = tmp_path / "model"
    shutil.copytree(run.run_dir / "best", folder)
    if edit == "drop":
        weights = load_file(folder / "model.safetensors")
        save_file({k: v for k, v in weights.items() if not k.startswith("crf.")}, folder / "model.safetensors",
                  metadata={"format": "pt"})
    else:
        settings = json.loads((folder / "arabic_ner.json").read_text())
        (folder / "arabic_ner.json").write_text(json.dumps({**settings, "crf": False}))
    with pytest.raises(UserError, match=message):
        load_trained(folder)


def test_weight_decay_spares_the_transitions(tiny_bert):
    from arabic_ner.crf import add_crf
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder
    from arabic_ner.training import _adamw
    run = load_config(ROOT / "configs" / "quickstart.yaml", ["--model.crf", "true", "--train.weight_decay", "0.5"])
    model, _ = load_encoder(str(tiny_bert), LabelSet(("ARMED_GROUP",)), 0.0, 0.0)
    crf = add_crf(model, 3)
    groups = _adamw(model, run).param_groups
    decayed = {id(p) for g in groups if g["weight_decay"] for p in g["params"]}
    assert decayed and not decayed & {id(p) for p in crf.parameters()}


def test_the_decoding_benchmark_refuses_a_crf_model_in_one_line(crf_run, tmp_path):
    """benchmarks/decoding.py swaps Viterbi for decoders of a softmax trained alone, which would
    leave a CRF's transitions out: its models are refused before any scoring (without the check:
    the next step's error, a fold's data not found)."""
    import shutil
    import subprocess
    import sys
    run, _ = crf_run
    cv = tmp_path / "x-cv"
    cv.mkdir()
    for name in ("plan.json", "runs.jsonl"):  # a real cross-validation's records, one of its runs with the model
        shutil.copy(ROOT / "docs" / "cv" / "news-tcfl-crf-cv" / name, cv / name)
    shutil.copytree(run.run_dir / "best", cv / "fold0-seed0" / "best")
    result = subprocess.run([sys.executable, "benchmarks/decoding.py", str(cv)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("compares decoders of a softmax trained alone")
