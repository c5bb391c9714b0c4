"""The label inventory of a tag set, IOB2 sequences over it, and the way between char-span entities
and word tags.

Labels are never inferred from data: `O`, then `B-X`, `I-X` for each declared type X, in order.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from arabic_ner.clitics import Proclitics

OUTSIDE_ID = 0  # the id of `O` in every LabelSet


@dataclass(frozen=True)
class LabelSet:
    entity_types: tuple[str, ...]

    @property
    def labels(self) -> list[str]:
        """`O` first (OUTSIDE_ID), then `B-X`, `I-X` for each type in order."""
        return ["O"] + [f"{prefix}-{t}" for t in self.entity_types for prefix in ("B", "I")]

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.labels))

    @property
    def label2id(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def inside_id(self, label_id: int) -> int:
        """The I- label of the same type (O stays O): for subwords after a word's first."""
        label = self.labels[label_id]
        return label_id if label == "O" else self.label2id["I-" + label[2:]]


def repair_iob2(tags: list[str]) -> list[str]:
    """Make a tag sequence valid IOB2: an `I-X` that does not continue an X entity starts one."""
    fixed = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or fixed[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        fixed.append(tag)
    return fixed


def viterbi_iob2(probs: np.ndarray, labels: list[str],
                 weights: tuple[np.ndarray, np.ndarray] | None = None) -> list[int]:
    """The most probable valid IOB2 sequence under independent per-word tag probabilities `probs`
    (words x labels): `I-X` only after `B-X` or `I-X`. Against `repair_iob2` over the argmax, a stray
    `I-X` whose word was probably `O`, or the `B-`/`I-` of another type, is decided by the words
    around it and not always made an entity's start. `weights` (labels x labels, labels) are
    log-weights added to each tag-to-tag step and to the first tag's score: a CRF's learnt ones
    (crf.py), or those of decoders the project measured and did not keep (benchmarks/decoding.py)."""
    n = len(labels)
    step, can_start = _transitions(tuple(labels))
    start = np.where(can_start, 0.0, -np.inf)
    if weights is not None:
        step, start = step + weights[0], start + weights[1]
    scores = np.log(np.maximum(probs, 1e-30))  # a probability that underflowed to 0 is merely tiny
    best = start + scores[0] if len(probs) else np.zeros(n)
    back = np.zeros((len(probs), n), dtype=np.int64)
    for i in range(1, len(probs)):
        total = best[:, None] + step
        back[i] = total.argmax(axis=0)
        best = total[back[i], np.arange(n)] + scores[i]
    path = [int(best.argmax())] if len(probs) else []
    for i in range(len(probs) - 1, 0, -1):
        path.append(int(back[i, path[-1]]))
    return path[::-1]


@lru_cache(maxsize=8)
def _transitions(labels: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """IOB2 as log-weights: `step[a, b]` 0 where tag b may follow tag a, else -inf; which tags may
    start a sentence."""
    allowed = np.array([[not b.startswith("I-") or a[2:] == b[2:] for b in labels] for a in labels])
    return np.where(allowed, 0.0, -np.inf), np.array([not label.startswith("I-") for label in labels])


def tags_to_ranges(tags: list[str]) -> list[tuple[int, int, str]]:
    """Entities of a valid IOB2 sequence as `(first_word, last_word + 1, type)`."""
    ranges: list[tuple[int, int, str]] = []
    for i, tag in enumerate(tags):
        if tag.startswith("B-"):
            ranges.append((i, i + 1, tag[2:]))
        elif tag.startswith("I-") and ranges and ranges[-1][1] == i and ranges[-1][2] == tag[2:]:
            ranges[-1] = (ranges[-1][0], i + 1, tag[2:])
    return ranges


def word_tags(spans: list[tuple[int, int]], entities: list[dict]) -> list[str]:
    """IOB2 tags of words: a word that overlaps an entity's characters is inside it."""
    tags = ["O"] * len(spans)
    for entity in sorted(entities, key=lambda e: e["start"]):
        inside = [i for i, (s, e) in enumerate(spans)
                  if s < entity["end"] and entity["start"] < e and tags[i] == "O"]
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + entity["label"]
    return tags


def entities_from_tags(text: str, spans: list[tuple[int, int]], tags: list[str],
                       scores: list[float] | None = None, proclitics: Proclitics | None = None) -> list[dict]:
    """Char-span entities of a valid IOB2 sequence over the words at `spans` of `text`; with `scores`
    (each word's tag probability), each entity's mean; with `proclitics`, each entity starting after
    the clitics of its first word, as the annotation spec puts it (clitics.py)."""
    entities = []
    for first, last, label in tags_to_ranges(tags):
        start, end = spans[first][0], spans[last - 1][1]
        if proclitics is not None:
            start = proclitics.start(text, start, end)
        entity = {"start": start, "end": end, "label": label, "text": text[start:end]}
        if scores is not None:
            entity["score"] = round(sum(scores[first:last]) / (last - first), 4)
        entities.append(entity)
    return entities
