"""What a run folder is, and the only code that may delete one.

`models/<run_name>/` is written by training: `config.yaml` first (its first line `RUN_MARK`), then
`metrics.jsonl` after each epoch, `best/` when dev F1 improves (at the last epoch without a dev
split), and `last/` (the state to resume from) every `train.save_minutes`, at the end and on a stop.
`--overwrite` deletes a whole folder, so it is allowed only on a folder train.py wrote (that
`config.yaml`, or, from before the mark, `last/training_state.pt`) with something saved in it: a
typo in `run_name` or `output_dir` must never cost a user a folder this project did not write (many
tools write a `config.yaml` and a `metrics.jsonl`). A run killed before its first save of `last/`
has nothing to resume from: with only its `config.yaml` it is restarted as if new; with `best/` or
the epochs' `metrics.jsonl`, a model the user may want, only when asked (`--overwrite`, or
`--resume`: a scheduler's requeue of the same command). One training at a time in a folder
(`run_lock`).
"""
from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

from arabic_ner.config import Config, changed_settings, parse_yaml, saved_defaults, to_dict
from arabic_ner.errors import UserError, held_stops
from arabic_ner.files import (LOCKS, beside, check_output_folder, is_file_at, lock, recover_swap,
                              swap_folders)
from arabic_ner.textfiles import numbered_lines

CONFIG, METRICS, SUMMARY, LAST, BEST = "config.yaml", "metrics.jsonl", "metrics.json", "last", "best"
STATE_FILE = "training_state.pt"  # in last/: the optimizer, the scheduler and the Progress (checkpoint.py)
RUN_MARK = "# written by arabic_ner's train.py: the resolved config of this run\n"  # config.yaml's first line
# What a resumed run may be given otherwise than it started with: where and how it runs, what it is
# finally tested on, and how long it goes on (more epochs stretch the learning-rate schedule from the
# step reached, so the result is no longer what a fresh run with them would give). Any other change
# (a learning rate, a seed, the data) would make one model of two recipes under one config.yaml.
RESUME_MAY_CHANGE = ("output_dir", "run_name", "data.test", "train.epochs", "train.patience", "train.threads",
                     "train.save_minutes", "train.eval_batch_size")
# What a run holds before its first resumable save: its config, best/ and the epochs' metrics.jsonl
# (written as epochs end, last/ every few minutes), and the temporary copies a save writes before
# renaming them (left by a save cut short); of these, best/ and metrics.jsonl are worth keeping.
_UNSAVED = {CONFIG, BEST, METRICS, *(folder.name for name in (LAST, BEST) for folder in swap_folders(Path(name)))}


@contextlib.contextmanager
def run_lock(run_dir: Path, holder: bool = True):
    """Held while a training runs in `run_dir`, by its main process (`holder`), and while an
    --overwrite of a cross-validation or self-training clears it: a second training of the folder
    (the same command twice, a scheduler's requeue while the first still runs, a self-training's
    --overwrite) is refused in one line; it deleted or interleaved the first's saves.
    A hidden `.<run_name>.arabic-ner-lock` beside the folder, opened for writing as NFS's locks
    need; an output folder that does not exist yet is made for it (two first runs of one command
    raced unguarded). The holder removes the file while it still holds the lock (`_take_lock` takes
    a removed file's successor instead), and the folder made for it if the run left nothing else
    there: a finished run leaves no lock file beside its folder for a user to copy or wonder at.
    Unguarded, with no file, where there are no locks (Windows) or the folder cannot be written."""
    if not holder:
        yield
        return
    path = _lock_file(run_dir)
    taken = _take_lock(path, run_dir)
    if taken is None:  # a folder it may not write in: unguarded
        yield
        return
    file, made = taken
    with file:  # the lock is released as the file closes
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                if is_file_at(file, path):  # not another run's, made since
                    path.unlink()
            _remove_made(made)  # where the run failed before writing


