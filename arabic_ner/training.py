"""`train(config) -> metrics`: fine-tune an encoder for token classification with accelerate.

The same function runs on one CPU and under `accelerate launch` on several processes. The run
folder holds `config.yaml` (the resolved config), `metrics.jsonl` (one line per epoch),
`metrics.json` (the summary), `best/` (highest dev F1) and `last/` (the latest state, from which
`resume=True` continues: weights, optimizer, scheduler, RNG and position in the data order).
"""
from __future__ import annotations

import json
import math
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Self

import numpy as np
import torch
from accelerate import Accelerator, DataLoaderConfiguration
from accelerate.utils import set_seed
from torch.utils.data import DataLoader, RandomSampler
from tqdm.auto import tqdm
from transformers import DataCollatorForTokenClassification, get_linear_schedule_with_warmup
from transformers.trainer_pt_utils import LengthGroupedSampler

from arabic_ner.config import Config, dump_yaml
from arabic_ner.corpus import read_corpus
from arabic_ner.encoding import Sentence, WindowEncoder, entities_from_tags, to_sentence
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_folder, make_output_folder
from arabic_ner.inference import tag_sentences
from arabic_ner.labels import LabelSet
from arabic_ner.metrics import score_records
from arabic_ner.model import TextSettings, load_encoder, load_trained
from arabic_ner.model_card import data_summary, write_model_card
from arabic_ner.offline_encoder import ensure_offline_encoder
from arabic_ner.progress import progress_bar

