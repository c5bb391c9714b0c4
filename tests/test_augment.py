import pytest

from arabic_ner.augment import mentions_by_type, swap_mentions

RECORDS = [
    {"id": "a", "story": "s1", "text": "هاجم تنظيم داعش والجيش العراقي",
     "entities": [{"start": 5, "end": 15, "label": "ARMED_GROUP"}, {"start": 17, "end": 30, "label": "SECURITY_UNIT"}]},
    {"id": "b", "text": "قتل 3 جنود واعتقلت الشرطة مسلحين من جبهة النصرة",
     "entities": [{"start": 4, "end": 10, "label": "CASUALTY"}, {"start": 19, "end": 25, "label": "SECURITY_UNIT"},
                  {"start": 36, "end": 47, "label": "ARMED_GROUP"}]},
    {"id": "c", "text": "لا شيء هنا", "entities": []},
]


def _context(record):
    """The text outside the entities, in pieces."""
    cuts = [0] + [x for e in record["entities"] for x in (e["start"], e["end"])] + [len(record["text"])]
    return [record["text"][a:b] for a, b in zip(cuts[::2], cuts[1::2])]


def test_mentions_by_type():
    assert mentions_by_type(RECORDS) == {"ARMED_GROUP": ["تنظيم داعش", "جبهة النصرة"],
                                         "SECURITY_UNIT": ["الجيش العراقي", "الشرطة"], "CASUALTY": ["3 جنود"]}


@pytest.mark.parametrize("seed", range(5))
def test_every_mention_is_swapped_for_another_of_its_type_and_the_context_is_kept(seed):
    swapped = swap_mentions(RECORDS, copies=2, seed=seed)
    assert [r["id"] for r in swapped] == ["a-swap1", "a-swap2", "b-swap1", "b-swap2"]
    pool = mentions_by_type(RECORDS)
    for new in swapped:
        old = next(r for r in RECORDS if new["id"].startswith(r["id"] + "-"))
        assert _context(new) == _context(old)
        assert {k: v for k, v in new.items() if k not in ("id", "text", "entities")} == \
               {k: v for k, v in old.items() if k not in ("id", "text", "entities")}
        for e, before in zip(new["entities"], old["entities"]):
            mention, was = new["text"][e["start"]:e["end"]], old["text"][before["start"]:before["end"]]
            assert e["label"] == before["label"] and mention in pool[e["label"]]
            assert mention != was or len(pool[e["label"]]) == 1


def test_no_copies_and_the_same_seed():
    assert swap_mentions(RECORDS, copies=0, seed=1) == []
    assert swap_mentions(RECORDS, copies=3, seed=7) == swap_mentions(RECORDS, copies=3, seed=7)
