"""The one exception type that reaches users as a single line instead of a traceback, and the
command-line wrapper that makes it so."""
from __future__ import annotations

import signal
import sys
from collections.abc import Callable


class UserError(Exception):
    """Bad input or configuration: the message names the file, line or key, and what to do."""


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command's `main`, turning a UserError into `error: ...` and exit status 2."""
    # A job started in the background by a script inherits SIGINT ignored; `kill -INT` should still
    # stop it the way Ctrl-C does (training saves its state first), not be dropped.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        status = main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C: outputs are written whole or not at all, so nothing to report
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    sys.exit(status or 0)


def first_line(exc: BaseException) -> str:
    """An exception's message, first line only (or its type when it has none), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"
