"""`train(config) -> metrics`: fine-tune an encoder for token classification with accelerate.

The same function runs on one CPU and under `accelerate launch` on several processes. The run
folder holds `config.yaml` (the resolved config), `metrics.jsonl` (one line per epoch),
`metrics.json` (the summary), `best/` (highest dev F1; the last epoch when `data.dev` is empty:
a final model trained on all the gold for the epochs cross-validation chose) and `last/` (the state from which
`resume=True` continues: weights, optimizer, scheduler, RNG and position in the data order; saved
every `train.save_minutes`, at the end and on a stop; what is saved and how: checkpoint.py). The
loop below reads in the order it runs: data, model, optimizer, then epochs of batches, dev scores,
saves.

What makes it fast on a CPU (benchmarks/bench.py measures each; README, Training speed): the
forward pass in bf16 where the hardware has it, the word embeddings frozen, no dropout on the
attention weights and eager attention (both: the CPU's fused attention and its dropout were a
third of a step), dropout masks drawn 16 bits an element (dropout.py), and last/ written every
few minutes rather than every epoch.
"""
from __future__ import annotations

import contextlib
import json
import math
import time
from pathlib import Path
from typing import Self

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import broadcast, set_seed
from torch.utils.data import DataLoader, RandomSampler
from transformers import DataCollatorForTokenClassification, get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from arabic_ner.augment import swap_mentions
from arabic_ner.checkpoint import Progress, Saver, Snapshot, State, load_state
from arabic_ner.config import Config, dump_yaml
from arabic_ner.corpus import read_split
from arabic_ner.crf import TagTransitions, add_crf, crf_of
from arabic_ner.device import torch_threads, training_precision
from arabic_ner.dropout import use_fast_dropout
from arabic_ner.errors import Stopped, UserError, noted_stops
from arabic_ner.files import file_digest, make_output_folder, write_atomic
from arabic_ner.labels import LabelSet
from arabic_ner.metrics import score_model
from arabic_ner.model import ModelSettings, load_encoder, window_limit
from arabic_ner.model_card import data_summary, read_scores, write_model_card
from arabic_ner.offline_encoder import ensure_offline_encoder
from arabic_ner.predictor import Predictor
from arabic_ner.progress import progress_bar, say
from arabic_ner.run_folder import (BEST, CONFIG, LAST, METRICS, RUN_MARK, SUMMARY, check_resumable, check_run_dir,
                                  busy, clear_run_dir, run_lock)
from arabic_ner.sentences import to_sentence
from arabic_ner.weight_average import WeightAverage
from arabic_ner.windows import IGNORE, WindowEncoder


class Interrupted(Stopped):
    """Ctrl-C or SIGTERM during training, after `last/` was saved."""


def train(config: Config, resume: bool = False, overwrite: bool = False) -> dict:
    """The run's summary (metrics.json). `train.threads` holds for the run only, and no other
    training may run in its folder meanwhile."""
    with torch_threads(config.train.threads), contextlib.ExitStack() as held:
        return _train(config, resume, overwrite, held)


