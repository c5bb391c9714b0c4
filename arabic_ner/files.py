"""Writing files whole or not at all: a reader (or an interrupted run) never sees half a file."""
from __future__ import annotations

from pathlib import Path


def write_atomic(path: str | Path, content: str) -> None:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(content, encoding="utf-8")
    tmp.replace(path)
