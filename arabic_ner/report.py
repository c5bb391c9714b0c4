"""A short, readable Markdown report of entity scores."""
from __future__ import annotations


def format_report(scores: dict, title: str, interval: tuple[float, float] | None = None) -> str:
    ci = f" (95% bootstrap CI {interval[0]:.4f}–{interval[1]:.4f})" if interval else ""
    lines = [f"# {title}", "",
             f"**Strict entity F1 (seqeval, mode=strict, IOB2), micro: {scores['f1']:.4f}**{ci} "
             f"over {scores['support']} gold entities.", "",
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
