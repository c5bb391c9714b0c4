"""Two training recipes compared on the same cross-validation runs: does a change pay?

Each cross-validation run is one (fold, seed); two recipes run on the same folds with the same
seeds give pairs whose difference leaves out how hard each fold is. So a change is judged by its
gain per pair: mean ± standard deviation over the pairs and how many pairs it wins, beside the
rule of issue #18 that a lever counts when its mean gain exceeds the spread (the standard
deviation) of the baseline's runs.
"""
from __future__ import annotations

import json
import statistics
from pathlib import Path

from arabic_ner.errors import UserError
from arabic_ner.messages import plural
from arabic_ner.textfiles import decode_text, numbered_lines, parse_json


def read_crossval(folder: Path) -> tuple[dict, list[dict]]:
    """A cross-validation folder's plan and finished runs (eval/crossval.py wrote them), checked:
    a one-line error naming the file and line otherwise."""
    plan_file, runs_file = folder / "plan.json", folder / "runs.jsonl"
    for path in (plan_file, runs_file):
        if not path.is_file():
            raise UserError(f"{path}: not found; name a folder eval/crossval.py wrote (<output_dir>/<run_name>-cv)")
    plan = read_plan(plan_file)
    return plan, read_runs(runs_file, plan["config"]["entity_types"], plan["folds"])


def kept_models(folder: Path, runs: list[dict], log) -> list[tuple[dict, Path]]:
    """Each run of a cross-validation folder that kept its model (`--keep-models`), with the
    model's folder; the others are named through `log` as left out."""
    kept = []
    for run in runs:
        if (model := folder / run["name"] / "best").is_dir():
            kept.append((run, model))
        else:
            log(f"{run['name']}: no best/ (run without --keep-models?), left out")
    return kept


def read_plan(plan_file: Path) -> dict:
    """A cross-validation's plan.json, checked: one line naming the first key that is wrong."""
    plan = parse_json(decode_text(plan_file.read_bytes(), str(plan_file)), str(plan_file), numbered=True)
    if not isinstance(plan, dict):
        problem = "not a JSON object"
    elif missing := [key for key in ("corpus", "folds", "group_by", "config") if key not in plan]:
        problem = f"no {', '.join(missing)}"
    else:
        types = plan["config"].get("entity_types") if isinstance(plan["config"], dict) else None
        problem = next((f"{key} {json.dumps(plan.get(key))[:40]} is not {what}" for key, what, ok in [
            ("folds", "a whole number of 2 or more", _whole(plan["folds"], 2)),  # "5" against 5 said they differ
            ("seeds", "a whole number of 1 or more", _whole(plan.get("seeds", 1), 1)),
            ("group_by", "a field name", isinstance(plan["group_by"], str))] if not ok), None)
        if not problem and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
            problem = "config.entity_types is not a list of names"
        also_train = plan.get("also_train", [])
        if not problem and not (isinstance(also_train, list) and all(isinstance(p, str) for p in also_train)):
            problem = "also_train is not a list of paths"
    if problem:
        raise UserError(f"{plan_file}: not a cross-validation plan ({problem})")
    return plan


