"""Entity scores with seqeval: strict IOB2 matching, micro-averaged, and per type."""
from __future__ import annotations

import warnings

from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from arabic_ner.encoding import word_tags
from arabic_ner.words import word_spans


def entity_scores(gold: list[list[str]], pred: list[list[str]], entity_types: list[str]) -> dict:
    """Strict IOB2 entity precision, recall and F1 (micro), and the same per declared type.

    A type with no gold and no predicted entity gets zeros and support 0, so every run reports
    the same keys.
    """
    with warnings.catch_warnings():  # numpy warns about means over no entities at all
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold, pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
    per_type = {}
    for name in entity_types:
        row = report.get(name, {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0})
        per_type[name] = _row(row)
    return {**_row(micro), "per_type": per_type}


def _row(row: dict) -> dict:
    return {"precision": round(float(row["precision"]), 4), "recall": round(float(row["recall"]), 4),
            "f1": round(float(row["f1-score"]), 4), "support": int(row["support"])}


def score_records(gold: list[dict], predicted: list[list[dict]], entity_types: list[str]) -> dict:
    """Scores of predicted char-span entities against gold records, at the word level.

    Both sides are mapped to IOB2 tags over the same words of the raw text (the project's word
    tokenizer, not the model's), so that models with different tokenizers are comparable.
    """
    gold_tags, pred_tags = [], []
    for record, entities in zip(gold, predicted, strict=True):
        spans = word_spans(record["text"])
        gold_tags.append(word_tags(spans, record["entities"]))
        pred_tags.append(word_tags(spans, entities))
    return entity_scores(gold_tags, pred_tags, entity_types)
