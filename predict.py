"""Tag articles with a trained model: `python predict.py MODEL_DIR INPUT... [-o OUT.jsonl]`.

INPUT is a .txt file (one article), a folder (its .txt files, recursively), a .jsonl file (one
article per line, text in --text-field, other fields carried to the output) or `-` for stdin.
Each output line is `{"id": ..., "entities": [{"start", "end", "label", "text", "score"}]}` with
offsets into the article exactly as read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arabic_ner.errors import UserError, run_cli
from arabic_ner.articles import read_articles


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a model folder written by train.py (run/best or run/last)")
    parser.add_argument("inputs", nargs="+", help=".txt files, folders, .jsonl files or - for stdin")
    parser.add_argument("-o", "--output", help="JSONL file to write (default: stdout)")
    parser.add_argument("--text-field", default="text", help="field holding the text in .jsonl inputs")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args()
    if not Path(args.model_dir).is_dir():
        raise UserError(f"{args.model_dir}: no such model folder")

    from arabic_ner.predictor import Predictor

    predictor = Predictor.from_folder(args.model_dir, args.device, args.batch_size)
    articles, skipped = read_articles(args.inputs, args.text_field)
    results = predictor.predict([a.pop("_text") for a in articles])
    lines = [json.dumps({**a, "entities": entities}, ensure_ascii=False) for a, entities in zip(articles, results)]
    if args.output:
        out = Path(args.output)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        tmp.replace(out)
        print(f"wrote {len(lines)} articles, {sum(map(len, results))} entities to {out}", file=sys.stderr)
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    for name, reason in skipped:
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return 1 if skipped else 0


if __name__ == "__main__":
    run_cli(main)
