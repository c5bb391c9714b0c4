"""The training options that buy speed: frozen word embeddings, bf16, cheaper dropout masks, last/ saved every
few minutes.
Speed itself is measured by benchmarks/bench.py; here, that each option does what it says."""
import json
import re
import time

import pytest
import torch
from safetensors.torch import load_file

import arabic_ner.training as training
from arabic_ner.config import load_config
from arabic_ner.device import training_precision
from arabic_ner.training import train
from conftest import ROOT, assert_replayed_exactly, tiny_args

EMBEDDINGS = "bert.embeddings.word_embeddings.weight"


def config(tiny_bert, corpus_dir, out, **extra):
    return load_config(ROOT / "configs" / "quickstart.yaml", tiny_args(
        tiny_bert, corpus_dir, out, **{"data.test": "", "train.batch_size": "1", **extra}))


@pytest.mark.parametrize("freeze", [True, False])
def test_frozen_word_embeddings_stay_as_pretrained_and_are_saved(tiny_bert, corpus_dir, tmp_path, freeze):
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "2", "train.freeze_embeddings": str(freeze)})
    train(run)
    before = load_file(tiny_bert / "model.safetensors")["embeddings.word_embeddings.weight"]
    for folder in ("best", "last"):
        after = load_file(run.run_dir / folder / "model.safetensors")
        assert torch.equal(after[EMBEDDINGS], before) == freeze, folder
        # the rest of the encoder learns either way
        assert not torch.equal(after["bert.encoder.layer.0.output.dense.weight"],
                               load_file(tiny_bert / "model.safetensors")["encoder.layer.0.output.dense.weight"])
    optimizer = torch.load(run.run_dir / "last" / "training_state.pt", weights_only=False)["optimizer"]
    shapes = {tuple(s["exp_avg"].shape) for s in optimizer["state"].values()}
    assert (tuple(before.shape) in shapes) != freeze  # no optimizer state for a frozen matrix


def test_frozen_layers_and_the_embedding_block_stay_as_pretrained(tiny_bert, corpus_dir, tmp_path):
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "2", "train.freeze_layers": "1"})
    train(run)
    before = load_file(tiny_bert / "model.safetensors")
    for folder in ("best", "last"):
        after = load_file(run.run_dir / folder / "model.safetensors")
        for name, weight in before.items():
            if name.startswith("pooler."):  # token classification has no pooler
                continue
            frozen = name.startswith(("embeddings.", "encoder.layer.0."))  # the tiny BERT has 2 layers
            assert torch.equal(after[f"bert.{name}"], weight) == frozen, (folder, name)


def test_the_cheaper_dropout_masks_are_the_settings_choice(tiny_bert, corpus_dir, tmp_path):
    """train.fast_dropout decides which masks a CPU run draws: the same seed then trains another
    model (an ignored setting would give the same losses), saved as the same weights."""
    runs = {fast: config(tiny_bert, corpus_dir, tmp_path / str(fast),
                         **{"train.epochs": "1", "train.fast_dropout": str(fast)}) for fast in (True, False)}
    for run in runs.values():
        train(run)
    losses = {fast: json.loads((run.run_dir / "metrics.jsonl").read_text())["train_loss"]
              for fast, run in runs.items()}
    assert losses[True] != losses[False]
    weights = [load_file(run.run_dir / "best" / "model.safetensors") for run in runs.values()]
    assert weights[0].keys() == weights[1].keys()


def test_more_frozen_layers_than_the_encoder_has_is_one_line(tiny_bert, corpus_dir, tmp_path):
    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.freeze_layers": "3"})
    with pytest.raises(UserError, match=r"^'train.freeze_layers' is 3, but .* has 2 layers$"):
        train(run)


@pytest.mark.parametrize("head_lr, expected", [
    ("0", [(0.01, 2e-4), (0.0, 2e-4)]),  # one lr: the two groups of runs saved before head_lr existed
    ("3e-3", [(0.01, 2e-4), (0.01, 3e-3), (0.0, 2e-4), (0.0, 3e-3)]),
])
def test_the_new_head_learns_at_its_own_rate(tiny_bert, corpus_dir, tmp_path, head_lr, expected):
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.lr": "2e-4", "train.head_lr": head_lr})
    model, _ = load_encoder(str(tiny_bert), LabelSet(tuple(run.entity_types)), 0.1, 0.0)
    training._freeze(model, run)
    groups = training._adamw(model, run).param_groups
    assert [(g["weight_decay"], g["lr"]) for g in groups] == expected
    head = {id(p) for p in model.classifier.parameters()}
    for group in groups:
        assert all((id(p) in head) == (group["lr"] == float(head_lr)) for p in group["params"]) or head_lr == "0"
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())


