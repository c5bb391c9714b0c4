"""Proclitics left outside entity spans (clitics.py): the rules as a table, then against every gold
entity of data/news, and in the conversion from word tags to entities."""
import json

import pytest

from arabic_ner.clitics import Proclitics, may_be_proclitics
from arabic_ner.labels import entities_from_tags
from arabic_ner.words import word_spans
from conftest import ROOT, SHARED

# حدة, لاية, جان, بار, احد, حرية, لول, لاء: pieces of e5-small's or AraBERT's vocabulary that would cut
# وحدة, ولاية, لجان, كبار, واحد, بحرية, فلول, وكلاء but for KEPT_WHOLE
STEMS = {"تنظيم", "داعش", "حدة", "لاية", "جان", "بار", "احد", "حرية", "لول", "لاء"}


@pytest.mark.parametrize("entity, expected", [
    ("والجيش العراقي", "الجيش العراقي"),  # 1: before the article
    ("بالمخابرات الحربية", "المخابرات الحربية"),
    ("وبالقوات", "القوات"),
    ("للجيش التركي", "جيش التركي"),  # ل + ال written لل: the spec leaves both letters out
    ("الجيش", "الجيش"),  # the article stays in
    ("لله", "لله"),  # too short for لل + a noun
    ("و24 جريحا", "24 جريحا"),  # 2: before a number
    ("لـداعش", "داعش"),  # written apart with tatweel
    ("لتنظيم داعش", "تنظيم داعش"),  # 3: before a known stem
    ("وتنظيم داعش", "تنظيم داعش"),
    ("ولتنظيم", "تنظيم"),
    ("وجبهة النصرة", "وجبهة النصرة"),  # جبهة is no known stem: left as tagged
    ("ولاية سيناء", "ولاية سيناء"),  # KEPT_WHOLE, though لاية is a stem here
    ("وحدة مكافحة الإرهاب", "وحدة مكافحة الإرهاب"),
    ("والي ناحية الصقلاوية", "والي ناحية الصقلاوية"),  # the governor, not و + الي
    ("والده", "والده"),
    ("والدولة الإسلامية", "الدولة الإسلامية"),  # but والد... is not always the father
    ("والدواعش", "الدواعش"),
    ("لجان المقاومة", "لجان المقاومة"),
    ("كبار الضباط", "كبار الضباط"),
    ("واحد منهم", "واحد منهم"),
    ("بحرية الجيش", "بحرية الجيش"),
    ("فلول داعش", "فلول داعش"),
    ("وكلاء إيران", "وكلاء إيران"),
    ("وَالجيش", "الجيش"),  # tashkeel on the clitic
    ("لِداعش", "داعش"),
    ("والجَيش", "الجَيش"),  # tashkeel further in
    ("داعش", "داعش"),
    ("«داعش»", "«داعش»"),  # not a word's letters: nothing to cut
])
def test_rules(entity, expected):
    assert entity[Proclitics(STEMS).start(entity, 0, len(entity)):] == expected


def test_a_stem_standing_alone_in_the_same_text_is_known():
    text = "قتل عناصر مليشيا الحشد وقالت ومليشيا"
    start = text.rindex("ومليشيا")
    assert Proclitics(set()).start(text, start, len(text)) == start + 1
    alone = "قالت ومليشيا"
    assert Proclitics(set()).start(alone, 5, len(alone)) == 5


@pytest.mark.parametrize("piece, expected", [
    ("و", True), ("لل", True), ("ولل", True),  # one to three of the clitic letters
    ("لـ", True), ("لَ", True),  # tatweel after them, tashkeel on them
    ("", False), ("وللل", False),  # none, or more than three
    ("ال", False), ("م", False), ("1", False),  # the article, other letters, digits
])
def test_may_be_proclitics(piece, expected):
    assert may_be_proclitics(piece) is expected


