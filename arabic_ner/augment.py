"""Training records with their entity mentions swapped for others of the same type.

A model trained on a few hundred sentences learns the names it saw: on news from outside the
corpus most of its misses were names it never met (issue #18). Swapping each mention for another
of its type, from the same training data, keeps every sentence's context and teaches that the
context, not the name, makes an entity. Only training records are used: dev and test names never
reach training this way.
"""
from __future__ import annotations

import random
from collections import defaultdict


def mentions_by_type(records: list[dict]) -> dict[str, list[str]]:
    """The distinct mention texts of each entity type, in order of first appearance."""
    mentions: dict[str, dict[str, None]] = defaultdict(dict)
    for record in records:
        for entity in record["entities"]:
            mentions[entity["label"]][record["text"][entity["start"]:entity["end"]]] = None
    return {label: list(texts) for label, texts in mentions.items()}


def swap_mentions(records: list[dict], copies: int, seed: int) -> list[dict]:
    """`copies` new records for each record with entities: every mention replaced by another
    mention of its type from `records` (another one where there are two or more), chosen at random
    with `seed`, and the entities' offsets moved to match. Ids get `-swapN`; other fields are kept."""
    rng = random.Random(seed)
    pool = mentions_by_type(records)
    out = []
    for record in records:
        if not record["entities"]:
            continue
        for copy in range(copies):
            text, entities, shift, last = [], [], 0, 0
            for entity in sorted(record["entities"], key=lambda e: e["start"]):
                before = record["text"][entity["start"]:entity["end"]]
                others = [m for m in pool[entity["label"]] if m != before] or [before]
                mention = rng.choice(others)
                text.append(record["text"][last:entity["start"]])
                start = entity["start"] + shift
                entities.append({"start": start, "end": start + len(mention), "label": entity["label"]})
                text.append(mention)
                shift += len(mention) - len(before)
                last = entity["end"]
            text.append(record["text"][last:])
            out.append({**record, "id": f"{record['id']}-swap{copy + 1}", "text": "".join(text),
                        "entities": entities})
    return out
