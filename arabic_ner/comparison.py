"""Two training recipes compared on the same cross-validation runs: does a change pay?

Each cross-validation run is one (fold, seed); two recipes run on the same folds with the same
seeds give pairs whose difference leaves out how hard each fold is. So a change is judged by its
gain per pair: mean ± standard deviation over the pairs and how many pairs it wins, beside the
rule of issue #18 that a lever counts when its mean gain exceeds the spread (the standard
deviation) of the baseline's runs.
"""
from __future__ import annotations

import statistics

from arabic_ner.errors import UserError
from arabic_ner.messages import plural


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
    """The runs the two have in common (same name: fold and seed), each recipe's F1 and the gain of
    `other` over `base`, overall and per type, character-exact and over words."""
    base_by, other_by = {r["name"]: r for r in base}, {r["name"]: r for r in other}
    names = [name for name in base_by if name in other_by]
    if not names:
        raise UserError(f"no run in common (base: {', '.join(base_by) or 'none'}; other: "
                        f"{', '.join(other_by) or 'none'})")

    def compare(entity_type: str | None, level: str) -> dict:
        a = [run_f1(base_by[n], entity_type, level) for n in names]
        b = [run_f1(other_by[n], entity_type, level) for n in names]
        gains = [round(y - x, 4) for x, y in zip(a, b)]
        spread = mean_std(a)["std"]
        gain = mean_std(gains)
        return {"base": mean_std(a), "other": mean_std(b), "gain": gain, "wins": sum(g > 0 for g in gains),
                "counts": len(names) > 1 and gain["mean"] > spread}  # one run has no spread to exceed

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
