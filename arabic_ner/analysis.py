"""Error analysis at the entity level: what kind of mistake each false positive and negative is.

Entities are character spans `(start, end, type)`, as the headline score counts them. A gold
entity and a prediction with the same start, end and type are correct. Every other gold entity is
a false negative and every other prediction a false positive, as in strict scoring, so the errors
add up to FN + FP; each is judged against the entity of the other side that overlaps it most, and
is one of
- `type`: same characters, other type;
- `boundary`: same type, overlapping characters;
- `boundary+type`: overlapping characters, other type;
- `missed`: a gold entity no prediction overlaps;
- `spurious`: a prediction no gold entity overlaps.
A boundary error (with or without the type) also has a `cause`, from the characters where the two
spans differ: `clitic` (a proclitic glued to the first word, which the spec leaves out: `لداعش`
for `داعش`), `quote` (only quotation marks, brackets or other punctuation), `modifier` (whole
words: a qualifier or an adjective taken in or left out), or `other` (a cut inside a word), joined
with `+` when the two ends differ for different reasons.
"""
from __future__ import annotations

from collections import Counter

from arabic_ner.clitics import may_be_proclitics
from arabic_ner.metrics import entity_keys
from arabic_ner.words import is_punct

MISSED, SPURIOUS = "(missed)", "(spurious)"


def analyse(records: list[dict], predicted: list[list[dict]], entity_types: list[str]) -> dict:
    """Confusion table (each gold entity once, by the type of the prediction that overlaps it most,
    exact or not; and each prediction that overlaps no gold entity), error counts by kind (each
    false negative and false positive once) and boundary errors by cause, and every error with its
    sentence and context."""
    confusion = {g: Counter() for g in [*entity_types, SPURIOUS]}
    errors: list[dict] = []
    for record, found in zip(records, predicted, strict=True):
        g_spans, p_spans = sorted(entity_keys(record["entities"])), sorted(entity_keys(found))
        exact = set(g_spans) & set(p_spans)
        for g in g_spans:
            if g in exact:
                confusion[g[2]][g[2]] += 1
                continue
            partner = _best_overlap(g, p_spans)
            confusion[g[2]][partner[2] if partner else MISSED] += 1
            errors.append(_error(record, "false_negative", g, partner))
        for p in p_spans:
            if p in exact:
                continue
            partner = _best_overlap(p, g_spans)
            if partner is None:
                confusion[SPURIOUS][p[2]] += 1
            errors.append(_error(record, "false_positive", p, partner))
    columns = [*entity_types, MISSED]
    table = {row: {col: confusion[row][col] for col in columns} for row in confusion}
    return {"confusion": table, "error_kinds": dict(Counter(e["kind"] for e in errors)),
            "boundary_causes": dict(Counter(e["cause"] for e in errors if "cause" in e)), "errors": errors}


def _best_overlap(span, others):
    best, best_overlap = None, 0
    for other in others:
        overlap = min(span[1], other[1]) - max(span[0], other[0])
        if overlap > best_overlap:
            best, best_overlap = other, overlap
    return best


def _kind(gold, pred) -> str:
    if pred is None:
        return "missed"
    if gold[:2] == pred[:2]:
        return "type"
    return "boundary" if gold[2] == pred[2] else "boundary+type"


def _cause(text: str, a: tuple, b: tuple) -> str:
    """Why two overlapping spans differ: the cause at each end where they do, joined by +."""
    causes = []
    for lo, hi, leading in ((min(a[0], b[0]), max(a[0], b[0]), True), (min(a[1], b[1]), max(a[1], b[1]), False)):
        piece = text[lo:hi]
        if not piece:
            continue
        if all(is_punct(c) or c.isspace() for c in piece):
            cause = "quote"
        elif leading and _word_edge(text, lo) and may_be_proclitics(piece):
            cause = "clitic"
        elif _word_edge(text, lo) and _word_edge(text, hi):
            cause = "modifier"
        else:
            cause = "other"
        if cause not in causes:
            causes.append(cause)
    return "+".join(causes)


def _word_edge(text: str, i: int) -> bool:
    """Whether position `i` falls between two words rather than inside one, a word's proclitics
    counting apart from it (`لمنظمة`: before `منظمة` is an edge)."""
    if i == 0 or i == len(text) or not (text[i - 1].isalnum() and text[i].isalnum()):
        return True
    start = i
    while start > 0 and text[start - 1].isalnum():
        start -= 1
    return may_be_proclitics(text[start:i])


def _error(record, side, entity, partner) -> dict:
    text = record["text"]
    start, end = entity[0], entity[1]
    gold, pred = (entity, partner) if side == "false_negative" else (partner, entity)
    kind = _kind(gold, pred) if gold is not None else "spurious"
    error = {"id": record.get("id"), "side": side, "kind": kind, "label": entity[2], "start": start, "end": end,
             "text": text[start:end], "context": f"{text[max(0, start - 40):start]}[[{text[start:end]}]]{text[end:end + 40]}"}
    if kind.startswith("boundary"):
        error["cause"] = _cause(text, entity, partner)
    if partner is not None:
        error["other"] = {"label": partner[2], "text": text[partner[0]:partner[1]]}
    return error


def format_errors(analysis: dict) -> str:
    """The Markdown error report: confusion table, kinds, then every error with context."""
    table = analysis["confusion"]
    columns = list(next(iter(table.values())).keys())
    lines = ["## Entity confusion", "",
             ("Rows: each gold entity once, under the type of the prediction that overlaps it most (on the "
              "diagonal: the right type, boundaries exact or not); last row: predictions overlapping no gold "
              "entity."), "",
             "| gold \\ predicted | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for row, cells in table.items():
        lines.append(f"| {row} | " + " | ".join(str(cells[c]) for c in columns) + " |")
    kinds = analysis["error_kinds"]
    lines += ["", "## Errors by kind", "", ("Each false negative and false positive below once (an entity found "
                                            "with other boundaries is one of each):"), "",
              ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())) or "none", ""]
    causes = analysis.get("boundary_causes")
    if causes:
        lines += ["Boundary errors by cause (clitic: a proclitic the spec leaves out; quote: punctuation only; "
                  "modifier: whole words; other: a cut inside a word): "
                  + ", ".join(f"{k}: {v}" for k, v in sorted(causes.items())), ""]
    for side, title in (("false_negative", "False negatives (gold entities not found exactly)"),
                        ("false_positive", "False positives (predictions not in gold exactly)")):
        lines += [f"## {title}", ""]
        for e in analysis["errors"]:
            if e["side"] == side:
                other = f" (other side: {e['other']['label']} «{e['other']['text']}»)" if "other" in e else ""
                context = " ⏎ ".join(e["context"].splitlines())  # a line break would end the list item
                kind = f"{e['kind']} ({e['cause']})" if "cause" in e else e["kind"]
                lines.append(f"- `{e['id']}` {kind}: {e['label']} «{e['text']}»{other} — …{context}…")
        lines.append("")
    return "\n".join(lines)
