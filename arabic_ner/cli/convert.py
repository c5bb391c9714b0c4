"""`python -m arabic_ner convert` (also `arabic-ner convert`): the options; what it does: arabic_ner/convert.py."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arabic_ner import convert
from arabic_ner.conll import from_conll, to_conll
from arabic_ner.convert import checked_import, from_doccano, from_labelstudio, to_labelstudio
from arabic_ner.corpus import read_jsonl, write_jsonl
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_files, write_atomic
from arabic_ner.messages import plural, shorten
from arabic_ner.textfiles import read_text
from arabic_ner.words import word_spans


def main() -> int:
    parser = argparse.ArgumentParser(description=convert.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["to-conll", "from-conll", "to-labelstudio", "from-labelstudio",
                                            "from-doccano"])
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--repair", action="store_true",
                        help="from-conll: let a stray I-X start an entity (reported) instead of failing")
    parser.add_argument("--predictions", action="store_true",
                        help="from-labelstudio: take a task's first prediction when it has no submitted "
                             "annotation (by default such tasks are left out: predictions are not gold)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace OUTPUT where it exists (by default it is refused: it may be annotation of before)")
    parser.add_argument("--as", dest="kind", choices=["predictions", "annotations"],
                        help="to-labelstudio: import the spans as pre-annotations (default: predictions) or annotations")
    args = parser.parse_args()
    # an option of another command was ignored, exit 0: the output was not what it asked for
    for option, given, command in (("--repair", args.repair, "from-conll"),
                                   ("--predictions", args.predictions, "from-labelstudio"),
                                   ("--as", args.kind is not None, "to-labelstudio")):
        if given and args.command != command:
            raise UserError(f"{option} is an option of {command}, not of {args.command}")
    check_output_files({"output": args.output}, [args.input])
    # a converted export is annotation: the README's round-2 command, or a train.jsonl typed by mistake,
    # would otherwise replace the gold of before
    if args.output.exists() and not args.overwrite:
        raise UserError(f"{args.output}: exists; name a new file, or pass --overwrite to replace it")
    if args.command == "from-conll":
        repaired: list[str] | None = [] if args.repair else None
        records = checked_import(from_conll(read_text(args.input), str(args.input), repaired), str(args.input))
        for place in repaired or []:
            print(f"warning: {place}: stray I- tag now starts an entity", file=sys.stderr)
        write_jsonl(args.output, records)
    elif args.command == "from-labelstudio":
        unreviewed: list[str] = []
        disagreed: list[str] = []
        records = from_labelstudio(read_text(args.input), str(args.input), args.predictions, unreviewed, disagreed)
        if disagreed:  # the project annotates twice on purpose (agreement): say where, not only count
            print(f"{plural(len(disagreed), 'task')} with submitted annotations that disagree (first: {disagreed[0]}); "
                  f"each took the one marked ground truth, else the one updated last (JSON-MIN carries no such "
                  f"mark: export as JSON to keep a reviewer's choice)", file=sys.stderr)
        if unreviewed:  # said first: it may be why there are no records
            hint = ("they hold no prediction either" if args.predictions
                    else "--predictions takes their predictions instead")
            print(f"left out {plural(len(unreviewed), 'task')} with no submitted annotation (first: {unreviewed[0]}); "
                  f"{hint}", file=sys.stderr)
        records = checked_import(records, str(args.input))
        write_jsonl(args.output, records)
    elif args.command == "from-doccano":
        records = checked_import(from_doccano(read_text(args.input), str(args.input)), str(args.input))
        write_jsonl(args.output, records)
    else:
        records = read_jsonl(args.input)
        if args.command == "to-conll":
            wordless = [r for r in records if not word_spans(r["text"])]  # CoNLL has no line to give them
            if wordless:
                print(f"left out {plural(len(wordless), 'record')} with no words (first: id {shorten(wordless[0]['id'])})",
                      file=sys.stderr)
                records = [r for r in records if word_spans(r["text"])]
            merged: list[str] = []
            write_atomic(args.output, to_conll(records, merged))
            if merged:
                print(f"warning: {plural(len(merged), 'record')} with entities that share a word, one entity in CoNLL, "
                      f"which tags whole words (first: id {shorten(merged[0])})", file=sys.stderr)
        else:
            tasks = to_labelstudio(records, **({"kind": args.kind} if args.kind else {}))  # its default: predictions
            write_atomic(args.output, json.dumps(tasks, ensure_ascii=False, indent=1))
    print(f"wrote {plural(len(records), 'record')} to {args.output}", file=sys.stderr)
    return 0