def _train(config: Config, resume: bool, overwrite: bool, held: contextlib.ExitStack) -> dict:
    """`held`: what the run holds until it ends (the run folder's lock, taken by the main process
    once accelerate says which that is)."""
    accelerator = Accelerator(
        gradient_accumulation_steps=config.train.grad_accum,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    _lock_run_folder(accelerator, config.run_dir, held)
    log = _logger(accelerator)
    if accelerator.mixed_precision != "no":  # its autocast would take over from train.precision's
        raise UserError(f"accelerate's mixed_precision is {accelerator.mixed_precision!r} (from accelerate launch or "
                        f"its config); here train.precision decides: launch without it and set "
                        f"--train.precision bf16 or fp32")
    run_dir = config.run_dir
    if check_run_dir(run_dir, resume, overwrite) and resume:
        log(f"{run_dir}: no last/ to resume from yet, so the run starts from the beginning"
            + (" (what it saved before, best/ or metrics.jsonl, is replaced)"
               if (run_dir / BEST).exists() or (run_dir / METRICS).exists() else ""))
        resume = False
    if resume:
        check_resumable(run_dir, config)
    set_seed(config.train.seed)

    label_set = LabelSet(tuple(config.entity_types))
    splits = {name: read_split(paths, config.entity_types, warn=log) for name, paths in
              (("train", config.data.train), ("dev", config.data.dev), ("test", config.data.test)) if paths}
    swapped = swap_mentions(splits["train"], config.data.swap_mentions, config.train.seed)
    train_sentences = [to_sentence(r, config.model.normalization) for r in splits["train"] + swapped]

    if accelerator.is_main_process:
        ensure_offline_encoder(config.model.name_or_path, log)
    accelerator.wait_for_everyone()
    model, tokenizer = load_encoder(config.model.name_or_path, label_set, config.model.dropout,
                                    config.model.attention_dropout)
    if accelerator.device.type == "cpu":
        # PyTorch's fused CPU attention (sdpa) is slow to differentiate: in bf16 its backward pass took
        # 1.0 s of 3.0 s over five batches of 8x128 subwords, where matmul and softmax take 0.25 s
        model.set_attn_implementation("eager")
        if config.train.fast_dropout:
            use_fast_dropout(model)
    if config.model.crf:
        add_crf(model, len(label_set.labels))
    _freeze(model, config)
    precision = training_precision(config.train.precision, accelerator.device)
    encoder = WindowEncoder(tokenizer, config.model.max_length, config.model.stride, label_set,
                            config.model.label_all_subwords)
    _check_max_length(model, config)
    features = [{"input_ids": w.input_ids, "attention_mask": [1] * len(w.input_ids), "labels": w.labels}
                for w in encoder.encode(train_sentences)]
    if not features:
        raise UserError(f"{', '.join(config.data.train)}: no words to train on (every text of its "
                        f"{len(train_sentences)} records is empty)")
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    log(f"model: {config.model.name_or_path} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, "
        f"{trained / 1e6:.1f}M trained, in {precision} on {accelerator.device.type})")
    log(f"train: {len(train_sentences)} sentences" + (f" ({len(swapped)} with mentions swapped)" if swapped else "")
        + f", {len(features)} windows; "
        + (f"dev: {len(splits['dev'])} records" if "dev" in splits else
           f"no dev data: all {config.train.epochs} epochs, best/ the last") + f"; labels: {' '.join(label_set.labels)}")

    sampler = (EpochLengthGroupedSampler([len(f["input_ids"]) for f in features], config.train.batch_size,
                                         config.train.seed) if config.train.group_by_length else RandomSampler(features))
    loader = DataLoader(features, batch_size=config.train.batch_size, sampler=sampler,
                        collate_fn=DataCollatorForTokenClassification(tokenizer))
    optimizer = _adamw(model, config)
    updates_per_epoch = math.ceil(len(loader) / accelerator.num_processes / config.train.grad_accum)
    # accelerate's prepared scheduler steps once per process for each update (AcceleratedScheduler)
    scheduler_steps = updates_per_epoch * config.train.epochs * accelerator.num_processes
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.train.warmup_ratio * scheduler_steps),
                                                scheduler_steps)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    average = WeightAverage(accelerator.unwrap_model(model), config.train.ema_decay)

    if resume:
        state = _resumed(config, accelerator, model, optimizer, scheduler, average)
        log(f"resuming {run_dir} at epoch {state.progress.epoch + 1}, batch {state.progress.batch}")
    else:
        state = State(Progress(data=_data_digests(config)))
        if accelerator.is_main_process:
            clear_run_dir(run_dir)
            make_output_folder(run_dir, "output_dir")
    if accelerator.is_main_process:  # on a resume too: more epochs, say, are now the run's (check_resumable)
        write_atomic(run_dir / CONFIG, RUN_MARK + dump_yaml(config))
    accelerator.wait_for_everyone()

    settings = ModelSettings(list(config.entity_types), config.model.normalization,
                            config.model.max_length, config.model.stride, config.proclitics_in_spans, config.model.crf)
    data = data_summary(config, splits)
    saver = Saver(accelerator, model, tokenizer, optimizer, scheduler, average, settings, config, data, log)
    if resume:  # after a crash metrics.jsonl may hold epochs past last/, which are run again
        saver.write_metrics(state.progress)
    # dev is read as predict.py reads text (sentences split, windowed): what selects model-best is
    # what users will run
    dev_reader = Predictor(accelerator.unwrap_model(model), tokenizer, settings, config.train.eval_batch_size,
                           accelerator)
    # bf16: the forward pass multiplies in bfloat16 (autocast); weights, gradients and AdamW stay fp32
    autocast = (lambda: torch.autocast(accelerator.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"))
    saved = _LastSaves(saver, config.train.save_minutes, state.progress.epoch)
    # Signals are noted, not raised, from here on: the stop (and its save) happens between batches.
    with _StopRequests(accelerator) as stop:
        try:
            progress = state.progress
            for epoch in range(progress.epoch, config.train.epochs):
                # checked here rather than after the save, so that a resumed run stops early too
                if config.train.patience and "dev" in splits and progress.bad_epochs >= config.train.patience:
                    log(f"early stop: no better dev F1 for {config.train.patience} epochs")
                    break
                started = time.time()
                train_loss = _train_epoch(accelerator, model, optimizer, scheduler, average, loader, config, epoch,
                                          state, stop, autocast)
                scoring = time.time()
                with average.applied():  # with train.ema_decay, dev scores and best/ are the averaged weights'
                    dev = score_model(dev_reader, splits["dev"], config.entity_types).scores if "dev" in splits else None
                # selected on the spans the annotation defines (seqeval's word-level F1 cannot see a clitic);
                # with no dev data the epochs were chosen beforehand, by cross-validation, and best/ is the last
                improved = dev["char"]["f1"] > progress.best_f1 if dev else epoch + 1 == config.train.epochs
                progress.history.append({"epoch": epoch + 1, "train_loss": round(train_loss, 4),
                                         "lr": scheduler.get_last_lr()[0], "seconds": round(time.time() - started, 2),
                                         "dev_seconds": round(time.time() - scoring, 2), "dev": dev})
                progress.epoch, progress.batch = epoch + 1, 0
                progress.bad_epochs = 0 if improved else progress.bad_epochs + 1
                if improved:
                    progress.best_f1, progress.best_epoch = dev["char"]["f1"] if dev else -1.0, epoch + 1
                state.snapshot = Snapshot.now()
                log(f"epoch {epoch + 1}: train loss {train_loss:.4f}"
                    + (f", dev strict F1 {dev['char']['f1']:.4f} (words {dev['f1']:.4f})" if dev else "")
                    + (" (best)" if improved else ""))
                # best/ before last/: a stop between the two resumes before this epoch and redoes it
                if improved:
                    with average.applied():
                        saver.save(BEST, progress, dev)
                stopping = stop.requested()
                saved.after_epoch(progress, dev, state.snapshot, now=bool(stopping))
                if stopping:
                    break  # last/ holds this very point
            saved.at_end(state.progress, state.snapshot)  # all epochs done, or an early stop
        except Stopped:  # from within an epoch
            saver.save(LAST, state.progress, None, state.snapshot)
        # once more, on every process: a signal that reached one of them after the last check
        # must stop all of them, not send the others on alone into the test scoring
        stopped = stop.requested()
    if stopped:
        log(f"interrupted: state saved to {run_dir / LAST}; continue with --resume")
        raise Interrupted(stopped)

    return _finish(accelerator, config, splits, data, precision, log)


def _lock_run_folder(accelerator, run_dir: Path, held: contextlib.ExitStack) -> None:
    """The main process takes the run folder's lock; every process learns whether it was refused and
    stops with the same line (the others went on alone and died at the next barrier)."""
    try:
        held.enter_context(run_lock(run_dir, accelerator.is_main_process))
        refused = None
    except UserError as exc:
        refused = exc
    if accelerator.num_processes > 1:
        flag = torch.tensor([float(refused is not None)], device=accelerator.device)
        if accelerator.reduce(flag, reduction="sum").item() > 0:
            raise refused or busy(run_dir)
    elif refused is not None:
        raise refused


def _train_epoch(accelerator, model, optimizer, scheduler, average: WeightAverage, loader, config: Config, epoch: int,
                 state: State, stop: _StopRequests, autocast) -> float:
    """One epoch (or its rest, after a resume). A Ctrl-C or SIGTERM stops it between batches, so that
    `state.progress`, the weights and `state.snapshot` always describe the same point; a loss that is
    not finite stops the run before it reaches the weights."""
    model.train()
    loader.set_epoch(epoch)  # the seeded sampler then gives the same order after a resume
    skip = state.progress.batch if state.progress.epoch == epoch else 0
    batches = accelerator.skip_first_batches(loader, skip) if skip else loader
    bar = progress_bar(total=len(loader), initial=skip, desc=f"epoch {epoch + 1}/{config.train.epochs}",
                       disable=not accelerator.is_local_main_process, leave=False)
    # A resume mid-epoch carries the losses of the batches before the cut, so that the epoch's mean
    # loss is the one the uninterrupted run reports.
    losses = list(state.pending.losses) if skip and state.pending else []
    done = skip
    for batch in batches:
        if state.pending is not None:
            state.pending.restore()
            state.pending = None
        with accelerator.accumulate(model):
            with autocast():  # the forward pass only, as torch.autocast advises
                loss = _token_loss(model, batch, config.train.label_smoothing, crf_of(accelerator.unwrap_model(model)))
            # Checked before the backward pass: a stop here leaves this batch unapplied, and a resume
            # replays it from the state saved at the last update.
            reason = stop.requested(bad_loss=not torch.isfinite(loss).item())
            if reason:
                bar.close()
            if reason == NONFINITE:
                raise UserError(f"train loss is not finite ({loss.item()}) at epoch {epoch + 1}, batch {done + 1}: "
                                f"training diverged; lower train.lr ({config.train.lr}) or raise "
                                f"train.warmup_ratio. Epochs saved so far are kept")
            if reason:
                raise Stopped(reason)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), config.train.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            done += 1
            losses.append(loss.item())
            if accelerator.sync_gradients:  # a resume restarts after the last optimizer update
                average.update()
                state.progress.epoch, state.progress.batch = epoch, done
                state.snapshot = Snapshot.now(losses)
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)  # drawn by update, when it draws
        bar.update(1)
    bar.close()
    if state.pending is not None:  # resumed after the epoch's last batch: nothing was left to run
        state.pending.restore()
        state.pending = None
    mean = torch.tensor(np.mean(losses) if losses else 0.0, device=accelerator.device)
    return accelerator.reduce(mean, reduction="mean").item()