def test_lower_layers_learn_slower_with_layer_lr_decay(tiny_bert, corpus_dir, tmp_path):
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.lr": "4e-4", "train.layer_lr_decay": "0.5",
                                                    "train.head_lr": "1e-3"})
    model, _ = load_encoder(str(tiny_bert), LabelSet(tuple(run.entity_types)), 0.1, 0.0)
    training._freeze(model, run)
    rate = {id(p): g["lr"] for g in training._adamw(model, run).param_groups for p in g["params"]}
    expected = {"bert.encoder.layer.1.": 4e-4, "bert.encoder.layer.0.": 2e-4, "bert.embeddings.": 1e-4,
                "classifier.": 1e-3}  # the tiny BERT has 2 layers; the head keeps its own rate
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert rate[id(p)] == next(lr for prefix, lr in expected.items() if name.startswith(prefix)), name


def test_label_smoothing_is_cross_entropy_with_its_targets_spread(tiny_bert, corpus_dir, tmp_path):
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder
    model, _ = load_encoder(str(tiny_bert), LabelSet(("ARMED_GROUP",)), 0.0, 0.0)
    labels = torch.tensor([[-100, 0, 1, 2, -100]])
    batch = {"input_ids": torch.tensor([[2, 5, 6, 7, 3]]), "attention_mask": torch.ones(1, 5, dtype=torch.long),
             "labels": labels}
    logits = model(input_ids=batch["input_ids"]).logits[0, 1:4].double()
    for smoothing in (0.0, 0.1):
        # by hand: (1 - s) of the target's log-probability and s spread evenly over the 3 tags
        logp = logits.log_softmax(-1)
        expected = -((1 - smoothing) * logp[range(3), labels[0, 1:4]] + smoothing * logp.mean(-1)).mean()
        assert training._token_loss(model, batch, smoothing, None).item() == pytest.approx(expected.item(), rel=1e-5)
    assert "labels" in batch  # the batch is not changed


def test_layer_lr_decay_and_label_smoothing_train(tiny_bert, corpus_dir, tmp_path):
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1", "train.layer_lr_decay": "0.8",
                                                    "train.label_smoothing": "0.1"})
    assert train(run)["best_epoch"] == 1


def test_weight_average_is_an_exponential_moving_average_of_the_trained_weights_only():
    from arabic_ner.weight_average import WeightAverage
    model = torch.nn.Sequential(torch.nn.Embedding(4, 2), torch.nn.Linear(2, 2))
    model[0].weight.requires_grad_(False)
    start = model[1].weight.detach().clone()
    average = WeightAverage(model, 0.9)
    assert len(average.average) == 2  # the Linear's weight and bias, not the frozen embedding
    steps = [torch.full_like(start, v) for v in (1.0, 2.0, -3.0, 4.0)] + [torch.full_like(start, 5.0)] * 20
    expected = start.clone()
    for n, weights in enumerate(steps):
        with torch.no_grad():
            model[1].weight.copy_(weights)
        average.update()
        decay = min(0.9, (1 + n) / (10 + n))  # 0.1, 0.18, 0.25, ... until 0.9 from the 72nd update
        expected = decay * expected + (1 - decay) * weights
    with average.applied():
        assert torch.allclose(model[1].weight, expected)
    assert torch.equal(model[1].weight, steps[-1])  # its own weights again after the block
    assert average.state_dict()["updates"] == len(steps)
    off = WeightAverage(model, 0.0)
    off.update()
    with off.applied():
        assert torch.equal(model[1].weight, steps[-1]) and off.state_dict() == {"updates": 0, "weights": []}


