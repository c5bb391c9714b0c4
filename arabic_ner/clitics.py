"""Proclitics stay outside entity spans, as the annotation spec puts them: `والجيش العراقي` is
tagged `الجيش العراقي`, `لداعش` is `داعش`, `و24 جريحا` is `24 جريحا`.

The model tags whole words, so an entity whose first word carries a clitic would begin with it:
26 of the 184 entities a news model found on news test did, and users counting mentions got
`الجيش`, `والجيش` and `للجيش` as three names. `Proclitics.start` moves an entity's start past
them, by the rules below, tried in order:

1. a clitic before the article: `وال`, `بال`, `فبال`, `كال` and `لل` (ل with the article's alif
   dropped), unless the word is one of `KEPT_WHOLE` (`والي`, governor, is not و + الي);
2. a clitic before a digit (`و24`, `ل3`) or written apart with tatweel (`لـداعش`);
3. a clitic before a stem of three or more letters that is a word of its own: one the model's
   tokenizer knows as a word (`stems`: its word-initial vocabulary pieces) or one that stands alone
   elsewhere in the same text; unless the word is one of `KEPT_WHOLE`: `لتنظيم` → `تنظيم`, but
   `ولاية` stays whole.

Checked against the 1,225 gold entities of data/news, each record its own text
(tests/test_clitics.py): with multilingual-e5-small's pieces as stems 1,202 begin where the
annotation does, with AraBERT v0.2's 1,221, with the texts' own words alone 1,131, with no cut at
all 1,029; none is cut short. The rest keep a clitic before a stem that is in neither
(`وجبهة`: `جبهة` is no piece of e5's tokenizer).
"""
from __future__ import annotations

import functools
import re
from collections.abc import Container

from arabic_ner.words import LETTER_RUN, MARKS

LETTERS = "وفبكل"  # the one-letter proclitics
ARTICLE = re.compile(r"[وف]?[بك]?(?=ال\w{2})|[وف]?لل(?=\w{3})")  # 1: the clitics before ال (ل + ال is لل)
DIGIT = re.compile(r"[وف]?[لب]?(?=\d)")  # 2: before a number
TATWEEL = re.compile(r"[وف]?[لبك]ـ+(?=\w)")  # 2: written apart with tatweel (لـداعش), which stays outside too
STEM_CLITICS = ("ول", "وب", "وك", "فل", "فب", "فك", "و", "ف", "ل", "ب", "ك")  # 3: the longest that leaves a known stem
MIN_STEM = 3  # letters: shorter stems are too often the ends of unrelated words (حدة in وحدة)
# Words whose first letters look like a clitic but belong to the word. Whole words: والي (governor)
# and والد (father) with its forms, not و + ال. Beginnings (a word that starts with one stays whole):
# those the rules cut in the gold entities of data/news (ولاية، وحدة، فيلق), and entity-like words of
# the same shape that e5-small's or AraBERT's pieces would cut (لجان، كبار، واحد، بحرية، فلول،
# وكلاء; and وزارة، لواء، لجنة، كتائب، فرقة، بعثة, said here before a tokenizer makes them so).
KEPT_WHOLE_WORDS = frozenset({"والي", "والد", "والده", "والدة", "والدته", "والدي", "والديه", "والدين", "والدا",
                              "والدان", "والدها", "والدهم"})
KEPT_WHOLE = ("ولاي", "وحد", "فيلق", "وزار", "لواء", "لجن", "لجا", "كتائب", "فرق", "بعث", "كبار", "واحد", "بحري",
              "فلول", "وكلاء", "وكال")
_WORD = re.compile(LETTER_RUN)  # a word of letters, not a symbol
_MARK = re.compile(rf"[{MARKS}]")
_TASHKEEL = re.compile(rf"[{MARKS.replace(chr(0x640), '')}]")  # the marks but tatweel, which follows a clitic (لـداعش)
_MAYBE_CLITICS = re.compile(rf"[{LETTERS}]{{1,3}}ـ*")


def may_be_proclitics(piece: str) -> bool:
    """Whether `piece`, the letters before a span's start within its word, could be proclitics: one to
    three of LETTERS, tashkeel aside, tatweel after them. Looser than `Proclitics.cut`, which decides
    whether they are; asked where a span's edge is judged, not moved: the error analysis (do two spans
    differ by a clitic?) and `validate` (does a span start inside a word other than after one?)."""
    return _MAYBE_CLITICS.fullmatch(_TASHKEEL.sub("", piece)) is not None


class Proclitics:
    def __init__(self, stems: Container[str]):
        self.stems = stems  # words the tokenizer knows: rule 3 cuts only before one of them

    def start(self, text: str, start: int, end: int) -> int:
        """Where the entity `text[start:end]` begins once the proclitics of its first word are left out.
        The rules read the word without its tashkeel (`وَالجيش` is cut as `والجيش`); tatweel is kept,
        since rule 2 reads it."""
        first = _WORD.match(text, start, end)
        if not first:
            return start
        kept = [i for i in range(first.start(), first.end()) if not _MARK.fullmatch(text[i]) or text[i] == "ـ"]
        word = "".join(text[i] for i in kept)
        cut = self.cut(word, text)
        return kept[cut] if cut else start

    def cut(self, word: str, text: str) -> int:
        """How many leading letters of `word` (without tashkeel) are proclitics; `text` is the text it
        stands in, whose other words count as known stems."""
        if word in KEPT_WHOLE_WORDS or word.startswith(KEPT_WHOLE):
            return 0
        for rule in (ARTICLE, DIGIT, TATWEEL):
            match = rule.match(word)
            if match and match.end():
                return match.end()
        for clitic in STEM_CLITICS:
            stem = word[len(clitic):]
            if word.startswith(clitic) and len(stem) >= MIN_STEM and (stem in self.stems or stem in _words(text)):
                return len(clitic)
        return 0


@functools.lru_cache(maxsize=16)  # the entities of one text come one after another; str caches its hash
def _words(text: str) -> frozenset[str]:
    return frozenset(_MARK.sub("", word) for word in _WORD.findall(text))
