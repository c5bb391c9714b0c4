"""Comparing two cross-validations run by run (arabic_ner/comparison.py, eval/compare.py)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from arabic_ner.comparison import format_paired, paired
from arabic_ner.errors import UserError
from conftest import ROOT

TYPES = ["ARMED_GROUP", "CASUALTY"]


def run(name: str, f1: float, armed: float, casualty: float) -> dict:
    scores = {"f1": f1, "per_type": {"ARMED_GROUP": {"f1": armed}, "CASUALTY": {"f1": casualty}}}
    return {"name": name, "fold": int(name[4]), "seed": 42 + int(name[-1]), "test": {**scores, "char": scores}}


BASE = [run("fold0-seed0", 0.70, 0.90, 0.50), run("fold1-seed0", 0.80, 0.92, 0.60), run("fold2-seed0", 0.75, 0.91, 0.55)]


@pytest.mark.parametrize("other, gain, wins, counts", [
    ([run("fold0-seed0", 0.74, 0.90, 0.5), run("fold1-seed0", 0.84, 0.92, 0.6), run("fold2-seed0", 0.79, 0.91, 0.55)],
     0.04, 3, False),  # +0.04 on every fold, but the folds' own spread is 0.05
    ([run("fold0-seed0", 0.80, 0.90, 0.5), run("fold1-seed0", 0.90, 0.92, 0.6), run("fold2-seed0", 0.85, 0.91, 0.55)],
     0.10, 3, True),
    ([run("fold0-seed0", 0.80, 0.90, 0.5), run("fold1-seed0", 0.70, 0.92, 0.6), run("fold2-seed0", 0.75, 0.91, 0.55)],
     0.0, 1, False),
    ([run("fold0-seed0", 0.80, 0.90, 0.5), run("fold9-seed0", 0.1, 0.1, 0.1)], 0.10, 1, False),  # only the shared run
])
def test_paired_gain_wins_and_the_spread_rule(other, gain, wins, counts):
    result = paired(BASE, other, TYPES)
    overall = result["char"]["f1"]
    assert overall["gain"]["mean"] == pytest.approx(gain) and overall["wins"] == wins
    assert overall["counts"] is counts
    assert result["char"]["per_type"]["ARMED_GROUP"]["gain"]["mean"] == 0 and result["words"]["f1"] == overall
    table = format_paired(result, "base", "other")
    assert f"on the {len(result['runs'])} run" in table and f"{gain:+.4f}" in table


def test_paired_scores_straight_from_a_model_go_to_json():
    """Scores computed in the same process (benchmarks/decoding.py) hold numpy floats, not JSON's."""
    import numpy as np

    def as_numpy(r):
        t = r["test"]
        scores = {"f1": np.float64(t["f1"]), "per_type": {k: {"f1": np.float64(v["f1"])} for k, v in t["per_type"].items()}}
        return {**r, "test": {**scores, "char": scores}}

    result = paired([as_numpy(r) for r in BASE], [as_numpy(r) for r in BASE[::-1]], TYPES)
    assert json.loads(json.dumps(result))["char"]["f1"]["wins"] == 0


def test_paired_needs_a_shared_run():
    with pytest.raises(UserError, match="no run in common, by fold and seed"):
        paired(BASE, [run("fold7-seed0", 0.1, 0.1, 0.1)], TYPES)
    # the same name, another training seed (a cross-validation run with --train.seed 7): no pair
    with pytest.raises(UserError, match="no run in common"):
        paired(BASE, [{**r, "seed": 7} for r in BASE], TYPES)


def write_cv(folder: Path, runs: list[dict], folds: int = 3, **plan_keys) -> Path:
    folder.mkdir(parents=True)
    plan = {"corpus": "news.jsonl", "folds": folds, "group_by": "story", "config": {"entity_types": TYPES},
            **plan_keys}
    (folder / "plan.json").write_text(json.dumps(plan))
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs))
    return folder


def compare(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "eval/compare.py", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True)


def test_compare_prints_the_table_and_writes_json(tmp_path):
    base = write_cv(tmp_path / "a", BASE)
    other = write_cv(tmp_path / "b", [{**r, "test": {**r["test"], "char": {**r["test"]["char"], "f1": 0.9}}}
                                      for r in BASE])
    result = compare(base, other, "--json", tmp_path / "c.json")
    assert result.returncode == 0, result.stderr
    assert "on the 3 runs they share" in result.stdout and "character-exact F1" in result.stdout
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["char"]["f1"]["wins"] == 3 and saved["words"]["f1"]["gain"]["mean"] == 0