def test_the_average_moves_once_per_optimizer_update(tiny_bert, corpus_dir, tmp_path):
    updates = {}
    for accum in (1, 2):
        run = config(tiny_bert, corpus_dir, tmp_path, run_name=f"accum{accum}", **{
            "train.epochs": "2", "train.grad_accum": str(accum), "train.ema_decay": "0.9"})
        train(run)
        state = torch.load(run.run_dir / "last" / "training_state.pt", weights_only=False)
        assert state["average"]["updates"] == state["scheduler"]["last_epoch"]
        updates[accum] = state["average"]["updates"]
    batches_per_epoch = updates[1] // 2
    assert updates[2] == 2 * -(-batches_per_epoch // 2) < updates[1]  # not after the batches between updates


def test_best_holds_the_average_and_last_the_weights(tiny_bert, corpus_dir, tmp_path):
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "2", "data.dev": "[]", "train.ema_decay": "0.9"})
    train(run)
    best, last = (load_file(run.run_dir / name / "model.safetensors") for name in ("best", "last"))
    from transformers import AutoModelForTokenClassification
    # the tiny runs train every weight (train.freeze_embeddings false), in the model's order
    trained = [name for name, _ in AutoModelForTokenClassification.from_pretrained(run.run_dir / "best").named_parameters()]
    average = torch.load(run.run_dir / "last" / "training_state.pt", weights_only=False)["average"]["weights"]
    assert len(average) == len(trained)
    for name, averaged in zip(trained, average):
        assert torch.equal(best[name], averaged), name
    assert not all(torch.equal(best[name], last[name]) for name in trained)
    assert json.loads((run.run_dir / "last" / "scores.json").read_text())["dev"] is None  # not last/'s weights'


def test_precision_auto_is_bf16_only_where_the_hardware_has_it(monkeypatch):
    cpu = torch.device("cpu")
    assert training_precision("fp32", cpu) == "fp32" and training_precision("bf16", cpu) == "bf16"
    for native, expected in ((True, "bf16"), (False, "fp32")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert training_precision("auto", cpu) == expected


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_both_precisions_learn_the_tiny_corpus(tiny_bert, corpus_dir, tmp_path, monkeypatch, precision):
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "12", "train.batch_size": "2",
                                                      "train.precision": precision})
    load_encoder, seen = training.load_encoder, set()

    def watched_encoder(*args, **kwargs):
        model, tokenizer = load_encoder(*args, **kwargs)
        model.bert.encoder.layer[0].output.dense.register_forward_hook(
            lambda module, inputs, output: seen.add((module.training, output.dtype)))
        return model, tokenizer
    monkeypatch.setattr(training, "load_encoder", watched_encoder)
    summary = train(run)
    assert summary["precision"] == precision
    # training multiplies in the asked precision; dev scoring, like predict.py, in fp32
    assert seen == {(True, torch.bfloat16 if precision == "bf16" else torch.float32), (False, torch.float32)}
    losses = [json.loads(line)["train_loss"] for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0] / 2 and summary["dev_f1"] > 0.5  # train == dev: memorised


class _Clock:
    """time.monotonic moving on 6 minutes each time training asks: with save_minutes 10, last/ is
    saved after epoch 2 and not after epoch 1 or 3."""

    def __init__(self):
        self.now = 0.0

    def monotonic(self):
        self.now += 360.0
        return self.now

    def __getattr__(self, name):
        return getattr(time, name)


@pytest.mark.parametrize("ema_decay, crf", [("0", "false"), ("0.9", "false"), ("0", "true")])
def test_resume_after_a_crash_replays_exactly_from_the_older_last(tiny_bert, corpus_dir, tmp_path, monkeypatch,
                                                                  ema_decay, crf):
    """last/ is saved every save_minutes: a crash (no save) in epoch 4 resumes from epoch 2, redoes
    epoch 3, and ends with the very weights and losses of a run never interrupted; with the average
    of the weights too, which best/ holds, and a CRF's transitions (model.crf)."""
    extra = {"train.epochs": "4", "model.dropout": "0.3", "train.save_minutes": "10", "train.ema_decay": ema_decay,
             "model.crf": crf}
    whole = config(tiny_bert, corpus_dir, tmp_path, run_name="whole", **extra)
    train(whole)

    monkeypatch.setattr(training, "time", _Clock())
    load_encoder, forwards = training.load_encoder, {"n": 0}

    def crashing_encoder(*args, **kwargs):
        model, tokenizer = load_encoder(*args, **kwargs)

        def power_cut(module, inputs):
            forwards["n"] += 1
            if forwards["n"] == 3 * 7 + 2:  # epoch 4, batch 2 (6 training windows and 1 dev batch an epoch)
                raise RuntimeError("power cut")
        model.bert.encoder.layer[0].register_forward_pre_hook(power_cut)
        return model, tokenizer

    cut = config(tiny_bert, corpus_dir, tmp_path, run_name="cut", **extra)
    monkeypatch.setattr(training, "load_encoder", crashing_encoder)
    with pytest.raises(RuntimeError, match="power cut"):
        train(cut)
    monkeypatch.setattr(training, "load_encoder", load_encoder)
    saved = torch.load(cut.run_dir / "last" / "training_state.pt", weights_only=False)["progress"]
    metrics = cut.run_dir / "metrics.jsonl"
    assert saved["epoch"] == 2 and len(metrics.read_text().splitlines()) == 3  # every epoch, saved or not

    train(cut, resume=True)
    assert_replayed_exactly(whole, cut, epochs=4)


