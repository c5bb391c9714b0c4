"""Score a trained model on annotated data: `python eval/evaluate.py MODEL_DIR DATA.jsonl [--out DIR]`.

Predicts every record's text, maps gold and predicted spans to IOB2 tags over the same words of
the raw text, and scores them with seqeval (strict IOB2). Writes `metrics.json` and `report.md`
to DIR (default: the model folder).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from arabic_ner.errors import UserError, run_cli  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="a model folder written by train.py")
    parser.add_argument("data", help="annotated JSONL: {id, text, entities: [{start, end, label}]}")
    parser.add_argument("--out", help="folder for metrics.json and report.md (default: the model folder)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass")
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model folder")

    from arabic_ner.corpus import read_jsonl
    from arabic_ner.metrics import score_records
    from arabic_ner.model import TextSettings
    from arabic_ner.report import format_report

    settings = TextSettings.load(model_dir)
    records = read_jsonl(args.data, settings.entity_types)

    from arabic_ner.predictor import Predictor

    predictor = Predictor.from_folder(model_dir, batch_size=args.batch_size)
    predicted = predictor.predict([r["text"] for r in records])
    scores = score_records(records, predicted, settings.entity_types)
    out = Path(args.out) if args.out else model_dir
    out.mkdir(parents=True, exist_ok=True)
    report = format_report(scores, title=f"{model_dir} on {args.data}")
    (out / "metrics.json").write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report, encoding="utf-8")
    print(report)
    print(f"wrote {out / 'metrics.json'} and {out / 'report.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