@pytest.mark.parametrize("damage, message", [
    (lambda b: (b / "plan.json").unlink(), r"b/plan.json: not found; name a folder eval/crossval.py wrote"),
    (lambda b: (b / "runs.jsonl").write_text('\n{"name": "fold0-seed0"}\n'), r"b/runs.jsonl:2: not a finished run"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "test": {"f1": 0.5}}) + "\n"),
     r"b/runs.jsonl:1: not a run with test F1 per type of ARMED_GROUP, .*character-exact and over words"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps(BASE[0]) + "\n" + json.dumps(BASE[0]) + "\n"),
     r"b/runs.jsonl:2: fold 0 with seed 42 again, first at line 1"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "test": {**BASE[0]["test"], "f1": "0.5"}}) + "\n"),
     r"b/runs.jsonl:1: not a run with test F1"),
    # an impossible score (an edit) won the comparison: its mean gain exceeded any spread
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "test": {**BASE[0]["test"], "char": {
        **BASE[0]["test"]["char"], "f1": 7.0}}}) + "\n"), r"b/runs.jsonl:1: test F1 7.0 \(char, overall\) is not between 0 and 1"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "test": {**BASE[0]["test"], "char": {"f1": 0.5}}})
                                             + "\n"), r"b/runs.jsonl:1: not a run with test F1"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "fold": [0]}) + "\n"),
     r"b/runs.jsonl:1: not a finished run \(it needs name, fold and seed, whole numbers"),
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "c", "folds": 3, "group_by": "story", "seeds": "x",
                                                        "config": {"entity_types": TYPES}})),
     r"b/plan.json: not a cross-validation plan"),
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "c", "folds": 3, "group_by": "story",
                                                        "config": []})), r"b/plan.json: not a cross-validation plan"),
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "news.jsonl", "folds": "3", "group_by": "story",
                                                        "config": {"entity_types": TYPES}})),
     # it said "folds: 3 against 3"
     r"b/plan.json: not a cross-validation plan \(folds \"3\" is not a whole number of 2 or more\)$"),
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "c", "folds": 3, "group_by": "story",
                                                        "config": {}})), r"b/plan.json: not a cross-validation plan"),
    (lambda b: (b / "runs.jsonl").write_text("{oops\n"), r"b/runs.jsonl:1"),
    # --rescore indexed the folds' records by it: an IndexError, or another fold's test split scored
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "fold": 7}) + "\n"),
     r"b/runs.jsonl:1: fold 7 in a cross-validation of 3 folds \(0 to 2\)$"),
    (lambda b: (b / "runs.jsonl").write_text(json.dumps({**BASE[0], "fold": -1}) + "\n"),
     r"b/runs.jsonl:1: fold -1 in"),
    # benchmarks/decoding.py read each character of a string as a file
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "c", "folds": 3, "group_by": "story",
                                                        "also_train": "d", "config": {"entity_types": TYPES}})),
     r"b/plan.json: not a cross-validation plan \(also_train is not a list of paths\)$"),
    (lambda b: (b / "plan.json").write_bytes(b"\xff\xfe"), r"b/plan.json"),
    (lambda b: (b / "plan.json").write_text(json.dumps({"corpus": "news.jsonl", "folds": 5, "group_by": "story",
                                                        "config": {"entity_types": TYPES}})),
     r"cut different folds \(folds: 3 against 5\)"),
])
def test_compare_says_what_is_wrong_in_one_line(tmp_path, damage, message):
    base, other = write_cv(tmp_path / "a", BASE), write_cv(tmp_path / "b", BASE)
    damage(other)
    result = compare(base, other)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert re.search(message, result.stderr), result.stderr


def test_compare_pairs_by_what_the_folds_hold_when_the_plans_say(tmp_path):
    """Plans with a fold digest pair on it, whatever the corpus path; another digest (the corpus
    edited since) does not pair, even under the same path."""
    base = write_cv(tmp_path / "a", BASE, fold_digest="abc", corpus="data/news.jsonl")
    assert compare(base, write_cv(tmp_path / "b", BASE, fold_digest="abc", corpus="./data/news.jsonl")).returncode == 0
    result = compare(base, write_cv(tmp_path / "c", BASE, fold_digest="abd", corpus="data/news.jsonl"))
    assert result.returncode == 2 and "cut different folds (fold_digest: abc against abd)" in result.stderr
    result = compare(base, base, "--json", base / "runs.jsonl")
    assert result.returncode == 2 and "is also an input" in result.stderr