def _whole(value, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def read_runs(runs_file: Path, entity_types: list[str] | None, folds: int, log=None) -> list[dict]:
    """A cross-validation's runs.jsonl, checked line by line: each a finished run with its name, fold
    (below `folds`), seed and test scores (F1 overall and per type, character-exact and over words; `entity_types`
    None: runs to resume, whose test scores --rescore may yet add), no (fold, seed) twice. With `log`
    (a resume), a cut last line (a run stopped while its line was written) is said and left out:
    that run is trained again."""
    text = decode_text(runs_file.read_bytes(), str(runs_file))
    lines = [line for _, line in numbered_lines(text)]
    runs, seen = [], {}
    for k, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            run = parse_json(line, f"{runs_file}:{k}")
        except UserError:
            if log is None or k < len(lines) or text.endswith("\n"):
                raise
            log(f"{runs_file}:{k}: a cut last line (a stop while a run was recorded), left out: that run is "
                f"trained again")
            continue
        if not (isinstance(run, dict) and isinstance(run.get("name"), str) and type(run.get("fold")) is int
                and type(run.get("seed")) is int and isinstance(run.get("test"), dict)):
            raise UserError(f"{runs_file}:{k}: not a finished run (it needs name, fold and seed, whole numbers, "
                            f"and test scores)")
        if not 0 <= run["fold"] < folds:
            raise UserError(f"{runs_file}:{k}: fold {run['fold']} in a cross-validation of {folds} folds "
                            f"(0 to {folds - 1})")
        if entity_types is not None and not _scored(run["test"], entity_types):
            raise UserError(f"{runs_file}:{k}: not a run with test F1 per type of {', '.join(entity_types)}, "
                            f"character-exact and over words (runs from before 2026-12-02: eval/crossval.py "
                            f"--resume --rescore --keep-models)")
        # an impossible score (an edit) won the comparison: its mean gain exceeded any spread
        for level in ("char", "words") if entity_types is not None else ():
            for entity_type in (None, *entity_types):
                if not 0 <= (f1 := run_f1(run, entity_type, level)) <= 1:
                    raise UserError(f"{runs_file}:{k}: test F1 {f1} ({level}, {entity_type or 'overall'}) is not "
                                    f"between 0 and 1")
        if (key := (run["fold"], run["seed"])) in seen:
            raise UserError(f"{runs_file}:{k}: fold {key[0]} with seed {key[1]} again, first at line {seen[key]}")
        seen[key] = k
        runs.append(run)
    return runs


def _scored(test: dict, entity_types: list[str]) -> bool:
    """`test` holds every F1 that `run_f1` reads, as numbers."""
    def has_f1(scores) -> bool:
        return isinstance(scores, dict) and type(scores.get("f1")) in (int, float)
    return all(has_f1(scores) and isinstance(scores.get("per_type"), dict)
               and all(has_f1(scores["per_type"].get(t)) for t in entity_types)
               for scores in (test, test.get("char")))


def mean_std(values: list[float]) -> dict:
    """`{"mean", "std", "values"}`, rounded to 4 places; the std of one value is 0."""
    return {"mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "values": values}


def run_f1(run: dict, entity_type: str | None = None, level: str = "char") -> float:
    """A run's test F1, character-exact (`char`) or over words (`words`), overall or for one type."""
    scores = run["test"]["char"] if level == "char" else run["test"]
    return scores["f1"] if entity_type is None else scores["per_type"][entity_type]["f1"]


def paired(base: list[dict], other: list[dict], entity_types: list[str]) -> dict:
    """The runs the two have in common (the same fold and planned training seed: a run retrained
    after a collapse keeps its planned one, crossval.py), each recipe's F1 and the
    gain of `other` over `base`, overall and per type, character-exact and over words."""
    base_by = {(r["fold"], r["seed"]): r for r in base}
    other_by = {(r["fold"], r["seed"]): r for r in other}
    keys = [key for key in base_by if key in other_by]
    if not keys:
        raise UserError(f"no run in common, by fold and seed (base: {', '.join(r['name'] for r in base) or 'none'}; "
                        f"other: {', '.join(r['name'] for r in other) or 'none'})")
    names = [base_by[key]["name"] for key in keys]

    def compare(entity_type: str | None, level: str) -> dict:
        a = [run_f1(base_by[key], entity_type, level) for key in keys]
        b = [run_f1(other_by[key], entity_type, level) for key in keys]
        gains = [round(y - x, 4) for x, y in zip(a, b)]
        spread = mean_std(a)["std"]
        gain = mean_std(gains)
        return {"base": mean_std(a), "other": mean_std(b), "gain": gain, "wins": int(sum(g > 0 for g in gains)),
                "counts": bool(len(names) > 1 and gain["mean"] > spread)}  # one run has no spread to exceed

    return {"runs": names,
            **{level: {"f1": compare(None, level), "per_type": {t: compare(t, level) for t in entity_types}}
               for level in ("char", "words")}}


def format_paired(result: dict, base_name: str, other_name: str) -> str:
    """The comparison as a text table, character-exact first."""
    n = len(result["runs"])
    lines = [f"{other_name} against {base_name}, on the {plural(n, 'run')} they share ({', '.join(result['runs'])})",
             f"{'':24} {'base':>15} {'other':>15} {'gain':>17} {'wins':>6}  counts?"]
    for level, title in (("char", "character-exact"), ("words", "over words")):
        rows = [("F1", result[level]["f1"]), *result[level]["per_type"].items()]
        for k, (name, row) in enumerate(rows):
            label = f"{title} {name}" if k == 0 else f"  {name}"
            lines.append(f"{label:24} {_ms(row['base'])} {_ms(row['other'])} {_ms(row['gain'], sign=True)} "
                         f"{row['wins']:>3}/{n}  {'yes' if row['counts'] else 'no'}")
    lines.append("counts?: the mean gain exceeds the standard deviation of the base's runs")
    return "\n".join(lines)


def _ms(v: dict, sign: bool = False) -> str:
    return f"{v['mean']:+.4f} ± {v['std']:.4f}" if sign else f"{v['mean']:.4f} ± {v['std']:.4f}"
