"""A short, readable Markdown report of entity scores."""
from __future__ import annotations


def format_report(scores: dict, title: str, interval: tuple[float, float] | None = None,
                  char_interval: tuple[float, float] | None = None) -> str:
    char = scores["char"]
    lines = [f"# {title}", "",
             f"**Character-exact strict entity F1 (same start, end and label as the gold: the spans the "
             f"annotation spec defines), micro: {char['f1']:.4f}**{_ci(char_interval)} over {char['support']} "
             f"gold entities.", "",
             "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in char["per_type"].items():
        lines.append(f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    lines += [f"| micro | {char['precision']:.4f} | {char['recall']:.4f} | {char['f1']:.4f} | {char['support']} |",
              f"| macro | {char['macro']['precision']:.4f} | {char['macro']['recall']:.4f} | "
              f"{char['macro']['f1']:.4f} | |", "",
              f"**Strict entity F1 over words (seqeval, mode=strict, IOB2; a word overlapping a span is inside "
              f"it), micro: {scores['f1']:.4f}**{_ci(interval)} over {scores['support']} gold entities.", "",
              "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in scores["per_type"].items():
        lines.append(f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    macro, default = scores["macro"], scores["default_mode"]
    lines += [f"| micro (strict) | {scores['precision']:.4f} | {scores['recall']:.4f} | {scores['f1']:.4f} | "
              f"{scores['support']} |",
              f"| macro (strict) | {macro['precision']:.4f} | {macro['recall']:.4f} | {macro['f1']:.4f} | |",
              f"| micro (default, conlleval-style) | {default['precision']:.4f} | {default['recall']:.4f} | "
              f"{default['f1']:.4f} | {default['support']} |",
              f"| macro (default, conlleval-style) | {default['macro']['precision']:.4f} | "
              f"{default['macro']['recall']:.4f} | {default['macro']['f1']:.4f} | |"]
    return "\n".join(lines) + "\n"


def _ci(interval: tuple[float, float] | None) -> str:
    return f" (95% bootstrap CI {interval[0]:.4f}–{interval[1]:.4f})" if interval else ""
