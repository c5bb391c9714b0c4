"""Converters between the corpus JSONL and other annotation formats.

    python -m arabic_ner convert to-conll IN.jsonl OUT.tsv
    python -m arabic_ner convert from-conll IN.tsv OUT.jsonl
    python -m arabic_ner convert from-labelstudio EXPORT.json OUT.jsonl
    python -m arabic_ner convert from-doccano EXPORT.jsonl OUT.jsonl
    python -m arabic_ner convert to-labelstudio IN.jsonl OUT.json [--as predictions|annotations]

CoNLL is `token<TAB>tag` per line in IOB2 with a blank line between sentences (ANERcorp's
format); tokens are the project's words, and a CoNLL file read back gets its tokens joined by one
space. Label Studio's JSON export (full or JSON-MIN) and doccano's JSONL export (`label` as
`[start, end, label]` triples, or `entities` with `start_offset`/`end_offset`) are both read.
Output files are written whole or not at all.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from arabic_ner.corpus import check_id, check_record, record_place
from arabic_ner.errors import UserError, moved_command
from arabic_ner.messages import plural, shorten
from arabic_ner.textfiles import CorpusError, check_json, numbered_lines, parse_json
from arabic_ner.words import trim_span

LABEL_STUDIO_FROM, LABEL_STUDIO_TO = "label", "text"  # names in the labeling config <Labels name=.. toName=..>
# A corpus record's fields that a task's data carries to Label Studio and back (and a doccano row
# keeps, as doccano exports the fields it was given): select's --keep-out
# reads `article` to keep an annotated batch out of the next round (and its retellings with it)
CARRIED = ("article", "story", "paragraph")
# The record's id, in a task's data once more: JSON-MIN writes Label Studio's task id as a row's `id`
# (1, 2, ...), so without it two batches' records would share ids and select's ids would be lost
RECORD_ID = "record_id"


def from_labelstudio(content: str, name: str, predictions: bool = False,
                     unreviewed: list[str] | None = None, disagreed: list[str] | None = None) -> list[dict]:
    """Records from Label Studio's full JSON export or JSON-MIN: of each task, the submitted
    annotation marked ground truth, else the one updated last (JSON-MIN does not carry the mark:
    there, the one updated last). A task whose submitted annotations mark different spans is added
    to `disagreed`. A task with no submitted annotation (never reviewed, or cancelled) holds at most
    the model's predictions, which are not gold: it is left out and its place added to `unreviewed`,
    unless `predictions` asks for its first prediction instead."""
    tasks = parse_json(content, name, numbered=True)
    if not isinstance(tasks, list):
        raise CorpusError(f"{name}: a Label Studio export is a JSON list of tasks")
    records = []
    kept_rows = _kept_min_rows(tasks, name, disagreed)
    for n, task in enumerate(tasks, start=1):
        where = f"{name}: task {n}"
        if not isinstance(task, dict):
            raise CorpusError(f"{where}: not a JSON object")
        check_json(task, where)
        record_id = _id_or(task, n, where)
        if "data" in task:  # full JSON export
            data = task["data"] if isinstance(task["data"], dict) else {}
            text = data.get("text")
            if not isinstance(text, str):
                raise CorpusError(f"{where}: no text (expected data.text)")
            record_id = _id_or(data, record_id, where, field="data.id")
            results = _chosen_result(task, where, predictions, disagreed)
            if results is None:
                if unreviewed is not None:
                    unreviewed.append(where)
                continue
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise CorpusError(f"{where}: a result is a list of JSON objects, got {shorten(results)}")
            spans = [r.get("value") for r in results if r.get("type") == "labels"]
            fields = data
        else:  # JSON-MIN export: one row per submitted annotation
            text = task.get("text")
            if "annotation_id" in task and task["annotation_id"] is None:  # a task nobody annotated
                if unreviewed is not None:
                    unreviewed.append(where)
                continue
            if n not in kept_rows:  # another annotation of its task is the gold
                continue
            spans, fields = _min_spans(task, where), task
            record_id = _id_or(task, record_id, where, RECORD_ID)
        if not isinstance(text, str):
            raise CorpusError(f"{where}: no text (expected data.text)")
        if not isinstance(spans, list):
            raise CorpusError(f"{where}: expected a list of spans, got {shorten(spans)}")
        entities = []
        for span in spans:
            if not isinstance(span, dict):
                raise CorpusError(f"{where}: a span is a JSON object with start, end and labels, got {shorten(span)}")
            labels = span.get("labels")
            if not (type(span.get("start")) is int and type(span.get("end")) is int and isinstance(labels, list)
                    and len(labels) == 1 and isinstance(labels[0], str)):
                raise CorpusError(f"{where}: a span needs integer start/end and exactly one label, got {shorten(span)}")
            start, end = span["start"], span["end"]
            if isinstance(span.get("text"), str) and span["text"] != text[start:end]:  # never a silently shifted span
                raise CorpusError(f"{where}: span [{start}, {end}) is {shorten(text[start:end])} in the text but "
                                  f"{shorten(span['text'])} in the export: its offsets do not count the text's characters")
            entities.append({"start": start, "end": end, "label": labels[0]})
        records.append({"id": str(record_id), "text": text, "entities": sorted(entities, key=lambda e: e["start"]),
                        **{k: fields[k] for k in CARRIED if type(fields.get(k)) in (str, int)}})
    return records


def _min_spans(row: dict, where: str) -> list:
    """A JSON-MIN row's spans: under the name of the project's <Labels> control, `label` unless the
    project named it otherwise; the row's other keys are the task's data and the annotation's own."""
    found = [key for key, value in row.items() if isinstance(value, list) and value
             and all(isinstance(span, dict) and "labels" in span for span in value)]
    if isinstance(row.get("label"), list) and "label" not in found:
        found.insert(0, "label")  # the default name, with nothing marked under it: the others' spans were dropped
    if len(found) > 1:
        raise CorpusError(f"{where}: spans under several keys ({', '.join(found)}); export a project with one "
                          f"<Labels> control")
    return row[found[0]] if found else []  # none: an annotation that marked nothing


