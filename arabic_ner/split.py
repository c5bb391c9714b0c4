"""Deterministic, grouped, stratified splits of a corpus file.

    python -m arabic_ner split data/article/article.jsonl --group-by paragraph --out data/article

writes `train.jsonl`, `dev.jsonl`, `test.jsonl` and `folds.json` (k folds for cross-validation)
beside each other. Records of one group (a paragraph of an article, an article, a story) always stay
together, so no sentence's neighbours leak into another split, and neither do groups that share a
sentence's text. Groups are dealt in a seeded order, each to the
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
from arabic_ner.messages import plural, shorten

SPLITS = ("train", "dev", "test")
GROUP_BY = "paragraph"  # the field whose groups stay together: data/article's; many articles want article or story
WITHIN_ARTICLE = ("paragraph",)  # fields numbered afresh in each article: a group is one article's paragraph
FRACTIONS = (0.7, 0.15, 0.15)  # of the sentences (and of each type's entities) in train, dev, test
FOLDS = 5  # for cross-validation, in folds.json
SEED = 13  # the order in which groups are dealt


def split_corpus(corpus: Path, out: Path, group_by: str = GROUP_BY, fractions: tuple[float, ...] = FRACTIONS,
                 folds: int = FOLDS, seed: int = SEED, overwrite: bool = False) -> list[str]:
    """Write `train.jsonl`, `dev.jsonl`, `test.jsonl` and `folds.json` of `corpus` to `out`, all four
    together (a stop never leaves new splits beside old folds); a line of counts per split and one
    for the folds. Splits already there that differ from these are replaced only with `overwrite`
    (the same split again is a no-op)."""
    if len(fractions) != 3 or not all(math.isfinite(f) and f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise UserError(f"--fractions {','.join(map(str, fractions))}: three positive numbers summing to 1")
    if folds < 2:
        raise UserError(f"--folds {folds}: at least 2")
    records = read_jsonl(corpus, unique_ids=True)  # folds.json lists the records by id
    check_output_folder(out, "--out")
    outputs = {**{out / f"{name}.jsonl": f"--out ({name})" for name in SPLITS}, out / "folds.json": "--out (folds)"}
    if out.is_dir():  # the splits may overwrite files there, but never the corpus itself
        check_output_files({option: path for path, option in outputs.items()}, [corpus])
    splits = assign_groups(records, group_by, list(fractions), seed, where=str(corpus))
    # empty only with fewer groups than splits (assign_groups fills an empty bin first): a file no
    # command reads, whatever --fractions or --folds say
    if not all(splits):
        raise UserError(f"{corpus} has only {_groups(records, group_by)}: train, dev and test need one each")
    fold_keys = assign_groups(records, group_by, [1 / folds] * folds, seed, where=str(corpus))
    if not all(fold_keys):
        raise UserError(f"--folds {folds}: {corpus} has only {_groups(records, group_by)}; use at most that many folds")
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
    if not overwrite:
        for path in outputs:
            if path.is_file() and path.read_bytes() != files[path].encode("utf-8"):
                raise UserError(f"{path}: holds another split (of another corpus, seed, grouping or fractions); "
                                f"pass --overwrite to replace train, dev, test and folds.json, or choose another --out")
    make_output_folder(out, "--out")
    write_files(files)
    return report


def _groups(records: list[dict], group_by: str) -> str:
    """How many groups the records make, said with the joins of groups that share a text."""
    joined = len(set(record_groups(records, group_by)))
    apart = len({group_key(r, group_by, "") for r in records})
    return plural(joined, f"{group_by} group") + (f" ({apart} before those sharing a sentence were joined)"
                                                  if joined < apart else "")


def assign_groups(records: list[dict], group_by: str, targets: list[float], seed: int, where: str = "corpus"
                  ) -> list[list[str]]:
    """Group keys per bin, bins filled towards `targets` (fractions summing to 1); `where` names
    the records' file in errors."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for record, key in zip(records, record_groups(records, group_by, where)):
        groups[key].append(record)
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


def record_groups(records: list[dict], group_by: str, where: str = "corpus") -> list[str]:
    """Each record's group key. Groups that share a sentence's text (white space aside) are one
    group, named by the first of their keys in sorted order: wire copy retold in two articles would
    otherwise put one sentence in two splits, which `validate` rejects. Without such sharing the keys
    are the fields' own (a paragraph with its article, where records name it)."""
    keys = [group_key(record, group_by, f"{where}: record {n}") for n, record in enumerate(records, start=1)]
    parent = {key: key for key in keys}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = key = parent[parent[key]]
        return key

    first_of_text: dict[str, str] = {}
    for record, key in zip(records, keys):
        other = first_of_text.setdefault(" ".join(record["text"].split()), key)
        a, b = sorted((root(key), root(other)))
        parent[b] = a
    return [root(key) for key in keys]


def group_key(record: dict, group_by: str, where: str) -> str:
    """The name of `record`'s group: its `group_by` field, a string or a whole number (1 and "1"
    name one group); a paragraph is named with its article where records say theirs (paragraph 1 of
    every article is not one group)."""
    if group_by not in record:
        raise UserError(f"{record_place(where, record)} has no {shorten(group_by)} field to group by")
    value = record[group_by]
    if not (isinstance(value, str) or type(value) is int):
        raise UserError(f"{record_place(where, record)} has {shorten(group_by)} {shorten(value)}; a group is "
                        f"named by a string or a whole number")
    if group_by in WITHIN_ARTICLE and record.get("article") is not None:  # null: a table's column with gaps
        return f"{group_key(record, 'article', where)} {group_by} {value}"
    return str(value)


def members(records: list[dict], group_by: str, keys: list[str]) -> list[dict]:
    """The records of the groups `keys`, in corpus order (picked by position, not by id)."""
    chosen = set(keys)
    return [r for r, key in zip(records, record_groups(records, group_by)) if key in chosen]


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("split")
