"""The scorer: hand-worked tables, a golden check against seqeval, the interval and error kinds."""
import random

import pytest
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from arabic_ner import metrics
from arabic_ner.analysis import analyse, format_errors
from arabic_ner.conll import from_conll
from arabic_ner.labels import entities_from_tags, tags_to_ranges
from arabic_ner.metrics import bootstrap_f1, entity_scores, record_tags, span_counts, span_scores, word_counts
from arabic_ner.words import word_spans
from conftest import SHARED

TYPES = ["A", "B"]


@pytest.mark.parametrize("gold, pred, strict_f1, default_f1, macro_f1", [
    # exact match
    ([["B-A", "I-A", "O", "B-B"]], [["B-A", "I-A", "O", "B-B"]], 1.0, 1.0, 1.0),
    # a stray I- is an entity for conlleval-style matching only
    ([["B-A", "I-A", "O", "B-B"]], [["I-A", "I-A", "O", "B-B"]], 0.6667, 1.0, 0.5),
    # micro vs macro: A has 3 entities all found, B one entity missed
    ([["B-A", "O", "B-A", "O", "B-A", "O", "B-B"]], [["B-A", "O", "B-A", "O", "B-A", "O", "O"]], 0.8571, 0.8571, 0.5),
    # empty predictions
    ([["B-A", "O"]], [["O", "O"]], 0.0, 0.0, 0.0),
    # empty gold: every prediction is a false positive
    ([["O", "O"]], [["B-B", "O"]], 0.0, 0.0, 0.0),
    # nothing anywhere
    ([["O"]], [["O"]], 0.0, 0.0, 0.0),
    # boundary error
    ([["B-A", "I-A"]], [["B-A", "O"]], 0.0, 0.0, 0.0),
])
def test_hand_worked_scores(gold, pred, strict_f1, default_f1, macro_f1):
    scores = entity_scores(gold, pred, TYPES)
    assert scores["f1"] == strict_f1
    assert scores["default_mode"]["f1"] == default_f1
    assert scores["macro"]["f1"] == macro_f1
    assert set(scores["per_type"]) == set(TYPES)


