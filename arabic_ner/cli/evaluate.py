"""Score a trained model on annotated data: `python eval/evaluate.py MODEL_DIR DATA.jsonl [--out DIR]`.

Predicts every record's text as predict.py reads text (split into sentences, long ones windowed,
never truncated; the same scoring as training's dev and test figures). Headline: character-exact
strict entity micro F1 (same start, end and label as the gold: the spans the annotation spec
defines; what training selects models on) with a bootstrap 95% interval, per type and macro. Beside
it, gold and predicted spans mapped to IOB2 tags over the same words of the raw text and scored with
seqeval (strict, and its default conlleval-style mode). Writes to DIR (default: beside the model,
eval-<model folder>-<data folder>-<data name>): `metrics.json`, `report.md`, and the error analysis `errors.jsonl` / `errors.md`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from arabic_ner.config import BOOTSTRAP_LIMIT, SEED_LIMIT, WINDOWS_PER_PASS, check_batch_size
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_files, check_output_folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by train.py")
    parser.add_argument("data", type=Path, help="annotated JSONL ({id, text, entities: [{start, end, label}]}), "
                        "or CoNLL (.tsv, .conll, .bio: token<TAB>tag)")
    parser.add_argument("--out", type=Path, help="output folder (default: eval-<model folder name>-<data folder>-<data name> "
                                                 "beside MODEL_DIR: training replaces a best/ whole)")
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples for the interval, 0 for none (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when present, else cpu)")
    args = parser.parse_args()
    if not args.model_dir.is_dir():
        raise UserError(f"{args.model_dir}: no such model folder")
    check_batch_size(args.batch_size)
    if not 0 <= args.bootstrap <= BOOTSTRAP_LIMIT:  # found only after the whole prediction run otherwise
        raise UserError(f"--bootstrap {args.bootstrap}: must be 0 (no interval) to {BOOTSTRAP_LIMIT:,}")
    if not 0 <= args.seed < SEED_LIMIT:  # found only after the whole prediction run otherwise
        raise UserError(f"--seed {args.seed}: must be in [0, 2**32) (numpy's seed range)")
    # beside the model, not inside it: a resumed training swaps in a new best/ whole, and results
    # inside would go with the old one; named after the data's folder too, as the test splits of two
    # corpora share a file name (data/news/test.jsonl, data/article/test.jsonl)
    model = args.model_dir.absolute()
    out = args.out or model.parent / f"eval-{model.name}-{args.data.absolute().parent.name}-{args.data.stem}"
    check_output_folder(out, "--out")  # before the work, so that a bad path costs nothing

    from arabic_ner.device import choose_device
    from arabic_ner.evaluation import EVALUATION_FILES, evaluate_model, write_evaluation
    from arabic_ner.model import SETTINGS_FILE
    from arabic_ner.run_folder import is_run_folder

    if is_run_folder(Path(os.path.realpath(out))) or (out / SETTINGS_FILE).is_file():  # through a link too
        raise UserError(f"--out {out}: is a training run or a model folder, whose files it would replace; "
                        f"name another folder")
    if out.is_dir():  # its files are replaced: none may be the data scored
        check_output_files({f"--out ({name})": out / name for name in EVALUATION_FILES}, [args.data])

    device = choose_device(args.device)
    result = evaluate_model(args.model_dir, args.data, args.batch_size, args.bootstrap, args.seed, device)
    write_evaluation(result, out)
    print(result["report"])
    print(f"wrote metrics.json, report.md, errors.jsonl and errors.md to {out}", file=sys.stderr)
    return 0
