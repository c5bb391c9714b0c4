import json
import logging
from pathlib import Path

import pytest

from arabic_ner.normalize import AlignedText, normalize
from arabic_ner.sentences import split_sentences
from conftest import SHARED

ARTICLE = Path(__file__).resolve().parents[1] / "data" / "article" / "article.txt"


@pytest.mark.parametrize("raw, normalized, word, raw_word", [
    ("العَرَبِيّةُ قوية", "العربية قوية", "العربية", "العَرَبِيّةُ"),  # tashkeel
    ("الجيـــــش العراقي", "الجيش العراقي", "الجيش", "الجيـــــش"),  # tatweel
    ("عام ٢٠١٩ مضى", "عام 2019 مضى", "2019", "٢٠١٩"),  # Eastern Arabic digits
    ("في 2019م قتل", "في 2019 م قتل", "م", "م"),  # digits glued to letters
    ("قوات ISIS هنا", "قوات ISIS هنا", "ISIS", "ISIS"),  # Latin words
    ("لـ(المدى)، ان", "ل ( المدى ) ، ان", "المدى", "المدى"),  # punctuation glued to words
    ("“داعش”.", "“ داعش ” .", "داعش", "داعش"),
    ("هههههه داعش", "هه داعش", "هه", "هههههه"),  # repeated letters
    ("a &quot;b&quot;", 'a " b "', '"', "&quot;"),  # html entities
    ("  داعش\u200f  ", "داعش", "داعش", "داعش"),  # outer space, direction mark
])
def test_offsets_map_back_to_the_raw_text(raw, normalized, word, raw_word):
    aligned = normalize(raw, "arabert_v02")
    assert aligned.text == normalized
    start = aligned.text.index(word)
    s, e = aligned.raw_span(start, start + len(word))
    assert raw[s:e] == raw_word


def test_none_is_the_identity():
    aligned = normalize("نصٌّ ـ كما هو", "none")
    assert aligned.text == "نصٌّ ـ كما هو" and aligned.raw_span(0, 4) == (0, 4)


def test_sub_keeps_group_spans_and_spreads_literals():
    aligned = AlignedText.identity("ab12").sub(r"([a-z]+)(\d+)", r"<\2>")
    assert aligned.text == "<12>"
    assert aligned.raw_span(1, 3) == (2, 4)  # the digits keep their own place
    assert aligned.raw_span(0, 1) == (0, 4)  # a literal stands for the whole match


def _golden_texts():
    texts = [ARTICLE.read_text(encoding="utf-8")]
    texts = [t[s:e] for t in texts for s, e in split_sentences(t)]
    texts += ["أكّد الجيشُ العراقيّ مقتل ٣ من «داعش» في 2019م، ونشر http://example.com/x?a=1 و@user و a@b.com <br /> &quot;x&quot; ……!!"]
    return texts


@pytest.fixture(scope="module")
def arabert():
    pre = pytest.importorskip("arabert.preprocess", reason="arabert (test dependency) not installed")
    logging.getLogger().setLevel(logging.ERROR)
    return pre.ArabertPreprocessor("aubmindlab/bert-base-arabertv02")


def test_golden_against_arabert_on_the_article(arabert):
    for text in _golden_texts():
        assert normalize(text, "arabert_v02").text == arabert.preprocess(text)


def test_golden_against_arabert_on_real_news(arabert):
    news = SHARED / "corpora" / "saudinewsnet" / "security_articles.jsonl"
    if not news.exists():
        pytest.skip(f"{news} absent: real-news golden test needs ../shared")
    lines = news.read_text(encoding="utf-8").splitlines()[:150]
    checked = 0
    for line in lines:
        text = json.loads(line)["text"]
        for s, e in split_sentences(text):
            aligned = normalize(text[s:e], "arabert_v02")
            assert aligned.text == arabert.preprocess(text[s:e])
            assert len(aligned.starts) == len(aligned.text)
            checked += 1
    assert checked > 1000


# Short strings from the characters the rewritten patterns turn on (runs of letters, digits, Latin,
# "@", ".", "-", "com", "http", spaces): the anchored patterns must give arabert's output exactly.
_PIECES = ["ب", "داعش", "1", "٢", "a", "x", "@", ".", "-", "_", " ", "com", "http://", "www", "@http://", ".com", "م"]


@pytest.mark.parametrize("seed", range(3))
def test_golden_against_arabert_on_adversarial_strings(arabert, seed):
    import random

    rng = random.Random(seed)
    for _ in range(300):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 14)))
        assert normalize(text, "arabert_v02").text == arabert.preprocess(text), text


@pytest.mark.parametrize("run", ["ب" * 200_000, "a" * 200_000, "1" * 200_000, "a1" * 100_000, "x@" + "ب" * 200_000,
                                 "@http://" + "a" * 200_000 + "!"])
def test_long_runs_normalize_in_linear_time(run):
    """Once quadratic (a 20,000-letter word took seconds, 2,000,000 characters hours) or exponential
    ("@http://" and 30 letters: minutes). A bound loose enough for any machine, tight enough to catch
    those."""
    import time

    started = time.perf_counter()
    normalize(run, "arabert_v02")
    assert time.perf_counter() - started < 5