def test_last_is_saved_every_epoch_with_save_minutes_zero(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    saves = []
    original = training.Saver.save
    monkeypatch.setattr(training.Saver, "save", lambda self, name, progress, *a: (
        saves.append((name, progress.epoch)), original(self, name, progress, *a))[1])
    train(config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "3", "train.save_minutes": "0"}))
    assert [epoch for name, epoch in saves if name == "last"] == [1, 2, 3]
    saves.clear()
    train(config(tiny_bert, corpus_dir, tmp_path, run_name="b", **{"train.epochs": "3"}))
    assert [epoch for name, epoch in saves if name == "last"] == [3]  # 10 minutes: only at the end


def test_a_split_of_several_files_is_read_as_one(tiny_bert, corpus_dir, records, tmp_path):
    more = tmp_path / "more.jsonl"
    more.write_text(json.dumps({**records[0], "id": "extra"}, ensure_ascii=False) + "\n", encoding="utf-8")
    run = config(tiny_bert, corpus_dir, tmp_path, **{
        "train.epochs": "1", "data.train": f"[{corpus_dir / 'train.jsonl'}, {more}]"})
    train(run)
    card = (run.run_dir / "best" / "README.md").read_text()
    assert f"| train | `{corpus_dir / 'train.jsonl'}`, `{more}` | {len(records) + 1} |" in card


