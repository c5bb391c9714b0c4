"""How a command ends: the one exception type that reaches users as a single line instead of a
traceback (`UserError`), stops asked from outside (Ctrl-C, SIGTERM: `Stopped`, `held_stops`), and
the command-line wrapper that turns both into an exit status (`run_cli`)."""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator


class UserError(Exception):
    """Bad input or configuration: the message names the file, line or key, and what to do."""


class Stopped(KeyboardInterrupt):
    """A stop asked from outside: Ctrl-C (SIGINT) or a scheduler's SIGTERM, handled alike. The command
    stops cleanly (training saves its state first) and exits with 128 + the signal's number."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _raise_stop(signum, frame) -> None:
    raise Stopped(signum)


@contextlib.contextmanager
def noted_stops() -> Iterator[list[int]]:
    """Within the block, Ctrl-C and SIGTERM are noted in the list it yields instead of acting: the
    code decides when to stop. (Blocking the signals would not do: the kernel hands a process's
    signal to any of its threads, and torch's threads do not block it.)"""
    noted: list[int] = []
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        yield noted
        return
    previous = {signum: signal.signal(signum, lambda signum, frame: noted.append(signum)) for signum in STOP_SIGNALS}
    try:
        yield noted
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


@contextlib.contextmanager
def held_stops():
    """Ctrl-C and SIGTERM wait until the block is done (a few renames that belong together), then act
    as they would have."""
    noted: list[int] = []
    try:
        with noted_stops() as noted:
            yield
    finally:
        if noted:
            signal.raise_signal(noted[0])


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command's `main`, turning a UserError into `error: ...` and exit status 2, a stop
    (Ctrl-C, SIGTERM) into `interrupted` and exit status 130 or 143, and a closed stdout into 141."""
    # SIGTERM is what cluster schedulers and `kill` send: it must stop a command the way Ctrl-C does,
    # not kill it between two writes. A job started in the background by a script inherits SIGINT
    # ignored; `kill -INT` should still stop it the way Ctrl-C does, not be dropped.
    for signum in STOP_SIGNALS:
        signal.signal(signum, _raise_stop)
    try:
        status = main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt as exc:  # what was kept, if anything, the command has said
        print("interrupted", file=sys.stderr)
        sys.exit(exc.exit_status if isinstance(exc, Stopped) else 130)
    except BrokenPipeError:  # the reader of stdout has gone (`predict.py ... | head`): stop quietly
        # Python's own recipe: stdout to devnull, so that the flush at exit does not fail again; and
        # the status a shell gives a command that SIGPIPE ended (128 + 13).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1)
    sys.exit(status or 0)


def moved_command(command: str) -> None:
    """`python -m arabic_ner.<module>` ran a command before the commands moved to arabic_ner/cli/:
    one line naming today's form, not a silent exit 0."""
    print(f"error: the command is `python -m arabic_ner {command}` (or `arabic-ner {command}`)", file=sys.stderr)
    sys.exit(2)