def gold_starts(stems) -> tuple[int, int, int]:
    """(as annotated, cut short, clitic left on) over the gold entities of data/news, each entity
    given from the start of its word, as the model's word tags give it."""
    rules, counts = Proclitics(stems), [0, 0, 0]
    for split in ("train", "dev", "test"):
        for line in (ROOT / "data" / "news" / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            text = record["text"]
            for entity in record["entities"]:
                word_start = max(s for s, e in word_spans(text) if s <= entity["start"])
                start = rules.start(text, word_start, entity["end"])
                counts[0 if start == entity["start"] else 1 if start > entity["start"] else 2] += 1
    return tuple(counts)


def test_no_gold_entity_of_the_news_corpus_is_cut_short():
    as_annotated, cut_short, left_on = gold_starts(set())
    assert cut_short == 0
    assert as_annotated / (as_annotated + left_on) > 0.9  # the texts' own words as stems: 1,131 of 1,225


@pytest.mark.skipif(not (SHARED / "tokenizers" / "arabertv02").is_dir(),
                    reason="../shared/tokenizers/arabertv02 absent: AraBERT's pieces as stems not checked")
def test_with_arabert_pieces_as_stems_almost_every_gold_start_is_found():
    from transformers import AutoTokenizer

    from arabic_ner.model import known_words
    stems = known_words(AutoTokenizer.from_pretrained(SHARED / "tokenizers" / "arabertv02"))
    as_annotated, cut_short, left_on = gold_starts(stems)
    assert cut_short == 0 and left_on / (as_annotated + left_on) < 0.01  # 4 of 1,225


def test_entities_from_word_tags_start_after_the_clitic():
    text = "هجوم لداعش والجيش العراقي"
    tags = ["O", "B-ARMED_GROUP", "B-SECURITY_UNIT", "I-SECURITY_UNIT"]
    found = entities_from_tags(text, word_spans(text), tags, proclitics=Proclitics({"داعش"}))
    assert [(e["text"], text[e["start"]:e["end"]]) for e in found] == [("داعش", "داعش"),
                                                                        ("الجيش العراقي", "الجيش العراقي")]
    whole = entities_from_tags(text, word_spans(text), tags)
    assert [e["text"] for e in whole] == ["لداعش", "والجيش العراقي"]


class Vocabulary:
    def __init__(self, *pieces):
        self.pieces = pieces

    def get_vocab(self):
        return {piece: i for i, piece in enumerate(self.pieces)}


@pytest.mark.parametrize("pieces, words", [
    (("▁داعش", "عش", "▁ال", "▁"), {"داعش", "ال", ""}),  # SentencePiece: a word's first piece has ▁
    (("داعش", "##عش", "[CLS]"), {"داعش", "[CLS]"}),  # WordPiece: the other pieces have ##
    (("Ø§Ù", "ĠØ"), set()),  # byte-level BPE: bytes, no letters
])
def test_known_words_of_each_tokenizer_family(pieces, words):
    from arabic_ner.model import known_words
    assert known_words(Vocabulary(*pieces)) == words


def test_known_words_of_a_real_wordpiece_tokenizer(tiny_bert):
    from transformers import AutoTokenizer

    from arabic_ner.model import known_words
    words = known_words(AutoTokenizer.from_pretrained(tiny_bert))
    assert words and not any(w.startswith("##") for w in words)


@pytest.mark.parametrize("in_spans, expected", [(False, "داعش"), (True, "لداعش")])
def test_a_model_trained_on_whole_word_spans_keeps_the_proclitics(trained, in_spans, expected):
    """`proclitics_in_spans` (ANERcorp tags whole words) travels with the model and turns the rules off."""
    import dataclasses

    import torch

    from arabic_ner.model import load_trained
    from arabic_ner.predictor import Predictor

    config, summary = trained
    model, tokenizer, settings = load_trained(config.run_dir / "best")
    with torch.no_grad():  # every subword B-ARMED_GROUP: each word an entity of its own
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([10.0 if label == "B-ARMED_GROUP" else 0.0
                                                  for label in model.config.id2label.values()]))
    predictor = Predictor(model, tokenizer, dataclasses.replace(settings, proclitics_in_spans=in_spans))
    [found] = predictor.predict(["هجوم لداعش"])
    assert [e["text"] for e in found] == ["هجوم", expected]
