import io
import sys

from arabic_ner.progress import LOG_INTERVAL, progress_bar


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_bars_redraw_rarely_into_a_log_file_and_live_on_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    bar = progress_bar(total=10)
    assert bar.mininterval == bar.maxinterval == LOG_INTERVAL
    bar.close()
    monkeypatch.setattr(sys, "stderr", _Terminal())
    bar = progress_bar(total=10)
    assert bar.mininterval < 1 and bar.maxinterval < LOG_INTERVAL
    bar.close()
