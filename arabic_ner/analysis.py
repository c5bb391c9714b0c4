"""Error analysis at the entity level: what kind of mistake each false positive and negative is.

Entities are word spans `(first, last + 1, type)` of valid IOB2 tags. A gold entity and a
prediction that match exactly are correct. Every other gold entity is a false negative and every
other prediction a false positive, as in strict scoring, so the errors add up to FN + FP; each is
judged against the entity of the other side that overlaps it most, and is one of
- `type`: same words, other type;
- `boundary`: same type, overlapping words;
- `boundary+type`: overlapping words, other type;
- `missed`: a gold entity no prediction overlaps;
- `spurious`: a prediction no gold entity overlaps.
"""
from __future__ import annotations

from collections import Counter

from arabic_ner.labels import tags_to_spans

MISSED, SPURIOUS = "(missed)", "(spurious)"


def analyse(records: list[dict], gold_tags: list[list[str]], pred_tags: list[list[str]],
            word_spans: list[list[tuple[int, int]]], entity_types: list[str]) -> dict:
    """Confusion table (each gold entity once, by the type of the prediction that overlaps it most,
    exact or not; and each prediction that overlaps no gold entity), error counts by kind (each
    false negative and false positive once), and every error with its sentence and context."""
    confusion = {g: Counter() for g in [*entity_types, SPURIOUS]}
    errors: list[dict] = []
    for record, gold, pred, spans in zip(records, gold_tags, pred_tags, word_spans, strict=True):
        g_spans, p_spans = tags_to_spans(gold), tags_to_spans(pred)
        exact = set(g_spans) & set(p_spans)
        for g in g_spans:
            if g in exact:
                confusion[g[2]][g[2]] += 1
                continue
            partner = _best_overlap(g, p_spans)
            confusion[g[2]][partner[2] if partner else MISSED] += 1
            errors.append(_error(record, spans, "false_negative", _kind(g, partner), g, partner))
        for p in p_spans:
            if p in exact:
                continue
            partner = _best_overlap(p, g_spans)
            if partner is None:
                confusion[SPURIOUS][p[2]] += 1
            errors.append(_error(record, spans, "false_positive", _kind(partner, p) if partner else "spurious",
                                 p, partner))
    kinds = Counter(e["kind"] for e in errors)
    columns = [*entity_types, MISSED]
    table = {row: {col: confusion[row][col] for col in columns} for row in confusion}
    return {"confusion": table, "error_kinds": dict(kinds), "errors": errors}


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
    same_words = gold[:2] == pred[:2]
    if same_words:
        return "type"
    return "boundary" if gold[2] == pred[2] else "boundary+type"


def _error(record, spans, side, kind, entity, partner) -> dict:
    text = record["text"]
    start, end = spans[entity[0]][0], spans[entity[1] - 1][1]
    error = {"id": record.get("id"), "side": side, "kind": kind, "label": entity[2], "start": start, "end": end,
             "text": text[start:end], "context": f"{text[max(0, start - 40):start]}[[{text[start:end]}]]{text[end:end + 40]}"}
    if partner is not None:
        p_start, p_end = spans[partner[0]][0], spans[partner[1] - 1][1]
        error["other"] = {"label": partner[2], "text": text[p_start:p_end]}
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
    for side, title in (("false_negative", "False negatives (gold entities not found exactly)"),
                        ("false_positive", "False positives (predictions not in gold exactly)")):
        lines += [f"## {title}", ""]
        for e in analysis["errors"]:
            if e["side"] == side:
                other = f" (other side: {e['other']['label']} «{e['other']['text']}»)" if "other" in e else ""
                context = " ⏎ ".join(e["context"].splitlines())  # a line break would end the list item
                lines.append(f"- `{e['id']}` {e['kind']}: {e['label']} «{e['text']}»{other} — …{context}…")
        lines.append("")
    return "\n".join(lines)