def _chosen_result(task: dict, where: str, predictions: bool, disagreed: list[str] | None) -> list | None:
    """The chosen submitted annotation's result (`_gold`); else, if `predictions`, the first
    prediction's; else None."""
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
        raise CorpusError(f"{where}: 'annotations' is a list of JSON objects")
    submitted = [a for a in annotations if not a.get("was_cancelled")]
    if submitted:
        if disagreed is not None and len({_marked(a.get("result")) for a in submitted}) > 1:
            disagreed.append(where)
        return _gold(submitted, "id").get("result") or []
    guesses = task.get("predictions") or []
    if not predictions or not guesses:
        return None
    if not isinstance(guesses, list) or not isinstance(guesses[0], dict):
        raise CorpusError(f"{where}: 'predictions' is a list of JSON objects")
    return guesses[0].get("result") or []


def _gold(annotations: list[dict], id_key: str) -> dict:
    """Of a task's submitted annotations, the one marked ground truth (a reviewer's choice), else the
    one updated last (Label Studio writes ISO dates, which sort as strings; then the higher id).
    Anything else counts as oldest, rather than fail comparing a string with a number."""
    def rank(annotation: dict) -> tuple[bool, str, int]:
        updated, number = annotation.get("updated_at"), annotation.get(id_key)
        return (annotation.get("ground_truth") is True, updated if isinstance(updated, str) else "",
                number if type(number) is int else -1)
    return max(annotations, key=rank)


def _marked(spans) -> frozenset:
    """What an annotation marks, to compare two of one task: its spans' offsets and labels (as JSON
    text: they are checked only once the annotation is the one kept, and may be anything here)."""
    if not isinstance(spans, list):
        return frozenset()
    values = [s.get("value", s) if isinstance(s, dict) else s for s in spans]
    return frozenset(json.dumps([v.get("start"), v.get("end"), v.get("labels")], sort_keys=True)
                     for v in values if isinstance(v, dict))