STATE_FILE = "training_state.pt"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, after `last/` was saved."""


def train(config: Config, resume: bool = False, overwrite: bool = False) -> dict:
    accelerator = Accelerator(
        gradient_accumulation_steps=config.train.grad_accum,
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
    )
    log = _logger(accelerator)
    run_dir = config.run_dir
    _check_run_dir(run_dir, resume, overwrite)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    set_seed(config.train.seed)

    label_set = LabelSet(tuple(config.entity_types))
    splits = {name: read_corpus(path, config.entity_types, warn=log) for name, path in
              (("train", config.data.train), ("dev", config.data.dev), ("test", config.data.test)) if path}
    sentences = {name: [to_sentence(r, config.model.normalization) for r in records]
                 for name, records in splits.items()}

    if accelerator.is_main_process:
        ensure_offline_encoder(config.model.name_or_path, log)
    accelerator.wait_for_everyone()
    model, tokenizer = load_encoder(config.model.name_or_path, label_set, config.model.dropout)
    encoder = WindowEncoder(tokenizer, config.model.max_length, config.model.stride, label_set,
                            config.model.label_all_subwords)
    features = [{"input_ids": w.input_ids, "attention_mask": [1] * len(w.input_ids), "labels": w.labels}
                for w in encoder.encode(sentences["train"])]
    log(f"model: {config.model.name_or_path} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)")
    log(f"train: {len(sentences['train'])} sentences, {len(features)} windows; "
        f"dev: {len(sentences['dev'])} sentences; labels: {' '.join(label_set.labels)}")

    sampler = (EpochLengthGroupedSampler([len(f["input_ids"]) for f in features], config.train.batch_size,
                                         config.train.seed) if config.train.group_by_length else RandomSampler(features))
    loader = DataLoader(features, batch_size=config.train.batch_size, sampler=sampler,
                        collate_fn=DataCollatorForTokenClassification(tokenizer))
    optimizer = _adamw(model, config)
    updates_per_epoch = math.ceil(len(loader) / accelerator.num_processes / config.train.grad_accum)
    total_updates = updates_per_epoch * config.train.epochs * accelerator.num_processes
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.train.warmup_ratio * total_updates), total_updates)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)

    progress = {"epoch": 0, "batch": 0, "best_f1": -1.0, "best_epoch": 0, "bad_epochs": 0}
    # The random state (dropout) as it was when `progress` last moved, which is what `last/` must
    # hold for a resume to replay the run exactly; and, on a resume mid-epoch, the state to put
    # back just before the first batch (after the data loader's own draw for its new iterator).
    rng = {"at_progress": _rng_state(), "before_batch": None}
    if resume:
        progress, state = _load_state(run_dir / "last", accelerator, model, optimizer, scheduler)
        if state is not None and progress["batch"]:
            rng["before_batch"] = state
        elif state is not None:
            _set_rng_state(state)
        rng["at_progress"] = state or _rng_state()
        log(f"resuming {run_dir} at epoch {progress['epoch'] + 1}, batch {progress['batch']}")
    elif accelerator.is_main_process:
        if run_dir.exists():
            shutil.rmtree(run_dir)
        make_output_folder(run_dir, "output_dir")
        (run_dir / "config.yaml").write_text(dump_yaml(config), encoding="utf-8")
    accelerator.wait_for_everyone()

    settings = TextSettings(list(config.entity_types), config.model.normalization,
                            config.model.max_length, config.model.stride)
    data = data_summary(config, splits)
    saver = _Saver(accelerator, model, tokenizer, optimizer, scheduler, settings, config, data)
    try:
        with _StopRequests(accelerator) as stop:
            for epoch in range(progress["epoch"], config.train.epochs):
                started = time.time()
                train_loss = _train_epoch(accelerator, model, optimizer, scheduler, loader, config, epoch, progress,
                                          rng, stop)
                dev = evaluate(accelerator.unwrap_model(model), encoder, splits["dev"], sentences["dev"],
                               config.entity_types, config.train.eval_batch_size, accelerator)
                improved = dev["f1"] > progress["best_f1"]
                progress.update(epoch=epoch + 1, batch=0)
                rng["at_progress"] = _rng_state()
                if improved:
                    progress.update(best_f1=dev["f1"], best_epoch=epoch + 1, bad_epochs=0)
                else:
                    progress["bad_epochs"] += 1
                record = {"epoch": epoch + 1, "train_loss": round(train_loss, 4), "lr": scheduler.get_last_lr()[0],
                          "seconds": round(time.time() - started, 2), "dev": dev}
                log(f"epoch {epoch + 1}: train loss {train_loss:.4f}, dev strict F1 {dev['f1']:.4f}"
                    + (" (best)" if improved else ""))
                saver.save("last", progress, dev, rng["at_progress"])
                if improved:
                    saver.save("best", progress, dev)
                if accelerator.is_main_process:
                    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
                if stop.requested():
                    raise KeyboardInterrupt
                if config.train.patience and progress["bad_epochs"] >= config.train.patience:
                    log(f"early stop: no better dev F1 for {config.train.patience} epochs")
                    break
    except KeyboardInterrupt:
        saver.save("last", progress, None, rng["at_progress"])
        log(f"interrupted: state saved to {run_dir / 'last'}; continue with --resume")
        raise Interrupted() from None

    return _finish(accelerator, config, encoder, splits, sentences, data, progress, log)


def evaluate(model, encoder: WindowEncoder, records: list[dict], sentences: list[Sentence],
             entity_types: list[str], batch_size: int, accelerator=None) -> dict:
    """Strict IOB2 entity scores of `model` on gold records, every word included."""
    tagged = tag_sentences(model, encoder, sentences, batch_size, accelerator)
    predicted = [entities_from_tags(s, t.tags) for s, t in zip(sentences, tagged)]
    return score_records(records, predicted, entity_types)


def _train_epoch(accelerator, model, optimizer, scheduler, loader, config: Config, epoch: int, progress: dict,
                 rng: dict, stop: _StopRequests) -> float:
    """One epoch (or its rest, after a resume). A Ctrl-C stops it between batches, so that `progress`,
    the weights and `rng["at_progress"]` always describe the same point."""
    model.train()
    loader.set_epoch(epoch)  # the seeded sampler then gives the same order after a resume
    skip = progress["batch"] if progress["epoch"] == epoch else 0
    batches = accelerator.skip_first_batches(loader, skip) if skip else loader
    bar = progress_bar(total=len(loader), initial=skip, desc=f"epoch {epoch + 1}/{config.train.epochs}",
                       disable=not accelerator.is_local_main_process, leave=False)
    # A resume mid-epoch carries the losses of the batches before the cut, so that the epoch's mean
    # loss is the one the uninterrupted run reports.
    losses = list(rng["before_batch"].get("losses", [])) if skip and rng["before_batch"] else []
    done = skip
    for batch in batches:
        if rng["before_batch"] is not None:
            _set_rng_state(rng["before_batch"])
            rng["before_batch"] = None
        with accelerator.accumulate(model):
            loss = model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(model.parameters(), config.train.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            done += 1
            losses.append(loss.item())
            if accelerator.sync_gradients:  # a resume restarts after the last optimizer update
                progress.update(epoch=epoch, batch=done)
                # `losses` only grows within an epoch: its length marks the point, without a copy
                rng["at_progress"] = {**_rng_state(), "losses": losses, "n_losses": len(losses)}
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}", refresh=False)  # drawn by update, when it draws
        bar.update(1)
        if stop.requested():
            bar.close()
            raise KeyboardInterrupt
    bar.close()
    if rng["before_batch"] is not None:  # resumed after the epoch's last batch: nothing was left to run
        _set_rng_state(rng["before_batch"])
        rng["before_batch"] = None
    mean = torch.tensor(np.mean(losses) if losses else 0.0, device=accelerator.device)
    return accelerator.reduce(mean, reduction="mean").item()


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


def _adamw(model, config: Config) -> torch.optim.Optimizer:
    """AdamW with no weight decay on biases and LayerNorm weights, as BERT was trained."""
    no_decay = {id(p) for m in model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters()}
    no_decay |= {id(p) for name, p in model.named_parameters() if name.endswith("bias")}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": config.train.weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]
    # The fused kernel makes the step over a large embedding matrix many times faster on CPU.
    return torch.optim.AdamW(groups, lr=config.train.lr, fused=True)


class _Saver:
    """Writes `best/` and `last/` atomically: a crash mid-save leaves the previous copy whole."""

    def __init__(self, accelerator, model, tokenizer, optimizer, scheduler, settings, config, data):
        self.accelerator, self.model, self.tokenizer = accelerator, model, tokenizer
        self.optimizer, self.scheduler = optimizer, scheduler
        self.settings, self.config, self.data = settings, config, data

    def save(self, name: str, progress: dict, dev: dict | None, rng: dict | None = None) -> None:
        """`rng`: the random state (dropout) to store in `last/`, and the current epoch's losses so far;
        each process stores its own."""
        acc = self.accelerator
        acc.wait_for_everyone()
        target = self.config.run_dir / name
        tmp = target.with_name(name + ".tmp")
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            acc.unwrap_model(self.model).save_pretrained(tmp, safe_serialization=True)
            self.tokenizer.save_pretrained(tmp)
            self.settings.save(tmp)
            (tmp / "config.yaml").write_text(dump_yaml(self.config), encoding="utf-8")
            write_model_card(tmp, self.config, self.data, {"epoch": progress["epoch"], "dev": dev})
            if name == "last":
                torch.save({"progress": progress, "optimizer": self.optimizer.state_dict(),
                            "scheduler": self.scheduler.state_dict()}, tmp / STATE_FILE)
        acc.wait_for_everyone()
        if name == "last":
            state = dict(rng or _rng_state())
            if "n_losses" in state:
                state["losses"] = state["losses"][: state.pop("n_losses")]
            torch.save(state, tmp / f"rng_{acc.process_index}.pt")
        acc.wait_for_everyone()
        if acc.is_main_process:
            old = target.with_name(name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if target.exists():
                target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()


def _load_state(last: Path, accelerator, model, optimizer, scheduler) -> tuple[dict, dict | None]:
    """Restores weights, optimizer and scheduler; returns the progress and this process's random state."""
    state_file = last / STATE_FILE
    if not state_file.exists():
        raise UserError(f"{last}: nothing to resume (no {STATE_FILE}); start without --resume")
    from safetensors.torch import load_file

    accelerator.unwrap_model(model).load_state_dict(load_file(last / "model.safetensors"))
    state = torch.load(state_file, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng = last / f"rng_{accelerator.process_index}.pt"
    return state["progress"], torch.load(rng, weights_only=False) if rng.exists() else None


class _StopRequests:
    """Ctrl-C during training is noted, not raised where it lands: the loop asks `requested()` between
    batches and after each epoch's bookkeeping, so a stop never falls between an optimizer step and
    the record of it, nor halfway through saving. Under `accelerate launch` the processes agree
    (any one asked, all stop, at the same batch): one process stopping alone would leave the
    others waiting for it in the next collective call, for ever."""

    def __init__(self, accelerator):
        self.accelerator, self.caught, self.previous = accelerator, False, None

    def __enter__(self) -> Self:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _note(self, *_) -> None:
        self.caught = True

    def requested(self) -> bool:
        if self.accelerator.num_processes == 1:
            return self.caught
        flag = torch.tensor([float(self.caught)], device=self.accelerator.device)
        return self.accelerator.reduce(flag, reduction="sum").item() > 0


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():  # dropout on a GPU draws from its own generator
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _finish(accelerator, config: Config, encoder, splits, sentences, data, progress, log) -> dict:
    """Score model-best on the test split; write the summary and the card's test scores."""
    run_dir = config.run_dir
    best_dir = run_dir / "best"
    summary = {"run_dir": str(run_dir), "best_epoch": progress["best_epoch"], "dev_f1": progress["best_f1"]}
    if "test" in sentences:
        model, _, _ = load_trained(best_dir, device=str(accelerator.device))
        test = evaluate(model, encoder, splits["test"], sentences["test"], config.entity_types,
                        config.train.eval_batch_size, accelerator)
        summary["test"] = test
        log(f"test (model-best, epoch {progress['best_epoch']}): strict F1 {test['f1']:.4f} "
            f"P {test['precision']:.4f} R {test['recall']:.4f}")
    if accelerator.is_main_process:
        (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        best_dev = json.loads((best_dir / "scores.json").read_text(encoding="utf-8"))["dev"]
        write_model_card(best_dir, config, data, {"epoch": progress["best_epoch"], "dev": best_dev,
                                                  "test": summary.get("test")})
    accelerator.wait_for_everyone()
    return summary


def _check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    if resume and overwrite:
        raise UserError("--resume continues a run and --overwrite replaces it: pass one of them")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a run folder; change run_name or output_dir")
    check_output_folder(run_dir.parent, "output_dir")
    if resume and not (run_dir / "last").exists():
        raise UserError(f"{run_dir}: nothing to resume (no last/ folder)")
    if not resume and not overwrite and run_dir.exists() and any(run_dir.iterdir()):
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it, --overwrite to "
                        f"replace it, or --run_name NAME")


def _logger(accelerator):
    def log(message: str) -> None:
        if accelerator.is_main_process:
            tqdm.write(message, file=sys.stderr)
    return log