def _take_lock(path: Path, run_dir: Path):
    """The open lock file, locked, and the folders made for it (deepest first); None where it cannot
    be written or nothing locks. A lock taken on a file the holder before removed as it ended guards
    nothing: the file now there (or a new one) is taken instead."""
    if not LOCKS:
        return None
    made: set[Path] = set()
    while True:
        made |= {parent for parent in (path.parent, *path.parent.parents) if not parent.exists()}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file = open(path, "a")  # noqa: SIM115 (the caller closes it)
        except OSError:
            _remove_made(_deepest_first(made))
            return None
        if not lock(file):
            file.close()
            raise busy(run_dir)
        if is_file_at(file, path):
            return file, _deepest_first(made)
        file.close()


def _deepest_first(folders: set[Path]) -> list[Path]:
    return sorted(folders, key=lambda folder: -len(folder.parts))


def _remove_made(made: list[Path]) -> None:
    """The folders made for a run's lock, deepest first, if they are empty: a failed run leaves none.
    rmdir refuses a folder with anything in it, so another run's lock file or run folder stays."""
    with contextlib.suppress(OSError):
        for folder in made:
            folder.rmdir()


def _lock_file(run_dir: Path) -> Path:
    return beside(run_dir, "lock")


def busy(run_dir: Path) -> UserError:
    """The line every process of a training refused by another's lock stops with."""
    return UserError(f"{run_dir}: another training runs in it now ({_lock_file(run_dir)} is locked); wait for it "
                     f"to end or stop it, or give this one another --run_name")


def read_epochs(run_dir: Path) -> list[dict]:
    """The epochs' records of a run's `metrics.jsonl` (checkpoint.Saver writes it), in order; empty
    when it has none yet."""
    path = Path(run_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for _, line in numbered_lines(path.read_text(encoding="utf-8")) if line.strip()]


def _written_by_train(path: Path) -> bool:
    """`path` is a folder (not a link) whose `config.yaml` train.py wrote, or, from before its mark,
    one holding the state train.py saves to resume from."""
    if not path.is_dir() or path.is_symlink():
        return False
    try:
        with (path / CONFIG).open(encoding="utf-8") as f:
            if f.readline() == RUN_MARK:
                return True
    except (OSError, UnicodeDecodeError):
        return False
    return (path / LAST / STATE_FILE).is_file()


def _adopt_legacy_swaps(run_dir: Path) -> None:
    """Before 2026-12-06 a save swapped through `last.tmp`/`last.old` (`best.*`): in a folder train.py
    wrote, both of them and no `last/` (`best/`) is what a crash between that code's renames left, so
    they take today's names and the swap is finished as today's are. Any other `best.old` may be a
    user's backup (`mv best best.old`): left alone."""
    if not _written_by_train(run_dir):
        return
    for name in (LAST, BEST):
        legacy = [run_dir / f"{name}{suffix}" for suffix in (".tmp", ".old")]
        today = swap_folders(run_dir / name)
        if (run_dir / name).exists() or not all(p.is_dir() and not p.is_symlink() for p in legacy) or any(
                p.exists() for p in today):
            continue
        for old, new in zip(legacy, today):
            try:
                old.rename(new)
            except OSError:
                if old.exists():
                    raise  # else another process of the same run (torchrun's) moved it first, maybe on to LAST


def is_run_folder(path: Path) -> bool:
    """`path` is a run folder this project wrote, with something saved in it."""
    path = Path(path)
    return _written_by_train(path) and ((path / METRICS).is_file() or (path / LAST).is_dir())