def _kept_min_rows(tasks: list, name: str, disagreed: list[str] | None) -> set[int]:
    """The JSON-MIN rows (numbered from 1) that are their task's gold: a row per submitted annotation,
    chosen among a task's as in the full export (`_gold`); a row without a task id stands alone."""
    by_task: dict[str, list[tuple[int, dict]]] = {}
    for n, row in enumerate(tasks, start=1):
        if isinstance(row, dict) and "data" not in row and row.get("annotation_id", 0) is not None:
            key = str(row["id"]) if row.get("id") is not None else f"row {n}"
            by_task.setdefault(key, []).append((n, row))
    kept = set()
    for rows in by_task.values():
        chosen = _gold([row for _, row in rows], "annotation_id")
        kept |= {n for n, row in rows if row is chosen}
        if disagreed is not None and len({_marked(_min_spans_or_none(row)) for _, row in rows}) > 1:
            disagreed.append(f"{name}: task {rows[0][0]}")
    return kept


def _min_spans_or_none(row: dict):
    try:
        return _min_spans(row, "")
    except CorpusError:  # said when the row is read, if it is the one kept
        return None


def _id_or(obj: dict, default: str | int, where: str, key: str = "id", field: str | None = None) -> str | int:
    """`obj[key]`, checked as an id (named `field` in a message), or `default` where it is absent or null."""
    if obj.get(key) is None:
        return default
    check_id(obj[key], where, field or key)
    return obj[key]


@dataclass(frozen=True)
class LabelingConfig:
    """What this project needs of a Label Studio labeling config: the `<Labels>` that tags spans,
    the `<Text>` it tags, the task field that text comes from, and the label names."""

    from_name: str = LABEL_STUDIO_FROM
    to_name: str = LABEL_STUDIO_TO
    text_field: str = "text"
    labels: tuple[str, ...] = ()

    def xml(self) -> str:
        """The config itself, to paste into a project's Labeling Interface."""
        labels = "".join(f"\n    <Label value={quoteattr(label)}/>" for label in self.labels)
        return (f"<View>\n  <Labels name={quoteattr(self.from_name)} toName={quoteattr(self.to_name)}>{labels}\n"
                f"  </Labels>\n  <Text name={quoteattr(self.to_name)} value={quoteattr('$' + self.text_field)}/>\n"
                f"</View>\n")


def read_labeling_config(xml: str) -> LabelingConfig:
    """The first `<Labels>` of a labeling config and the `<Text>` it names; a config without them
    is an error."""
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as exc:
        raise UserError(f"the labeling config is not XML ({exc})") from None
    tags = list(root.iter("Labels"))
    if not tags or not tags[0].get("name") or not tags[0].get("toName"):
        raise UserError("the labeling config has no <Labels name=... toName=...> to tag spans with")
    labels = tags[0]
    texts = {t.get("name"): t.get("value", "") for t in root.iter("Text")}
    if labels.get("toName") not in texts:
        raise UserError(f"the labeling config's <Labels> tags '{labels.get('toName')}', which is no <Text name=...>")
    field = texts[labels.get("toName")].lstrip("$")
    return LabelingConfig(labels.get("name"), labels.get("toName"), field,
                          tuple(label.get("value") for label in labels.iter("Label") if label.get("value")))


def labelstudio_regions(record_id, text: str, entities: list[dict], config: LabelingConfig = LabelingConfig()) -> list[dict]:
    """The entities of one text as Label Studio's `result` regions (with each entity's score)."""
    regions = []
    for i, e in enumerate(entities):
        value = {"start": e["start"], "end": e["end"], "text": text[e["start"]:e["end"]], "labels": [e["label"]]}
        region = {"id": f"{record_id}-{i}", "from_name": config.from_name, "to_name": config.to_name,
                  "type": "labels", "value": value}
        if "score" in e:
            value["score"] = region["score"] = e["score"]
        regions.append(region)
    return regions


def to_labelstudio(records: list[dict], kind: str = "predictions", model_version: str = "arabic_ner") -> list[dict]:
    """Tasks for Label Studio's import, spans as `predictions` (pre-annotations to correct) or
    `annotations`; labeling config: `<Labels name="label" toName="text">` over `<Text name="text">`."""
    tasks = []
    for record in records:
        entry = {"result": labelstudio_regions(record["id"], record["text"], record["entities"])}
        if kind == "predictions":
            entry["model_version"] = model_version
        tasks.append({"data": {"id": record["id"], RECORD_ID: record["id"], "text": record["text"],
                               **{k: record[k] for k in CARRIED if k in record}}, kind: [entry]})
    return tasks


