"""Output files and folders: checked before any work, written whole or not at all.

A command checks its output paths first, so a typo in `-o` costs nothing, not a whole run; and
writes each file under a temporary name that is renamed when complete, so a reader (or an
interrupted run) never sees half a file.
"""
from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from arabic_ner.errors import UserError, held_stops


def check_output_files(outputs: dict[str, Path | None], inputs: list[Path] = ()) -> None:
    """Each output (named by its option, e.g. `-o`) can be written: its folder exists, it is not a
    folder, it is none of `inputs` (writing would destroy them) and no two options share a path."""
    seen: dict[Path, str] = {}
    sources = {_identity(p) for p in inputs if Path(p).is_file()}
    for option, path in outputs.items():
        if path is None:
            continue
        path = Path(path)
        if path.is_dir():
            raise UserError(f"{option} {path}: is a folder; name a file")
        folder = path.parent
        if not folder.is_dir():
            raise UserError(f"{option} {path}: no such folder {folder}")
        if not os.access(folder, os.W_OK):
            raise UserError(f"{option} {path}: folder {folder} is not writable")
        if path.exists() and _identity(path) in sources:
            raise UserError(f"{option} {path}: is also an input; writing it would destroy the input")
        key = path.resolve()
        if key in seen:
            raise UserError(f"{option} {path}: {seen[key]} writes there too; give each output its own file")
        seen[key] = option


def check_output_folder(path: Path, option: str) -> None:
    """The folder `path` exists or can be created (nothing is created yet: a run that then fails on
    its input leaves no empty folder behind)."""
    path = Path(path).absolute()
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise UserError(f"{option} {path}: folder {existing} is not writable")


def make_output_folder(path: Path, option: str) -> None:
    """Create the folder `path` (and its parents), or fail with one line naming `option`."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{option} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{option} {path}: cannot create the folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise UserError(f"{option} {path}: folder is not writable")


def write_atomic(path: str | Path, content: str) -> None:
    write_files({path: content})


def write_files(contents: dict[str | Path, str]) -> None:
    """Write each file whole or not at all, and the set of them together: every file goes to a
    temporary name first, then all are renamed with Ctrl-C and SIGTERM held back, so that a stop
    leaves either all of them or none (say `-o` written and `--html` missing). The temporary names
    are hidden and carry the process id: no two outputs (`-o a.tmp --html a`), no two processes and
    no file of the user's share one."""
    tmps = {Path(path): Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp") for path in contents}
    try:
        for (path, tmp), content in zip(tmps.items(), contents.values()):
            try:
                tmp.write_text(content, encoding="utf-8")
            except OSError as exc:
                raise UserError(f"{path}: cannot write ({exc.strerror})") from None
        with held_stops():
            for path, tmp in tmps.items():
                try:
                    tmp.replace(path)
                except OSError as exc:
                    raise UserError(f"{path}: cannot write ({exc.strerror})") from None
    finally:  # whatever stopped it (a full disk, text UTF-8 cannot hold, Ctrl-C), leave no half file
        for tmp in tmps.values():
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)


def replace_folder(tmp: Path, target: Path) -> None:
    """Put the complete folder `tmp` in place of `target`. A folder cannot be renamed over a
    non-empty one, so `target` steps aside to `<name>.old` first; `recover_swap` finishes the swap
    if a crash falls between the two renames."""
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recover_swap(target: Path) -> None:
    """Finish a `replace_folder` cut between its renames: `<name>.old` without `<name>` means the new
    copy, `<name>.tmp`, was already complete (the old one steps aside only then)."""
    old, tmp = (target.with_name(target.name + suffix) for suffix in (".old", ".tmp"))
    if not target.exists() and old.is_dir():
        try:
            (tmp if tmp.is_dir() else old).rename(target)
        except OSError:
            if not target.exists():
                raise  # else another process of the same run finished it first


def _identity(path: Path) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_dev, stat.st_ino
