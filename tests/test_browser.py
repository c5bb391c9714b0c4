"""The HTML view opens in a real headless browser: right to left, every entity highlighted in its colour."""
import json
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from arabic_ner.render import PALETTE, render_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TYPES = ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"]
TEXT = "قُتِلَ تنظيـــم داعش ٥ جنود 😀 في\u200cبغداد. <b>&amp;</b> اعلنت القوات الامنية (ISIS)"
# Runs in the page after layout and writes what the browser computed into the DOM, which --dump-dom returns.
PROBE = """<script>
const marks = [...document.querySelectorAll("article mark")];
document.body.dataset.probe = JSON.stringify({
  direction: getComputedStyle(document.querySelector("article p")).direction,
  elements: document.querySelectorAll("article p b").length,
  marks: marks.map(m => ({text: m.firstChild.textContent, label: m.querySelector("sub").textContent,
                          colour: getComputedStyle(m).backgroundColor, width: m.getBoundingClientRect().width}))});
</script>"""


class _Probe(HTMLParser):
    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.probe = json.loads(dict(attrs)["data-probe"])


def _rgb(hex_colour: str) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r}, {g}, {b})"


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium absent: `apt-get install chromium` (Debian) runs this test")
def test_html_renders_right_to_left_with_every_entity(tmp_path):
    spans = [("داعش", "ARMED_GROUP"), ("٥ جنود", "CASUALTY"), ("القوات الامنية", "SECURITY_UNIT")]
    entities = [{"start": TEXT.index(s), "end": TEXT.index(s) + len(s), "label": label, "score": 0.9}
                for s, label in spans]
    page = render_html([{"id": "a.txt", "text": TEXT, "entities": entities}, {"id": "empty", "text": "", "entities": []}],
                       TYPES)
    path = tmp_path / "view.html"
    path.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--disable-background-networking", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
                             "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    probe = _Probe()
    probe.feed(result.stdout)
    assert probe.probe["direction"] == "rtl"
    assert [(m["text"], m["label"]) for m in probe.probe["marks"]] == spans
    assert all(m["width"] > 0 for m in probe.probe["marks"])
    colours = {label: _rgb(PALETTE[TYPES.index(label)]) for _, label in spans}
    assert [m["colour"] for m in probe.probe["marks"]] == [colours[label] for _, label in spans]
    assert probe.probe["elements"] == 0  # the article's `<b>` is text, not markup
