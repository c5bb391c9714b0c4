"""A short, readable Markdown report of entity scores."""
from __future__ import annotations


def format_report(scores: dict, title: str) -> str:
    lines = [f"# {title}", "",
             f"Strict IOB2 entity scores (seqeval, mode=strict), micro average over {scores['support']} gold entities.",
             "", "| type | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, row in scores["per_type"].items():
        lines.append(f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} | {row['support']} |")
    lines.append(f"| **micro** | {scores['precision']:.4f} | {scores['recall']:.4f} | **{scores['f1']:.4f}** | "
                 f"{scores['support']} |")
    return "\n".join(lines) + "\n"
