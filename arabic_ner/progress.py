"""Progress bars on stderr: live on a terminal, a line now and then in a log file.

tqdm redraws its bar up to ten times a second; in a terminal that is one line that moves, but in a
log file (`python train.py ... 2> train.log`) every redraw stays, megabytes of them on a long run.
"""
from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL = 30.0  # seconds between redraws when stderr is not a terminal


def progress_bar(iterable=None, **kwargs) -> tqdm:
    """A tqdm bar on stderr (its arguments), redrawn at most every LOG_INTERVAL s into a file."""
    if not sys.stderr.isatty():  # tqdm's monitor thread also redraws after `maxinterval`
        kwargs.setdefault("mininterval", LOG_INTERVAL)
        kwargs.setdefault("maxinterval", LOG_INTERVAL)
    return tqdm(iterable, file=sys.stderr, **kwargs)


def say(message: str) -> None:
    """A line on stderr that leaves a progress bar under way whole."""
    tqdm.write(message, file=sys.stderr)
