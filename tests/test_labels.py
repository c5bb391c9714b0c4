import pytest

from arabic_ner.labels import LabelSet, repair_iob2, tags_to_spans


def test_label_order_is_fixed_by_the_declared_types():
    labels = LabelSet(("ARMED_GROUP", "CASUALTY"))
    assert labels.labels == ["O", "B-ARMED_GROUP", "I-ARMED_GROUP", "B-CASUALTY", "I-CASUALTY"]
    assert labels.label2id["I-CASUALTY"] == 4 and labels.id2label[1] == "B-ARMED_GROUP"
    assert labels.inside_id(3) == 4 and labels.inside_id(0) == 0


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
    assert tags_to_spans(tags) == spans
