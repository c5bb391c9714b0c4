"""What a run saves to resume from, and the saving: `last/` and `best/` written whole or not at all.

`last/` holds the weights, the optimizer and scheduler (`training_state.pt`, with the `Progress`
and the average of the weights that `train.ema_decay` keeps),
and one `Snapshot` per process (`rng_<i>.pt`): the random state and the running epoch's losses at
the last optimizer update. Restoring all of it replays the rest of the run bit for bit
(tests/test_training.py).
"""
from __future__ import annotations

import random
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from arabic_ner.config import dump_yaml
from arabic_ner.corpus import jsonl_text
from arabic_ner.errors import UserError
from arabic_ner.files import readable_as_usual, replace_folder, swap_folders, write_atomic
from arabic_ner.messages import first_line
from arabic_ner.model_card import write_model_card
from arabic_ner.run_folder import CONFIG, LAST, METRICS, STATE_FILE, read_epochs
from arabic_ner.weight_average import WeightAverage


@dataclass
class Progress:
    """How far a run has come."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the running epoch done, as of its last optimizer update
    best_f1: float = -1.0  # dev F1 of best/
    best_epoch: int = 0  # the epoch best/ is from
    bad_epochs: int = 0  # epochs since dev F1 last improved (early stopping)
    # The epochs' records, saved in last/ with the rest, so that metrics.jsonl, rewritten from it
    # after each save, never lacks or repeats an epoch whatever moment a run was stopped.
    history: list[dict] = field(default_factory=list)
    data: dict = field(default_factory=dict)  # the SHA-256 of each train and dev file the run started with

    @classmethod
    def from_file(cls, saved: dict, run_dir: Path) -> Progress:
        known = {f.name for f in fields(cls)}
        progress = cls(**{k: v for k, v in saved.items() if k in known})
        if "history" not in saved:  # a last/ saved before it carried the history: metrics.jsonl has it
            progress.history = read_epochs(run_dir)[:progress.epoch]
        return progress


@dataclass
class Snapshot:
    """One process's random state (dropout draws from it) and the running epoch's losses, at one point
    of the run: restored on a resume, the rest of the run draws what it would have drawn."""

    rng: dict  # python, numpy and torch generators (and CUDA's, where there is one)
    losses: list[float] = field(default_factory=list)  # so that a resumed epoch reports the same mean
    n_losses: int = 0  # how many of `losses` were done at that point: the list grows, never copied

    @classmethod
    def now(cls, losses: list[float] | None = None) -> Snapshot:
        losses = losses if losses is not None else []
        return cls(rng_state(), losses, len(losses))

    def restore(self) -> None:
        set_rng_state(self.rng)

    def to_file(self) -> dict:
        return {**self.rng, "losses": self.losses[: self.n_losses]}

    @classmethod
    def from_file(cls, saved: dict) -> Snapshot:
        losses = list(saved.get("losses", []))
        return cls({k: v for k, v in saved.items() if k != "losses"}, losses, len(losses))


@dataclass
class State:
    """Where a run is: its progress, and this process's snapshot as of that progress (what last/ stores)."""

    progress: Progress = field(default_factory=Progress)
    snapshot: Snapshot = field(default_factory=lambda: Snapshot.now())
    # A resume mid-epoch puts the saved snapshot back just before its first batch, after the data
    # loader has drawn its own new iterator; a resume at an epoch's start restores it at once.
    pending: Snapshot | None = None

    def __post_init__(self) -> None:
        if self.pending is not None and not self.progress.batch:
            self.pending.restore()
            self.pending = None


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():  # dropout on a GPU draws from its own generator
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_state(last: Path, accelerator, model, optimizer, scheduler, average: WeightAverage,
               warn) -> tuple[Progress, Snapshot, Snapshot | None]:
    """Restores weights, optimizer, scheduler and the average of the weights; returns the progress,
    this process's snapshot (or the present random state, where none was saved: `warn` says the
    replay is then not exact) and the same snapshot to restore (`State`). A damaged file of `last/`
    is a one-line error."""
    state_file = last / STATE_FILE
    if not state_file.exists():
        raise UserError(f"{last}: nothing to resume (no {STATE_FILE}); start without --resume")
    from safetensors.torch import load_file

    rng = last / f"rng_{accelerator.process_index}.pt"
    try:  # a copy cut short, a file lost: what torch and safetensors raise then has no common base
        weights = load_file(last / "model.safetensors")
        state = torch.load(state_file, weights_only=False)
        saved = Snapshot.from_file(torch.load(rng, weights_only=False)) if rng.exists() else None
        progress = Progress.from_file(state["progress"], last.parent)
    except (OSError, RuntimeError, EOFError, SafetensorError, KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{last}: damaged, cannot resume from it ({first_line(exc)[:200]}); restore it, or start "
                        f"again with --overwrite") from None
    if saved is None:  # saved by fewer processes, or a file lost
        warn(f"warning: {rng} is missing: the resumed run draws other random numbers than the uninterrupted "
             f"one would have, so it is not replayed bit for bit")
    accelerator.unwrap_model(model).load_state_dict(weights)
    try:
        optimizer.load_state_dict(state["optimizer"])
    except ValueError:  # torch: "loaded state dict contains a parameter group that doesn't match the size..."
        # check_resumable found the settings the same: config.yaml was edited, or the version that
        # saved trained other weights under them
        raise UserError(f"{last}: saved while training other weights than this config does (its optimizer holds "
                        f"other parameter groups: config.yaml edited, or saved by another version?); start again "
                        f"with --overwrite") from None
    scheduler.load_state_dict(state["scheduler"])
    average.load_state_dict(state.get("average"), str(last))
    return progress, saved or Snapshot.now(), saved


