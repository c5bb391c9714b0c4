from itertools import product

import numpy as np
import pytest

from arabic_ner.labels import OUTSIDE_ID, LabelSet, repair_iob2, tags_to_ranges, viterbi_iob2

LABELS = LabelSet(("A", "B")).labels  # O B-A I-A B-B I-B


def test_label_order_is_fixed_by_the_declared_types():
    labels = LabelSet(("ARMED_GROUP", "CASUALTY"))
    assert labels.labels == ["O", "B-ARMED_GROUP", "I-ARMED_GROUP", "B-CASUALTY", "I-CASUALTY"]
    assert labels.label2id["I-CASUALTY"] == 4 and labels.id2label[1] == "B-ARMED_GROUP"
    assert labels.inside_id(3) == 4 and labels.inside_id(0) == 0
    assert labels.id2label[OUTSIDE_ID] == "O"  # what a word no window reads is (windows.merge_windows)


@pytest.mark.parametrize("tags, repaired", [
    (["I-A", "I-A"], ["B-A", "I-A"]),
    (["O", "I-A", "O"], ["O", "B-A", "O"]),
    (["B-A", "I-B", "I-B"], ["B-A", "B-B", "I-B"]),
    (["B-A", "I-A", "B-A"], ["B-A", "I-A", "B-A"]),
    ([], []),
])
def test_repair_iob2(tags, repaired):
    assert repair_iob2(tags) == repaired


@pytest.mark.parametrize("tags, spans", [
    (["B-A", "I-A", "O", "B-B"], [(0, 2, "A"), (3, 4, "B")]),
    (["B-A", "B-A"], [(0, 1, "A"), (1, 2, "A")]),
    (["O", "O"], []),
])
def test_tags_to_spans(tags, spans):
    assert tags_to_ranges(tags) == spans


def _probs(rows: list[dict[str, float]]) -> np.ndarray:
    """Word-by-label probabilities from each word's named ones, the rest spread evenly."""
    out = np.zeros((len(rows), len(LABELS)))
    for i, row in enumerate(rows):
        rest = (1 - sum(row.values())) / (len(LABELS) - len(row))
        out[i] = [row.get(label, rest) for label in LABELS]
    return out


@pytest.mark.parametrize("rows, tags", [
    # a stray I- whose word was nearly O: repair would make it an entity, Viterbi leaves it out
    ([{"O": 0.9}, {"I-A": 0.5, "O": 0.45}, {"O": 0.9}], ["O", "O", "O"]),
    # an I- that is likelier the start of an entity than nothing starts it
    ([{"O": 0.9}, {"I-A": 0.5, "B-A": 0.4}, {"O": 0.9}], ["O", "B-A", "O"]),
    # an I- of another type inside an entity is read as the entity's own continuation
    ([{"B-A": 0.9}, {"I-B": 0.45, "I-A": 0.4}, {"O": 0.9}], ["B-A", "I-A", "O"]),
    # valid argmax sequences stay as they are
    ([{"B-A": 0.9}, {"I-A": 0.9}, {"B-B": 0.9}, {"O": 0.9}], ["B-A", "I-A", "B-B", "O"]),
    ([], []),
])
def test_viterbi_iob2(rows, tags):
    assert [LABELS[i] for i in viterbi_iob2(_probs(rows), LABELS)] == tags


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_iob2_finds_the_likeliest_valid_sequence(seed):
    """Golden: against every valid IOB2 sequence of four words, enumerated."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=4)
    valid = [seq for seq in product(range(len(LABELS)), repeat=4)
             if repair_iob2([LABELS[i] for i in seq]) == [LABELS[i] for i in seq]]
    best = max(valid, key=lambda seq: np.prod(probs[np.arange(4), seq]))
    assert tuple(viterbi_iob2(probs, LABELS)) == best


@pytest.mark.parametrize("seed", range(10))
def test_viterbi_iob2_with_weights_finds_the_best_weighted_sequence(seed):
    """Golden: the tag-to-tag and first-tag log-weights add to each valid sequence's log probability."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.full(len(LABELS), 0.3), size=4)
    step, start = rng.normal(size=(len(LABELS), len(LABELS))), rng.normal(size=len(LABELS))
    valid = [seq for seq in product(range(len(LABELS)), repeat=4)
             if repair_iob2([LABELS[i] for i in seq]) == [LABELS[i] for i in seq]]

    def score(seq):
        return (np.log(probs[np.arange(4), seq]).sum() + start[seq[0]]
                + sum(step[a, b] for a, b in zip(seq, seq[1:])))
    assert tuple(viterbi_iob2(probs, LABELS, (step, start))) == max(valid, key=score)
