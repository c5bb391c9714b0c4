"""The one exception type that reaches users as a single line instead of a traceback."""
from __future__ import annotations

import sys
from typing import Callable


class UserError(Exception):
    """Bad input or configuration: the message names the file, line or key, and what to do."""


def run_cli(main: Callable[[], int | None]) -> None:
    """Run a command's `main`, turning a UserError into `error: ...` and exit status 2."""
    try:
        status = main()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(status or 0)