def from_doccano(content: str, name: str) -> list[dict]:
    records = []
    for number, line in numbered_lines(content):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        row = parse_json(line, where)
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            raise CorpusError(f"{where}: a doccano record needs 'text'")
        check_json(row, where)
        # some versions write an empty `entities` beside `label`; spans under two keys, one was dropped
        holding = [key for key in ("entities", "label", "labels") if isinstance(row.get(key), list) and row[key]]
        if len(holding) > 1:
            raise CorpusError(f"{where}: spans under several keys ({', '.join(holding)}); export the project with one")
        if "annotations" in row and not {"entities", "label", "labels"} & row.keys():
            raise CorpusError(f"{where}: doccano 1.0-1.2's 'annotations' name labels by number only; export the "
                              f"project from doccano 1.3 or later (JSONL, spans in 'label' or 'entities')")
        if holding == ["entities"] or (not holding and isinstance(row.get("entities"), list)):
            spans = [_doccano_entity(e, where) for e in row["entities"]]
        else:
            spans = row[holding[0]] if holding else row.get("label", row.get("labels", []))
            if not isinstance(spans, list):
                raise CorpusError(f"{where}: 'label' is a list of [start, end, label] triples, got {shorten(spans)}")
        entities = []
        for span in spans:
            if not (isinstance(span, (list, tuple)) and len(span) == 3):
                raise CorpusError(f"{where}: expected [start, end, label], got {shorten(span)}")
            start, end = (_from_utf16(row["text"], offset, where) for offset in span[:2])
            entities.append({"start": start, "end": end, "label": span[2]})
        records.append({"id": str(_id_or(row, number, where)), "text": row["text"],
                        "entities": sorted(entities, key=lambda e: e["start"] if isinstance(e["start"], int) else -1),
                        **{k: row[k] for k in CARRIED if type(row.get(k)) in (str, int)}})  # doccano exports them
    return records


def _from_utf16(text: str, offset: object, where: str) -> object:
    """doccano's offset as a character offset: doccano counts as JavaScript does, in UTF-16 units
    (doccano issue 2290), so a character beyond U+FFFF (an emoji) counts twice, and every later
    offset is one more than Python's. Offsets of other types are left for the record check to name."""
    if type(offset) is not int or offset <= 0 or all(ord(c) <= 0xFFFF for c in text[:offset]):
        return offset
    units = 0
    for index, char in enumerate(text):
        if units == offset:
            return index
        units += 2 if ord(char) > 0xFFFF else 1
        if units > offset:
            raise CorpusError(f"{where}: offset {offset} falls inside the character {char!r} (doccano counts UTF-16 "
                              f"units); export from a project that counts them so")
    if units == offset:
        return len(text)
    return offset - (units - len(text))  # past the end: the record check says it is outside the text


def _doccano_entity(entity: object, where: str) -> tuple:
    if isinstance(entity, dict) and {"start_offset", "end_offset", "label"} <= entity.keys():
        return entity["start_offset"], entity["end_offset"], entity["label"]
    needs = f"{where}: an entity needs 'start_offset', 'end_offset' and 'label' (doccano's export)"
    if isinstance(entity, dict) and {"start", "end"} <= entity.keys():
        raise CorpusError(f"{needs}; this looks like the project's own JSONL, which needs no conversion")
    raise CorpusError(f"{needs}, got {shorten(entity)}")


def checked_import(records: list[dict], name: str) -> list[dict]:
    """The imported records, checked as corpus records, each span's edges trimmed of white space and
    invisible characters (said, with how many): gold that no prediction could match otherwise."""
    if not records:
        raise CorpusError(f"{name}: no records")
    trimmed = []
    for n, record in enumerate(records, start=1):
        where = f"{name}: record {n}"
        check_record(record, where)
        for entity in record["entities"]:
            start, end = trim_span(record["text"], entity["start"], entity["end"])
            if start == end:
                raise CorpusError(f"{record_place(where, record)}: span [{entity['start']}, {entity['end']}) "
                                  f"{entity['label']} holds no word, only white space or invisible characters")
            if (start, end) != (entity["start"], entity["end"]):
                trimmed.append(record_place(where, record))
                entity["start"], entity["end"] = start, end
    if trimmed:
        print(f"trimmed white space or invisible characters from the edges of {plural(len(trimmed), 'span')} "
              f"(first: {trimmed[0]})", file=sys.stderr)
    return records


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("convert")
