"""Output files and folders: checked before any work, written whole or not at all.

A command checks its output paths first, so a typo in `-o` costs nothing, not a whole run; and
writes each file under a temporary name that is renamed when complete, so a reader (or an
interrupted run) never sees half a file.
"""
from __future__ import annotations

import os
from pathlib import Path

from arabic_ner.errors import UserError


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
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(content, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"{path}: cannot write ({exc.strerror})") from None


def _identity(path: Path) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_dev, stat.st_ino