def is_unsaved_run(path: Path) -> bool:
    """`path` holds a run that started and saved nothing to resume from (no `last/`)."""
    path = Path(path)
    return _written_by_train(path) and {p.name for p in path.iterdir()} <= _UNSAVED


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> bool:
    """Whether the run starts afresh (True) or continues from `last/` (False); a one-line error when
    neither is allowed. Nothing is deleted here (a swap of `last/` or `best/` cut short is finished)."""
    if resume and overwrite:
        raise UserError("--resume continues a run and --overwrite replaces it: pass one of them")
    if run_dir.is_symlink():
        raise UserError(f"{run_dir}: is a link, not a run folder; change run_name or output_dir")
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{run_dir}: is a file, not a run folder; change run_name or output_dir")
    check_output_folder(run_dir.parent, "output_dir")
    if run_dir.is_dir():
        _adopt_legacy_swaps(run_dir)
        for name in (LAST, BEST):
            recover_swap(run_dir / name)
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return True
    if is_unsaved_run(run_dir):  # nothing to resume: --resume starts it again (a scheduler's requeue)
        kept = [name for name in (BEST + "/", METRICS) if (run_dir / name).exists()]
        if kept and not (resume or overwrite):
            raise UserError(f"{run_dir}: holds {' and '.join(kept)} of a run stopped before its first save of "
                            f"{LAST}/, so nothing to resume from; pass --overwrite to start it again (they are "
                            f"replaced), or --run_name NAME to keep them")
        return True
    if not is_run_folder(run_dir):
        raise UserError(f"{run_dir} is not a run folder written by train.py (no {CONFIG} of train.py's with "
                        f"{METRICS} or {LAST}/), so it is never replaced, even with --overwrite; choose another "
                        f"--run_name or --output_dir")
    if resume:
        if not (run_dir / LAST).is_dir():
            raise UserError(f"{run_dir}: nothing to resume (no {LAST}/ folder); pass --overwrite to start again")
        return False
    if not overwrite:
        raise UserError(f"{run_dir} already holds a run; pass --resume to continue it, --overwrite to "
                        f"replace it, or --run_name NAME")
    return True


def clear_run_dir(run_dir: Path) -> None:
    """Empty `run_dir` for a fresh start: only ever a run folder, or a run that saved nothing."""
    # with Ctrl-C and SIGTERM held: a folder half deleted would be neither a run nor free
    if is_run_folder(run_dir):
        with held_stops():
            shutil.rmtree(run_dir)
    elif is_unsaved_run(run_dir):
        with held_stops():
            for entry in run_dir.iterdir():
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    elif run_dir.exists() and any(run_dir.iterdir()):  # check_run_dir refuses it first; never delete it
        raise UserError(f"{run_dir} is not a run folder written by train.py; not removing it")


def check_resumable(run_dir: Path, config: Config) -> None:
    """A one-line error when `config` differs from the `config.yaml` of the run it would resume in
    a setting other than those of RESUME_MAY_CHANGE (the silver section, which training never
    reads, aside), naming each with its two values."""
    path = run_dir / CONFIG
    try:
        saved = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read the run's config ({exc}); pass --overwrite to start again") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path}: not the config of a run (a mapping of keys); pass --overwrite to start again")
    changed = {key: values for key, values in changed_settings(_data_where(saved), _data_where(to_dict(config)),
                                                               saved_defaults()).items()
               if key not in RESUME_MAY_CHANGE and not key.startswith("silver.")}
    if changed:
        raise UserError(f"{run_dir}: --resume with other settings than the run started with ("
                        + ", ".join(f"{key}: {then!r} there, {now!r} now" for key, (then, now) in changed.items())
                        + f"); resume with those of its {CONFIG}, or start again with --overwrite or another --run_name")


def _data_where(settings: dict) -> dict:
    """`settings` with its data files as absolute paths, and those inside `output_dir` relative to
    it: a cross-validation writes each fold's data into its own folder, which may be moved
    (to docs/cv/) and resumed there."""
    out = Path(str(settings.get("output_dir", "models"))).resolve()
    data = dict(settings.get("data") or {})
    for split in ("train", "dev", "test"):
        files = data.get(split)
        files = [files] if isinstance(files, str) else files
        if isinstance(files, list) and all(isinstance(f, str) for f in files):
            paths = [Path(f).resolve() for f in files if f]
            data[split] = [f"<output_dir>/{p.relative_to(out)}" if p.is_relative_to(out) else str(p) for p in paths]
    return {**settings, "data": data}