class _LastSaves:
    """When `last/` is saved: after the first epoch that ends `minutes` or more after the last save,
    at the end, and on a stop. last/ holds the optimizer state too (about 400 MB for e5-small):
    written after each of 20-second epochs, it cost about as much as the dev scoring. A crash (a
    power cut, kill -9) loses the epochs since the last save, `minutes` and one epoch at most; a stop
    loses none. metrics.jsonl gets every epoch as it ends. Under several processes the main
    process's clock decides, for all: one saving alone would wait for the others for ever."""

    def __init__(self, saver: Saver, minutes: float, epoch: int):
        self.saver, self.seconds, self.epoch = saver, minutes * 60, epoch  # epoch: what last/ holds
        self.at = time.monotonic()

    def after_epoch(self, progress: Progress, dev: dict, snapshot: Snapshot, now: bool) -> None:
        due = now or time.monotonic() - self.at >= self.seconds
        acc = self.saver.accelerator
        if acc.num_processes > 1:
            due = bool(broadcast(torch.tensor([float(due)], device=acc.device), from_process=0).item()) or now
        if due:
            self._save(progress, dev, snapshot)
        else:
            self.saver.write_metrics(progress)

    def at_end(self, progress: Progress, snapshot: Snapshot) -> None:
        if progress.epoch > self.epoch:
            self._save(progress, progress.history[-1]["dev"], snapshot)

    def _save(self, progress: Progress, dev: dict | None, snapshot: Snapshot) -> None:
        self.saver.save(LAST, progress, dev, snapshot)
        self.epoch, self.at = progress.epoch, time.monotonic()


class EpochLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped order, drawn afresh each epoch from (seed, epoch).

    Random batches of ANERcorp's windows hold about twice as many subwords as they need, most of
    them padding; grouped, 1.02 times. The order depends only on seed and epoch (accelerate calls
    `set_epoch`), so a resumed run replays it exactly.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        super().__init__(batch_size, lengths=lengths, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)


def _freeze(model, config: Config) -> None:
    """Keeps pretrained weights as they are: the word embeddings, and with `freeze_layers` the whole
    embedding block and the encoder's lowest layers too."""
    if config.train.freeze_embeddings:
        # The word embeddings are most of a multilingual encoder's weights (e5-small: 37.6M of 59.1M)
        # and a few hundred sentences touch a few thousand of their rows: updating them all costs an
        # optimizer step over the whole matrix each batch (a third of the step time) and teaches little.
        model.get_input_embeddings().weight.requires_grad_(False)
    if config.train.freeze_layers:
        # The backward pass stops at the lowest trained layer, so each frozen layer saves its share
        # of the backward pass, two thirds of a step's work (README, Training speed, for its cost in F1)
        layers = _encoder_layers(model, config, "train.freeze_layers")
        if config.train.freeze_layers > len(layers):
            raise UserError(f"'train.freeze_layers' is {config.train.freeze_layers}, but "
                            f"{config.model.name_or_path} has {len(layers)} layers")
        model.base_model.embeddings.requires_grad_(False)
        for layer in layers[:config.train.freeze_layers]:
            layer.requires_grad_(False)