def test_per_type_precision_recall_support():
    scores = entity_scores([["B-A", "O", "B-B", "B-B"]], [["B-A", "B-A", "B-B", "O"]], TYPES)
    assert scores["per_type"]["A"] == {"precision": 0.5, "recall": 1.0, "f1": 0.6667, "support": 1}
    assert scores["per_type"]["B"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert (scores["precision"], scores["recall"], scores["support"]) == (0.6667, 0.6667, 3)


SYNTHETIC = """قال\tO
مصدر\tO
في\tO
وزارة\tB-ORG
الداخلية\tI-ORG
ان\tO
احمد\tB-PERS
علي\tI-PERS
زار\tO
بغداد\tB-LOC
.\tO

وصل\tO
الوفد\tO
الى\tO
البصرة\tB-LOC
مع\tO
الامم\tB-ORG
المتحدة\tI-ORG
"""


def perturb(tags: list[list[str]], seed: int) -> list[list[str]]:
    """Predictions with every kind of error, made from gold tags."""
    rng = random.Random(seed)
    types = sorted({t[2:] for seq in tags for t in seq if t != "O"})
    out = []
    for seq in tags:
        seq = list(seq)
        for first, last, label in tags_to_ranges(seq):
            roll = rng.random()
            if roll < 0.15:
                seq[first:last] = ["O"] * (last - first)
            elif roll < 0.3:
                other = rng.choice(types)
                seq[first:last] = [f"B-{other}"] + [f"I-{other}"] * (last - first - 1)
            elif roll < 0.4 and last - first > 1:
                seq[last - 1] = "O"
        for i in range(len(seq)):
            if seq[i] == "O" and rng.random() < 0.03:
                seq[i] = f"B-{rng.choice(types)}"
        out.append(seq)
    return out


def conll_files():
    yield "synthetic", SYNTHETIC
    for split in ("dev", "test"):
        path = SHARED / "corpora" / "anercorp" / f"{split}.tsv"
        if path.exists():
            yield split, path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name, content", list(conll_files()), ids=lambda x: x if len(x) < 20 else "")
def test_golden_against_seqeval_on_anercorp_format(name, content):
    """Our path (CoNLL -> char spans -> words of the raw text -> seqeval) gives seqeval's own numbers
    computed straight on the file's tags."""
    repaired = []
    gold_records = from_conll(content, name, repaired)
    gold_tags = [[line.split("\t")[-1] for line in block.splitlines() if line.strip()]
                 for block in content.split("\n\n") if block.strip()]
    from arabic_ner.labels import repair_iob2
    gold_tags = [repair_iob2(seq) for seq in gold_tags]
    pred_tags = perturb(gold_tags, seed=1)
    pred_entities = []
    for record, seq in zip(gold_records, pred_tags):
        starts = [0]
        for token in record["text"].split(" ")[:-1]:
            starts.append(starts[-1] + len(token) + 1)
        tokens = record["text"].split(" ")
        pred_entities.append([{"start": starts[a], "end": starts[b - 1] + len(tokens[b - 1]), "label": label}
                              for a, b, label in tags_to_ranges(seq)])
    types = sorted({t[2:] for seq in gold_tags for t in seq if t != "O"})
    ours = entity_scores(*record_tags(gold_records, pred_entities), types)
    reference = classification_report(gold_tags, pred_tags, mode="strict", scheme=IOB2, output_dict=True,
                                      zero_division=0)
    assert ours["f1"] == round(reference["micro avg"]["f1-score"], 4)
    assert ours["support"] == reference["micro avg"]["support"]
    for t in types:
        assert ours["per_type"][t]["f1"] == round(reference[t]["f1-score"], 4)
        assert ours["per_type"][t]["support"] == reference[t]["support"]
    assert ours["macro"]["f1"] == round(reference["macro avg"]["f1-score"], 4)


def test_bootstrap_interval_brackets_the_score_and_is_seeded():
    gold = [["B-A", "O", "B-B"]] * 30 + [["B-A", "I-A"]] * 30
    pred = [["B-A", "O", "O"]] * 30 + [["B-A", "I-A"]] * 30
    f1 = entity_scores(gold, pred, TYPES)["f1"]
    low, high = bootstrap_f1(word_counts(gold, pred), samples=500, seed=3)
    assert low <= f1 <= high and low < high
    assert bootstrap_f1(word_counts(gold, pred), samples=500, seed=3) == (low, high)
    assert bootstrap_f1(word_counts([["B-A"]] * 5, [["B-A"]] * 5)) == (1.0, 1.0)


def test_bootstrap_draws_resamples_in_blocks_with_the_same_result(monkeypatch):
    # memory held to a block of record indices, whatever the number of records and resamples
    counts = [(i % 3, i % 4, i % 5) for i in range(37)]
    whole = bootstrap_f1(counts, samples=500, seed=3)
    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK", 37 * 3)  # three resamples a block, the last block short
    assert bootstrap_f1(counts, samples=500, seed=3) == whole
    monkeypatch.setattr(metrics, "BOOTSTRAP_BLOCK", 1)  # one resample a block
    assert bootstrap_f1(counts, samples=500, seed=3) == whole


def char_tags(text: str, entities: list[dict]) -> list[str]:
    """IOB2 over the characters of `text`: seqeval's strict mode on these counts exactly the
    character-exact entities, which makes it the reference for span_scores."""
    tags = ["O"] * len(text)
    for e in entities:
        tags[e["start"]:e["end"]] = ["B-" + e["label"]] + ["I-" + e["label"]] * (e["end"] - e["start"] - 1)
    return tags


def span(text: str, piece: str, label: str, nth: int = 0) -> dict:
    start = -1
    for _ in range(nth + 1):
        start = text.index(piece, start + 1)
    return {"start": start, "end": start + len(piece), "label": label}


def test_character_exact_scores_against_seqeval_over_characters():
    text = "هجوم لداعش والجيش العراقي وداعش على داعش"
    gold = [{"text": text, "entities": [span(text, "داعش", "A"), span(text, "الجيش العراقي", "B"),
                                        span(text, "داعش", "A", 1), span(text, "داعش", "A", 2)]}]
    predicted = [[span(text, "لداعش", "A"), span(text, "الجيش العراقي", "B"), span(text, "داعش", "B", 1),
                  span(text, "داعش", "A", 2), span(text, "على", "A")]]
    ours = span_scores(gold, predicted, TYPES)
    reference = classification_report([char_tags(text, gold[0]["entities"])], [char_tags(text, predicted[0])],
                                      mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    assert (ours["precision"], ours["recall"], ours["f1"]) == (0.4, 0.5, 0.4444)  # 2 of 5 predicted, of 4 gold
    assert ours["f1"] == round(reference["micro avg"]["f1-score"], 4)
    for t in ("A", "B"):
        assert ours["per_type"][t]["f1"] == round(reference[t]["f1-score"], 4)
        assert ours["per_type"][t]["support"] == reference[t]["support"]
    assert ours["macro"]["f1"] == round(reference["macro avg"]["f1-score"], 4)
    assert type(ours["precision"]) is type(ours["f1"]) is float and type(ours["support"]) is int  # Python's own: the scores go to JSON
    # seqeval over words cannot see the clitic: there لداعش is داعش
    words = entity_scores(*record_tags(gold, predicted), TYPES)
    assert words["f1"] > ours["f1"]
    assert span_counts(gold, predicted) == [(2, 5, 4)]


def test_error_kinds_and_confusion():
    text = "w0 w1 w2 w3 w4 w5 w6 w7"
    record = {"id": "x", "text": text}
    gold = ["B-A", "I-A", "O", "B-B", "O", "B-A", "O", "O"]
    pred = ["B-A", "O", "O", "B-A", "O", "O", "O", "B-B"]
    spans = word_spans(text)
    result = analyse([dict(record, entities=entities_from_tags(text, spans, gold))],
                     [entities_from_tags(text, spans, pred)], TYPES)
    # each false negative and false positive once: boundary and type errors are one of each
    assert result["error_kinds"] == {"boundary": 2, "type": 2, "missed": 1, "spurious": 1}
    gold_spans, pred_spans = set(tags_to_ranges(gold)), set(tags_to_ranges(pred))
    assert sum(result["error_kinds"].values()) == len(gold_spans ^ pred_spans) == len(result["errors"])
    assert result["confusion"]["A"] == {"A": 1, "B": 0, "(missed)": 1}
    assert result["confusion"]["B"] == {"A": 1, "B": 0, "(missed)": 0}
    assert result["confusion"]["(spurious)"]["B"] == 1
    negatives = [e for e in result["errors"] if e["side"] == "false_negative"]
    assert [(e["kind"], e["text"]) for e in negatives] == [("boundary", "w0 w1"), ("type", "w3"), ("missed", "w5")]
    assert negatives[0]["context"].startswith("[[w0 w1]]")


@pytest.mark.parametrize("gold, predicted, cause", [
    ("داعش", "لداعش", "clitic"),  # the spec leaves the proclitic out
    ("الجيش", "والجيش", "clitic"),
    ("داعش", "(داعش", "quote"),
    ("الجيش", "الجيش العراقي", "modifier"),  # a word taken in
    ("الجيش العراقي", "الجيش", "modifier"),  # a word left out
    ("داعش", "اعش", "other"),  # a cut inside a word
    ("داعش", "لداعش»", "clitic+quote"),
])
def test_boundary_errors_by_cause(gold, predicted, cause):
    text = "هجوم لداعش» والجيش العراقي" if "(" not in predicted else "هجوم (داعش)"
    record = {"id": "x", "text": text, "entities": [span(text, gold, "A")]}
    result = analyse([record], [[span(text, predicted, "A")]], TYPES)
    assert {e["cause"] for e in result["errors"]} == {cause}
    assert result["boundary_causes"] == {cause: 2}  # the false negative and the false positive


def test_error_report_keeps_each_error_on_one_line():
    error = {"id": "x", "side": "false_negative", "kind": "missed", "label": "A", "text": "w",
             "context": "a\r\n[[w]]\nb"}
    report = format_errors({"confusion": {"A": {"A": 0, "(missed)": 1}}, "error_kinds": {"missed": 1},
                            "errors": [error]})
    assert "- `x` missed: A «w» — …a ⏎ [[w]] ⏎ b…" in report.splitlines()
