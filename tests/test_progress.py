import io
import sys

from arabic_ner.progress import LOG_INTERVAL, progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_redraw_rarely_into_a_log_file(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    for _ in progress_bar(range(1000), desc="x"):
        pass
    assert sys.stderr.getvalue().count("\r") <= 3  # first draw, final draw; not one per item
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_bar(range(3)).mininterval < LOG_INTERVAL