def _encoder_layers(model, config: Config, key: str) -> torch.nn.ModuleList:
    """The stack of transformer layers of a BERT-like encoder (BERT, RoBERTa, XLM-R, ELECTRA), for
    the option `key` that needs it."""
    layers = getattr(getattr(model.base_model, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not hasattr(model.base_model, "embeddings"):
        raise UserError(f"'{key}' needs a BERT-like encoder (embeddings, encoder.layer); "
                        f"{config.model.name_or_path} is a {type(model.base_model).__name__}: leave it at its default")
    return layers


def _adamw(model, config: Config) -> torch.optim.Optimizer:
    """AdamW with no weight decay on biases and LayerNorm weights, as BERT was trained; the new
    classification head (every weight outside the pretrained base model) at `train.head_lr`, the
    encoder's layers at the rates `_layer_rates` gives."""
    no_decay = {id(p) for m in model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
    no_decay |= {id(p) for name, p in model.named_parameters() if name.endswith("bias")}
    crf = crf_of(model)
    if crf is not None:  # transition scores, not a projection to keep small
        no_decay |= {id(p) for p in crf.parameters()}
    base = f"{model.base_model_prefix}."
    head = {id(p) for name, p in model.named_parameters() if not name.startswith(base)}
    train = config.train
    rates = _layer_rates(model, config)
    groups: dict[tuple[bool, float], list] = {}  # (without decay, lr): with head_lr 0, the two groups of old runs' last/
    for skip_decay in (False, True):
        for p in model.parameters():
            if p.requires_grad and (id(p) in no_decay) == skip_decay:
                lr = train.head_lr if id(p) in head and train.head_lr else rates.get(id(p), train.lr)
                groups.setdefault((skip_decay, lr), []).append(p)
    groups = [{"params": params, "weight_decay": 0.0 if skip_decay else train.weight_decay, "lr": lr}
              for (skip_decay, lr), params in groups.items()]
    # The fused kernel makes the step over a large embedding matrix many times faster on CPU.
    return torch.optim.AdamW(groups, lr=train.lr, fused=True)


def _layer_rates(model, config: Config) -> dict[int, float]:
    """Layer-wise learning-rate decay (ELECTRA; Sun et al. 2019, "How to fine-tune BERT"): the top
    layer at `train.lr`, each layer below at `train.layer_lr_decay` times the rate above it, the
    embedding block below the lowest layer. The lower layers hold the general knowledge of the
    language that a few hundred sentences should change least. {id(parameter): lr}; empty at 1."""
    decay = config.train.layer_lr_decay
    if decay == 1.0:
        return {}
    layers = _encoder_layers(model, config, "train.layer_lr_decay")
    rates = {id(p): config.train.lr * decay ** len(layers) for p in model.base_model.embeddings.parameters()}
    for depth, layer in enumerate(reversed(layers)):
        rates |= {id(p): config.train.lr * decay ** depth for p in layer.parameters()}
    return rates


def _token_loss(model, batch: dict, smoothing: float, crf: TagTransitions | None) -> torch.Tensor:
    """The model's own cross-entropy over the labelled subwords, or with `train.label_smoothing`
    the same with that share of each target spread over all tags (transformers' token-classification
    heads take no smoothing), or with `model.crf` the CRF's likelihood of each window's tags."""
    if not smoothing and crf is None:
        return model(**batch).loss
    logits = model(**{k: v for k, v in batch.items() if k != "labels"}).logits
    if crf is not None:
        return crf.nll(logits, batch["labels"])
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(),
                                             ignore_index=IGNORE, label_smoothing=smoothing)


def _check_max_length(model, config: Config) -> None:
    """Windows longer than the encoder's position table would fail in the first forward pass."""
    limit = window_limit(model)
    if limit is not None and config.model.max_length > limit:
        raise UserError(f"'model.max_length' is {config.model.max_length}, but {config.model.name_or_path} reads at "
                        f"most {limit} subwords per window; set it to {limit} or less")


NONFINITE = -1  # _StopRequests.requested: a loss that is not finite


class _StopRequests:
    """Ctrl-C and SIGTERM during training are noted, not raised where they land: the loop asks
    `requested()` once per batch and after each epoch's bookkeeping, so a stop never falls between an
    optimizer step and the record of it, nor halfway through saving. Under `accelerate launch` the
    processes agree (any one asked, all stop, at the same batch): one process stopping alone would
    leave the others waiting for it in the next collective call, for ever. A loss that is not finite
    on any process stops them all the same way."""

    def __init__(self, accelerator):
        self.accelerator, self.signum = accelerator, 0
        self._notes = noted_stops()

    def __enter__(self) -> Self:
        self.noted = self._notes.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._notes.__exit__(*exc)

    def requested(self, bad_loss: bool = False) -> int:
        """0 to go on; else why every process stops here: NONFINITE, or the number of the signal."""
        if self.noted:
            self.signum = self.noted[-1]
        if self.accelerator.num_processes > 1:
            mine = torch.tensor([[float(bad_loss), float(self.signum)]], device=self.accelerator.device)
            worst = self.accelerator.gather(mine).max(dim=0).values
            bad_loss, self.signum = bool(worst[0].item()), int(worst[1].item())
        return NONFINITE if bad_loss else self.signum


def collapsed(dev: dict | None) -> bool:
    """Whether a run learned nothing, from model-best's dev scores: F1 0 where the dev split has
    entities to find, so every epoch tagged every word O. It happens to some seeds of the news recipe
    in fp32 (train loss flat at the label prior's from epoch 2, where other runs leave it by epoch 3;
    docs/results.md), and one such run among five would halve a cross-validated mean. A dev split
    with no entities, or none at all, says nothing either way."""
    return bool(dev) and dev["char"]["support"] > 0 and dev["char"]["f1"] <= 0.0


def _finish(accelerator, config: Config, splits, data, precision: str, log) -> dict:
    """Score model-best on the test split; write the summary and the card's test scores."""
    run_dir = config.run_dir
    best_dir = run_dir / BEST
    # best/ says which epoch it holds: after a crash it may be one past last/ that a replay did not
    # reach again (bf16 or thread counts differing on the new machine)
    best = _best_scores(best_dir)
    summary = {"run_dir": str(run_dir), "best_epoch": best["epoch"],
               "dev_f1": best["dev"]["char"]["f1"] if best["dev"] else None,
               "precision": precision}
    summary["collapsed"] = collapsed(best["dev"])
    if summary["collapsed"]:
        log("warning: dev F1 0 at every epoch, the model tags every word O: this run collapsed (some seeds do; "
            "docs/results.md); train again with another --train.seed (eval/crossval.py does so itself)")
    if "test" in splits:
        model_best = Predictor.from_folder(best_dir, str(accelerator.device), config.train.eval_batch_size,
                                           accelerator=accelerator)
        test = score_model(model_best, splits["test"], config.entity_types).scores
        summary["test"] = test
        char = test["char"]
        log(f"test (model-best, epoch {best['epoch']}): strict F1 {char['f1']:.4f} P {char['precision']:.4f} "
            f"R {char['recall']:.4f} (words: F1 {test['f1']:.4f})")
    if accelerator.is_main_process:
        write_atomic(run_dir / SUMMARY, json.dumps(summary, indent=2) + "\n")
        write_model_card(best_dir, config, data, {"epoch": best["epoch"], "dev": best["dev"],
                                                  "test": summary.get("test")})
    accelerator.wait_for_everyone()
    return summary


def _resumed(config: Config, accelerator, model, optimizer, scheduler, average: WeightAverage) -> State:
    """The state `last/` holds, restored into the model, optimizer, scheduler and weight average, once
    the run can go on with this config (run_folder.check_resumable compared the settings): the same
    data, best/ chosen on the same scale, and no fewer epochs than done. Checked now, not after the
    epochs still to train."""
    run_dir = config.run_dir
    state = State(*load_state(run_dir / LAST, accelerator, model, optimizer, scheduler, average, say))
    _check_same_data(state.progress.data, config)
    if any(epoch["dev"] is not None and "char" not in epoch["dev"] for epoch in state.progress.history):
        # its best/ was chosen on another scale; mixing the two would pick the wrong epoch
        raise UserError(f"{run_dir}: saved by a version that chose best/ on the F1 over words, before "
                        f"character-exact scores; start the run again with --overwrite")
    if state.progress.best_epoch:
        _best_scores(run_dir / BEST)  # the run saved one: a one-line error where it is gone or damaged
    done, has_best = state.progress.epoch, (run_dir / BEST).is_dir()
    if config.train.epochs < done or (config.train.epochs == done and not has_best):
        # fewer epochs than done would leave the run as it is, and a run without dev data without best/
        raise UserError(f"{run_dir}: train.epochs is {config.train.epochs}, but the run has done {done} "
                        f"epochs{'' if has_best else ' and saved no best/ yet'}; resume with its own or more")
    return state


def _data_digests(config: Config) -> dict[str, list[str]]:
    """The SHA-256 of each train and dev file, in order: a resume must go on with the data the run
    started with (the files may have moved since: a cross-validation's folder, say)."""
    return {split: [file_digest(path) for path in getattr(config.data, split)] for split in ("train", "dev")}


def _check_same_data(then: dict, config: Config) -> None:
    """A one-line error naming a train or dev file that changed since the run started (a run saved
    before the digests were kept passes)."""
    now = _data_digests(config)
    for split, digests in then.items():
        for path, before, after in zip(getattr(config.data, split), digests, now[split]):
            if before != after:
                raise UserError(f"{path}: changed since the run started (data.{split}); resume with the data it "
                                f"started with, or start again with --overwrite")


def _best_scores(best_dir: Path) -> dict:
    """What `best/` holds (its epoch and dev scores), or a one-line error where it is gone or damaged."""
    scores = read_scores(best_dir)
    if scores is None or not isinstance(scores.get("epoch"), int) or "dev" not in scores:
        raise UserError(f"{best_dir}: missing or damaged (no scores.json with its epoch), though the run saved "
                        f"one; restore it, or start again with --overwrite")
    return scores


def _logger(accelerator):
    def log(message: str) -> None:
        if accelerator.is_main_process:
            say(message)
    return log

