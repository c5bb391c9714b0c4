"""Entity scores: character-exact (an entity counts when its start, end and label are the gold's,
what spaCy's scorer counts: the spans the annotation spec defines), and seqeval's over the
project's words (strict IOB2 matching, and conlleval-style); per type, micro and macro averages,
and bootstrap confidence intervals.

The two differ where a span starts or ends inside a word: a predicted `لداعش` against the gold
`داعش` is the same entity to seqeval, whose words take the label of any span they overlap, and a
wrong one here.

Plain functions over records and tags, below training, which selects its model by them;
`score_model` is the one scoring of a model, for training's dev and test scores, `eval/evaluate.py`
and cross-validation alike."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2

from arabic_ner.labels import tags_to_ranges, word_tags
from arabic_ner.words import word_spans

_ZERO = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
BOOTSTRAP_BLOCK = 2**22  # record indices drawn at once when resampling (32 MiB, and 96 for their counts)


@dataclass
class Scored:
    scores: dict  # entity_scores over words (strict micro, per type, macro, conlleval-style); "char": span_scores
    gold_tags: list[list[str]]  # IOB2 per word of each record, the project's words
    pred_tags: list[list[str]]
    predicted: list[list[dict]]  # the entities found in each record's text


def score_model(predictor, records: list[dict], entity_types: list[str]) -> Scored:
    """Entity scores of a model on gold records (character-exact and strict IOB2 over words), read the way `predict.py` reads text
    (each record split into sentences, normalized, windowed): so that model selection and the
    reported figures rest on the path that prediction takes. `predictor` is anything with
    `predict(texts) -> entities per text` (a Predictor, an ensemble of them)."""
    predicted = predictor.predict([r["text"] for r in records])
    gold_tags, pred_tags = record_tags(records, predicted)
    scores = entity_scores(gold_tags, pred_tags, entity_types)
    scores["char"] = span_scores(records, predicted, entity_types)
    return Scored(scores, gold_tags, pred_tags, predicted)


def entity_scores(gold: list[list[str]], pred: list[list[str]], entity_types: list[str]) -> dict:
    """Strict IOB2 entity precision, recall and F1 over words (seqeval; beside `span_scores`, the headline), micro-averaged, per declared
    type (zeros and support 0 for a type absent from both sides), and macro-averaged; and the same
    under seqeval's default, conlleval-style matching, which also counts entities that begin with a
    stray `I-`."""
    strict = _report(gold, pred, mode="strict")
    default = _report(gold, pred, mode=None)
    return {
        **_row(strict.get("micro avg", _ZERO)),
        "per_type": {name: _row(strict.get(name, _ZERO)) for name in entity_types},
        "macro": _macro(strict, entity_types),
        "default_mode": {**_row(default.get("micro avg", _ZERO)), "macro": _macro(default, entity_types)},
    }


def span_scores(gold: list[dict], predicted: list[list[dict]], entity_types: list[str]) -> dict:
    """Character-exact strict entity precision, recall and F1 of gold records against the entities
    predicted for their texts: micro (the headline), per declared type, and macro over the types
    that occur in gold or predictions, as `entity_scores` does."""
    counts = {t: [0, 0, 0] for t in entity_types}  # true positives, predicted, gold
    for record, entities in zip(gold, predicted, strict=True):
        g, p = entity_keys(record["entities"]), entity_keys(entities)
        for label in entity_types:
            counts[label][0] += sum(1 for s in g & p if s[2] == label)
            counts[label][1] += sum(1 for s in p if s[2] == label)
            counts[label][2] += sum(1 for s in g if s[2] == label)
    rows = {t: _prf(*c) for t, c in counts.items()}
    seen = [rows[t] for t, c in counts.items() if c[1] or c[2]]
    macro = ({k: round(float(np.mean([r[k] for r in seen])), 4) for k in ("precision", "recall", "f1")} if seen
             else {"precision": 0.0, "recall": 0.0, "f1": 0.0})
    return {**_prf(*np.sum(list(counts.values()), axis=0)), "per_type": rows, "macro": macro}


def span_counts(gold: list[dict], predicted: list[list[dict]]) -> list[tuple[int, int, int]]:
    """(true positives, predicted, gold) of character-exact entities per record: `bootstrap_f1`'s units."""
    counts = []
    for record, entities in zip(gold, predicted, strict=True):
        g, p = entity_keys(record["entities"]), entity_keys(entities)
        counts.append((len(g & p), len(p), len(g)))
    return counts


