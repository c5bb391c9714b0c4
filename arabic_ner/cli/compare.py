"""Compare two cross-validations run the same way: `python eval/compare.py BASE_CV OTHER_CV [--json OUT]`.

BASE_CV and OTHER_CV are the folders `eval/crossval.py` wrote (`<output_dir>/<run_name>-cv/`, each
with plan.json and runs.jsonl), on the same corpus, folds and grouping; typically the shipped
recipe and one change to it (`--data.swap_mentions 1`, `--also-train FILE`). Prints, for the runs
they share (same fold and seed), each one's test F1 (mean ± standard deviation), the gain of
OTHER over BASE per pair (mean ± standard deviation), how many pairs it wins, and whether the mean
gain exceeds the spread of BASE's runs; character-exact and over words, overall and per type.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from arabic_ner.errors import UserError
from arabic_ner.files import write_atomic
from arabic_ner.textfiles import decode_text, parse_json

SAME = ("corpus", "folds", "group_by")  # what makes two cross-validations' folds the same folds


def read_cv(folder: Path) -> tuple[dict, list[dict]]:
    """A cross-validation folder's plan and finished runs."""
    plan_file, runs_file = folder / "plan.json", folder / "runs.jsonl"
    for path in (plan_file, runs_file):
        if not path.is_file():
            raise UserError(f"{path}: not found; name a folder eval/crossval.py wrote (<output_dir>/<run_name>-cv)")
    plan = parse_json(decode_text(plan_file.read_bytes(), str(plan_file)), str(plan_file), numbered=True)
    runs = [parse_json(line, f"{runs_file}:{k}") for k, line in
            enumerate(decode_text(runs_file.read_bytes(), str(runs_file)).splitlines(), 1) if line.strip()]
    if not isinstance(plan, dict) or any(key not in plan for key in (*SAME, "config")):
        raise UserError(f"{plan_file}: not a cross-validation plan (it needs {', '.join(SAME)} and config)")
    for k, run in enumerate(runs, 1):
        if not isinstance(run, dict) or "name" not in run or "test" not in run:
            raise UserError(f"{runs_file}:{k}: not a finished run (it needs name and test)")
    return plan, runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", type=Path, help="the baseline's cross-validation folder")
    parser.add_argument("other", type=Path, help="the changed recipe's cross-validation folder")
    parser.add_argument("--json", type=Path, help="also write the comparison as JSON here")
    args = parser.parse_args()

    from arabic_ner.comparison import format_paired, paired

    (base_plan, base_runs), (other_plan, other_runs) = read_cv(args.base), read_cv(args.other)
    differ = [key for key in SAME if base_plan[key] != other_plan[key]]
    if differ:
        raise UserError(f"{args.base} and {args.other} cut different folds (" + ", ".join(
            f"{key}: {base_plan[key]} against {other_plan[key]}" for key in differ) + "): their runs do not pair")
    types = base_plan["config"].get("entity_types")
    if types != other_plan["config"].get("entity_types"):
        raise UserError(f"{args.base} and {args.other} were trained on different tag sets")
    result = paired(base_runs, other_runs, types)
    print(format_paired(result, str(args.base), str(args.other)))
    if args.json:
        write_atomic(args.json, json.dumps(result, indent=2) + "\n")
    return 0
