"""Deterministic, grouped, stratified splits of a corpus file.

    python -m arabic_ner split data/article/article.jsonl --group-by paragraph --out data/article

writes `train.jsonl`, `dev.jsonl`, `test.jsonl` and `folds.json` (k folds for cross-validation)
beside each other. Records of one group (a paragraph, an article) always stay together, so no
sentence's neighbours leak into another split. Groups are dealt in a seeded order, each to the
split whose share of sentences and of entities of each type lags its target most: the result
depends only on the data, the fractions and the seed.
"""
from __future__ import annotations

import json
import math
import random
from collections import Counter, defaultdict
from pathlib import Path

from arabic_ner.corpus import jsonl_text, read_jsonl, record_place
from arabic_ner.errors import UserError, moved_command
from arabic_ner.files import check_output_files, check_output_folder, make_output_folder, write_files
from arabic_ner.messages import shorten

SPLITS = ("train", "dev", "test")
GROUP_BY = "paragraph"  # the field whose groups stay together: data/article's; many articles need article or story
FRACTIONS = (0.7, 0.15, 0.15)  # of the sentences (and of each type's entities) in train, dev, test
FOLDS = 5  # for cross-validation, in folds.json
SEED = 13  # the order in which groups are dealt


def split_corpus(corpus: Path, out: Path, group_by: str = GROUP_BY, fractions: tuple[float, ...] = FRACTIONS,
                 folds: int = FOLDS, seed: int = SEED) -> list[str]:
    """Write `train.jsonl`, `dev.jsonl`, `test.jsonl` and `folds.json` of `corpus` to `out`, all four
    together (a stop never leaves new splits beside old folds); a line of counts per split and one
    for the folds."""
    if len(fractions) != 3 or not all(math.isfinite(f) and f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise UserError(f"--fractions {','.join(map(str, fractions))}: three positive numbers summing to 1")
    if folds < 2:
        raise UserError(f"--folds {folds}: at least 2")
    records = read_jsonl(corpus, unique_ids=True)  # folds.json lists the records by id
    check_output_folder(out, "--out")
    if out.is_dir():  # the splits may overwrite files there, but never the corpus itself
        check_output_files({f"--out ({name})": out / f"{name}.jsonl" for name in SPLITS}, [corpus])
    splits = assign_groups(records, group_by, list(fractions), seed, where=str(corpus))
    fold_keys = assign_groups(records, group_by, [1 / folds] * folds, seed, where=str(corpus))
    if not all(fold_keys):
        raise UserError(f"--folds {folds}: {corpus} has only {sum(map(len, fold_keys))} {group_by} groups; "
                        f"use at most that many folds")
    if not all(splits):  # an empty file no command can read
        raise UserError(f"--fractions {','.join(map(str, fractions))}: {corpus} has only {sum(map(len, splits))} "
                        f"{group_by} groups, too few to give each split one")
    files, report = {}, []
    for name, keys in zip(SPLITS, splits):
        chosen = members(records, group_by, keys)
        files[out / f"{name}.jsonl"] = jsonl_text(chosen)
        counts = Counter(e["label"] for r in chosen for e in r["entities"])
        report.append(f"{name}: {len(keys)} groups, {len(chosen)} records, "
                      + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    fold_ids = [[r["id"] for r in members(records, group_by, keys)] for keys in fold_keys]
    files[out / "folds.json"] = json.dumps({"corpus": corpus.name, "group_by": group_by, "seed": seed,
                                            "folds": fold_ids}, ensure_ascii=False, indent=1) + "\n"
    report.append(f"folds: {', '.join(str(len(f)) for f in fold_ids)} records")
    make_output_folder(out, "--out")
    write_files(files)
    return report


def assign_groups(records: list[dict], group_by: str, targets: list[float], seed: int, where: str = "corpus"
                  ) -> list[list[str]]:
    """Group keys per bin, bins filled towards `targets` (fractions summing to 1); `where` names
    the records' file in errors."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for n, record in enumerate(records, start=1):
        groups[group_key(record, group_by, f"{where}: record {n}")].append(record)
    keys = sorted(groups)
    random.Random(seed).shuffle(keys)
    # The heaviest groups first, so the small ones can even out what they leave.
    keys.sort(key=lambda k: -len(groups[k]))
    features = sorted({e["label"] for r in records for e in r["entities"]})

    def weights(group: list[dict]) -> Counter:
        counts = Counter({"_sentences": len(group)})
        counts.update(e["label"] for r in group for e in r["entities"])
        return counts

    totals = weights(records)
    filled = [Counter() for _ in targets]
    bins: list[list[str]] = [[] for _ in targets]
    for key in keys:
        w = weights(groups[key])

        def lag(i: int) -> float:
            return sum(targets[i] * totals[f] - filled[i][f] for f in ["_sentences", *features] if w[f]) / (
                targets[i] or 1e-9)

        best = max(range(len(targets)), key=lambda i: (lag(i), -i))
        bins[best].append(key)
        filled[best].update(w)
    return bins


def group_key(record: dict, group_by: str, where: str) -> str:
    """The name of `record`'s group: its `group_by` field, a string or a whole number (1 and "1"
    name one group)."""
    if group_by not in record:
        raise UserError(f"{record_place(where, record)} has no {shorten(group_by)} field to group by")
    value = record[group_by]
    if not (isinstance(value, str) or type(value) is int):
        raise UserError(f"{record_place(where, record)} has a {shorten(group_by)} of {shorten(value)}; a group is "
                        f"named by a string or a whole number")
    return str(value)


def members(records: list[dict], group_by: str, keys: list[str]) -> list[dict]:
    """The records of the groups `keys`, in corpus order (picked by position, not by id)."""
    chosen = set(keys)
    return [r for r in records if str(r[group_by]) in chosen]


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("split")
