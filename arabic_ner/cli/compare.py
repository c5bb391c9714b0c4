"""Compare two cross-validations run the same way: `python eval/compare.py BASE_CV OTHER_CV [--json OUT]`.

BASE_CV and OTHER_CV are the folders `eval/crossval.py` wrote (`<output_dir>/<run_name>-cv/`, each
with plan.json and runs.jsonl), on the same corpus, folds and grouping; typically the shipped
recipe and one change to it (`--data.swap_mentions 1`, `--also-train FILE`). Prints, for the runs
they share (the same fold and training seed), each one's test F1 (mean ± standard deviation), the gain of
OTHER over BASE per pair (mean ± standard deviation), how many pairs it wins, and whether the mean
gain exceeds the spread of BASE's runs; character-exact and over words, overall and per type.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from arabic_ner.comparison import format_paired, paired, read_crossval
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_files, write_atomic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="the baseline's cross-validation folder")
    parser.add_argument("other", type=Path, help="the changed recipe's cross-validation folder")
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON here")
    args = parser.parse_args()

    (base_plan, base_runs), (other_plan, other_runs) = read_crossval(args.base), read_crossval(args.other)
    check_output_files({"--json": args.json}, inputs=[folder / name for folder in (args.base, args.other)
                                                     for name in ("plan.json", "runs.jsonl")])
    # what the folds hold; a plan written before 2026-12-02 has only its corpus path to go by
    held = "fold_digest" if "fold_digest" in base_plan and "fold_digest" in other_plan else "corpus"
    differ = [key for key in ("folds", "group_by", held) if base_plan[key] != other_plan[key]]
    if differ:
        raise UserError(f"{args.base} and {args.other} cut different folds (" + ", ".join(
            f"{key}: {base_plan[key]} against {other_plan[key]}" for key in differ) + "): their runs do not pair")
    types = base_plan["config"]["entity_types"]
    if types != other_plan["config"]["entity_types"]:
        raise UserError(f"{args.base} and {args.other} were trained on different tag sets")
    result = paired(base_runs, other_runs, types)
    print(format_paired(result, str(args.base), str(args.other)))
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    return 0