def word_counts(gold: list[list[str]], pred: list[list[str]]) -> list[tuple[int, int, int]]:
    """(true positives, predicted, gold) of strict IOB2 entities over words per record, which is what
    seqeval's strict mode counts on valid sequences: `bootstrap_f1`'s units."""
    return [_strict_counts(g, p) for g, p in zip(gold, pred, strict=True)]


def entity_keys(entities: list[dict]) -> set[tuple[int, int, str]]:
    """`(start, end, label)` of each entity: what character-exact matching compares."""
    return {(e["start"], e["end"], e["label"]) for e in entities}


def _prf(tp: int, n_pred: int, n_gold: int) -> dict:
    tp, n_pred, n_gold = int(tp), int(n_pred), int(n_gold)  # plain ints from numpy sums: scores go to JSON
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": n_gold}


def _report(gold, pred, mode):
    with warnings.catch_warnings():  # numpy warns about means over no entities at all
        warnings.simplefilter("ignore", RuntimeWarning)
        kwargs = {"mode": "strict", "scheme": IOB2} if mode == "strict" else {}
        return classification_report(gold, pred, output_dict=True, zero_division=0, **kwargs)


def _macro(report: dict, entity_types: list[str]) -> dict:
    """Unweighted mean over the declared types that occur in gold or predictions."""
    rows = [_row(report[t]) for t in entity_types if t in report]
    if not rows:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    return {k: round(float(np.mean([r[k] for r in rows])), 4) for k in ("precision", "recall", "f1")}


def _row(row: dict) -> dict:
    return {"precision": round(float(row["precision"]), 4), "recall": round(float(row["recall"]), 4),
            "f1": round(float(row["f1-score"]), 4), "support": int(row["support"])}


def record_tags(gold: list[dict], predicted: list[list[dict]]) -> tuple[list[list[str]], list[list[str]]]:
    """Gold and predicted char-span entities as IOB2 tags over the same words of each raw text.

    The words come from the project's word tokenizer, not the model's, so that models with
    different tokenizers are scored on the same units; a word overlapping a span takes its label.
    """
    gold_tags, pred_tags = [], []
    for record, entities in zip(gold, predicted, strict=True):
        spans = word_spans(record["text"])
        gold_tags.append(word_tags(spans, record["entities"]))
        pred_tags.append(word_tags(spans, entities))
    return gold_tags, pred_tags


def bootstrap_f1(counts: list[tuple[int, int, int]], samples: int = 1000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of micro F1 over records resampled with replacement, from each record's
    (true positives, predicted, gold): `span_counts` or `word_counts`."""
    counts = np.array(counts, dtype=np.int64).reshape(-1, 3)
    if len(counts) == 0:
        return 0.0, 0.0
    rng = np.random.default_rng(seed)
    # resamples drawn a block at a time, so that memory stays near BOOTSTRAP_BLOCK numbers however many
    # records and resamples there are (one block, the same draws, for 1,000 resamples of 4,000 records)
    block = max(1, BOOTSTRAP_BLOCK // len(counts))
    f1 = []
    for done in range(0, samples, block):
        picks = rng.integers(0, len(counts), size=(min(block, samples - done), len(counts)))
        f1.append(_resampled_f1(counts, picks))
    f1 = np.concatenate(f1)
    low, high = np.percentile(f1, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return round(float(low), 4), round(float(high), 4)


def _resampled_f1(counts: np.ndarray, picks: np.ndarray) -> np.ndarray:
    """Micro F1 of each resample, a row of `picks` (indices into the per-record `counts`)."""
    tp, n_pred, n_gold = (counts[picks][..., i].sum(axis=1) for i in range(3))
    denominator = n_pred + n_gold
    return np.divide(2 * tp, denominator, out=np.zeros(len(picks)), where=denominator > 0)


def _strict_counts(gold: list[str], pred: list[str]) -> tuple[int, int, int]:
    g, p = set(tags_to_ranges(gold)), set(tags_to_ranges(pred))
    return len(g & p), len(p), len(g)