class Saver:
    """Writes `best/` and `last/` whole or not at all: each is written to a hidden copy beside it and swapped in
    when complete, so a crash or a full disk mid-save leaves the previous copy as it was."""

    def __init__(self, accelerator, model, tokenizer, optimizer, scheduler, average, settings, config, data, log):
        self.accelerator, self.model, self.tokenizer = accelerator, model, tokenizer
        self.optimizer, self.scheduler, self.average = optimizer, scheduler, average
        self.settings, self.config, self.data, self.log = settings, config, data, log

    def save(self, name: str, progress: Progress, dev: dict | None, snapshot: Snapshot | None = None) -> None:
        """`snapshot`: what `last/` stores of each process (its own random state and losses). Saving
        `last/` also rewrites `metrics.jsonl` from the history in `progress`."""
        acc = self.accelerator
        target = self.config.run_dir / name
        tmp = swap_folders(target)[0]
        acc.wait_for_everyone()
        if acc.is_main_process:
            self._agree(_failure(lambda: self._write(tmp, name, progress, dev), tmp), target)
        else:
            self._agree(None, target)
        if name == LAST:
            self._agree(_failure(lambda: torch.save((snapshot or Snapshot.now()).to_file(),
                                                    tmp / f"rng_{acc.process_index}.pt"), tmp), target)
        if acc.is_main_process:
            replace_folder(tmp, target)
            if name == LAST:
                self.write_metrics(progress)
        acc.wait_for_everyone()

    def write_metrics(self, progress: Progress) -> None:
        """metrics.jsonl, rewritten whole from the history: one line per epoch, never one lacking or
        repeated whatever moment a run was stopped (the main process writes it)."""
        if not self.accelerator.is_main_process:
            return
        lines = jsonl_text(progress.history)
        try:
            write_atomic(self.config.run_dir / METRICS, lines)
        except UserError as exc:  # last/ holds the history: the next save or a resume rewrites it
            self.log(f"warning: {exc}")

    def _write(self, tmp: Path, name: str, progress: Progress, dev: dict | None) -> None:
        shutil.rmtree(tmp, ignore_errors=True)
        self.accelerator.unwrap_model(self.model).save_pretrained(tmp, safe_serialization=True)
        self.tokenizer.save_pretrained(tmp)
        readable_as_usual(tmp)
        self.settings.save(tmp)
        write_atomic(tmp / CONFIG, dump_yaml(self.config))
        if name == LAST and self.average.trained:
            dev = None  # its dev scores are the average's (best/), not of the weights last/ holds
        write_model_card(tmp, self.config, self.data, {"epoch": progress.epoch, "dev": dev})
        if name == LAST:
            torch.save({"progress": asdict(progress), "optimizer": self.optimizer.state_dict(),
                        "scheduler": self.scheduler.state_dict(), "average": self.average.state_dict()},
                       tmp / STATE_FILE)

    def _agree(self, failure: str | None, target: Path) -> None:
        """Every process learns whether any failed to write its part (the others would otherwise wait
        for it for ever); then all stop with one line, the temporary copy removed."""
        failed = failure is not None
        if self.accelerator.num_processes > 1:
            flag = torch.tensor([float(failed)], device=self.accelerator.device)
            failed = self.accelerator.reduce(flag, reduction="sum").item() > 0
        if not failed:
            return
        if self.accelerator.is_main_process:
            shutil.rmtree(swap_folders(target)[0], ignore_errors=True)
        kept = (f"the previous {target.name}/ is kept as it was" if target.is_dir()
                else f"no {target.name}/ was saved before")
        raise UserError(f"cannot save {target} ({failure or 'another process failed to write'}); {kept}; "
                        f"fix that (free some space?) and continue with --resume")


def _failure(write, folder: Path) -> str | None:
    """Why `write()` failed to write its files into `folder`, or None. A full disk or quota shows as
    OSError, or as RuntimeError from torch.save's writer and SafetensorError from safetensors, whose
    messages do not say why: the free space on the disk does."""
    try:
        write()
    except UserError as exc:  # the project's own writer has said it in one line already
        return str(exc)
    except OSError as exc:
        return first_line(exc)
    except (RuntimeError, SafetensorError) as exc:
        free = shutil.disk_usage(next(p for p in (folder, *folder.parents) if p.exists())).free
        return f"{first_line(exc)}; {free / 2**20:.1f} MiB free on that disk"
    return None