def test_accelerates_own_mixed_precision_is_one_line(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    from arabic_ner.errors import UserError
    from accelerate.state import AcceleratorState

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # what `accelerate launch --mixed_precision bf16` sets
    AcceleratorState._reset_state(reset_partial_state=True)  # the process-wide state reads the setting once
    try:
        with pytest.raises(UserError, match="accelerate's mixed_precision is 'bf16' .* set --train.precision bf16 or fp32"):
            train(config(tiny_bert, corpus_dir, tmp_path))
    finally:
        monkeypatch.delenv("ACCELERATE_MIXED_PRECISION")
        AcceleratorState._reset_state(reset_partial_state=True)


def test_resume_with_other_training_settings_is_one_line_and_changes_nothing(tiny_bert, corpus_dir, tmp_path):
    from dataclasses import replace

    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(run)
    saved = {p: p.read_bytes() for p in run.run_dir.rglob("*") if p.is_file()}
    other = replace(run, train=replace(run.train, epochs=2, lr=run.train.lr * 2, seed=7),
                    data=replace(run.data, train=[*run.data.train, *run.data.dev]))
    with pytest.raises(UserError, match=r"^\S+tiny: --resume with other settings than the run started with \("
                                        r"data\.train: \[.*\] there, \[.*\] now, train\.lr: 0\.005 there, 0\.01 now, "
                                        r"train\.seed: 42 there, 7 now\); resume with those of its config\.yaml, "
                                        r"or start again with --overwrite or another --run_name$"):
        train(other, resume=True)
    assert {p: p.read_bytes() for p in run.run_dir.rglob("*") if p.is_file()} == saved


def test_resume_may_train_longer_and_config_yaml_then_says_so(tiny_bert, corpus_dir, tmp_path):
    from dataclasses import replace

    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(run)
    longer = replace(run, train=replace(run.train, epochs=2, threads=1, save_minutes=0))
    train(longer, resume=True)
    assert load_config(run.run_dir / "config.yaml").train.epochs == 2
    assert len((run.run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_resume_with_fewer_epochs_than_done_is_one_line(tiny_bert, corpus_dir, tmp_path):
    from dataclasses import replace

    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "2"})
    train(run)
    with pytest.raises(UserError, match=r"tiny: train.epochs is 1, but the run has done 2 epochs; resume with its own "
                                        r"or more$"):
        train(replace(run, train=replace(run.train, epochs=1)), resume=True)


def test_a_moved_cross_validation_resumes_its_cut_run(tmp_path, monkeypatch):
    """A fold's data lies in the cross-validation's folder: moved (to docs/cv/), the cut run's data
    paths move with it and are the same data; another file is not."""
    from arabic_ner.config import dump_yaml
    from arabic_ner.errors import UserError
    from arabic_ner.run_folder import RUN_MARK, check_resumable
    monkeypatch.chdir(tmp_path)

    def fold_run(out):
        return load_config(None, ["--output_dir", out, "--run_name", "fold2-seed0", "--data.train",
                                  f"{out}/data/fold2/train.jsonl", "--data.dev", f"{out}/data/fold2/dev.jsonl"])
    cut = fold_run("models/x-cv")
    cut.run_dir.mkdir(parents=True)
    (cut.run_dir / "config.yaml").write_text(RUN_MARK + dump_yaml(cut), encoding="utf-8")
    (tmp_path / "docs" / "cv").mkdir(parents=True)
    (tmp_path / "models" / "x-cv").rename(tmp_path / "docs" / "cv" / "x-cv")
    moved = fold_run(str(tmp_path / "docs" / "cv" / "x-cv"))  # an absolute path this time
    check_resumable(moved.run_dir, moved)
    moved.data.dev = [str(tmp_path / "other.jsonl")]
    with pytest.raises(UserError, match=r"\(data\.dev: \['<output_dir>/data/fold2/dev\.jsonl'\] there, \[.*other\.jsonl'\] now\)"):
        check_resumable(moved.run_dir, moved)


@pytest.mark.parametrize("key, then, now", [
    ("train.freeze_embeddings", False, True),  # the word embeddings trained
    ("train.fast_dropout", False, True),  # nn.Dropout's masks
    ("train.precision", "fp32", "auto"),
    ("model.attention_dropout", 0.1, 0.0),
])
def test_a_run_from_before_a_setting_existed_resumes_only_as_it_ran(tiny_bert, corpus_dir, tmp_path, key, then, now):
    """A config.yaml written before a setting existed lacks its key: such a run did what
    config.BEFORE_ADDED says, not today's default, so today's default is refused, naming both."""
    from dataclasses import replace

    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1", key: str(now).lower()})
    train(run)
    written = run.run_dir / "config.yaml"
    name = key.split(".")[1]
    written.write_text("".join(line for line in written.read_text().splitlines(keepends=True)
                               if f" {name}:" not in line))
    with pytest.raises(UserError, match=rf"\({re.escape(key)}: {then!r} there, {now!r} now\); resume with those"):
        train(replace(run, train=replace(run.train, epochs=2)), resume=True)


def test_resume_with_other_trained_weights_is_one_line(tiny_bert, corpus_dir, tmp_path):
    """The settings the same, but other weights trained than last/'s optimizer holds (config.yaml
    edited by hand): one line, before any training."""
    from dataclasses import replace

    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1", "train.freeze_embeddings": "true"})
    train(run)
    written = run.run_dir / "config.yaml"
    written.write_text(written.read_text().replace("freeze_embeddings: true", "freeze_embeddings: false"))
    other = replace(run, train=replace(run.train, epochs=2, freeze_embeddings=False))
    with pytest.raises(UserError, match=r"last: saved while training other weights than this config does "
                                        r"\(its optimizer holds other parameter groups: config.yaml edited, or saved "
                                        r"by another version\?\); start again with --overwrite$"):
        train(other, resume=True)


def test_resuming_a_run_that_chose_best_on_words_is_one_line(tiny_bert, corpus_dir, tmp_path):
    """A last/ from before character-exact scores: its best/ was chosen on the F1 over words."""
    from dataclasses import replace

    from arabic_ner.errors import UserError
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1"})
    train(run)
    state_file = run.run_dir / "last" / "training_state.pt"
    state = torch.load(state_file, weights_only=False)
    for epoch in state["progress"]["history"]:
        del epoch["dev"]["char"]
    torch.save(state, state_file)
    with pytest.raises(UserError, match=r"chose best/ on the F1 over words.*--overwrite$"):
        train(replace(run, train=replace(run.train, epochs=2)), resume=True)


def test_swapped_mentions_join_the_training_windows(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    from arabic_ner.corpus import read_split
    run = config(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1", "data.swap_mentions": "2"})
    records = read_split(run.data.train)
    swapped = 2 * sum(1 for r in records if r["entities"])
    messages = []
    monkeypatch.setattr(training, "_logger", lambda accelerator: messages.append)
    train(run)
    assert f"train: {len(records) + swapped} sentences ({swapped} with mentions swapped)," in "\n".join(messages)


def test_train_threads_hold_for_the_run_only(tiny_bert, corpus_dir, tmp_path):
    """A process that trains, then tags, tagged with train.threads' count (and a predict fingerprint
    taken after it differed from its run's)."""
    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **{"train.epochs": "1", "data.test": "",
                                                                             "train.threads": str(threads)}))
    train(config)
    assert torch.get_num_threads() == before
