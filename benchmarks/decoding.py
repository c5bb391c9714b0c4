"""Decoding on the models of a cross-validation: constrained Viterbi against the argmax it replaced.

    python benchmarks/decoding.py CV_DIR [--json OUT.json]

CV_DIR is a folder `eval/crossval.py --keep-models` wrote. Each run's `best/` is scored on its
fold's test split twice, with the one decoder the project has (`labels.viterbi_iob2`, the likeliest
valid IOB2 sequence) and with the decoder it replaced (each word's likeliest tag, a stray `I-X`
made `B-X`: `labels.repair_iob2`), and the two are compared run by run as `eval/compare.py`
compares two recipes (arabic_ner/comparison.py). It measures and prints; nothing here is a test.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import arabic_ner.inference as inference  # noqa: E402
from arabic_ner.comparison import format_paired, kept_models, paired, read_crossval  # noqa: E402
from arabic_ner.corpus import read_corpus  # noqa: E402
from arabic_ner.errors import UserError, run_cli  # noqa: E402
from arabic_ner.files import check_output_files, write_atomic  # noqa: E402
from arabic_ner.labels import repair_iob2  # noqa: E402
from arabic_ner.metrics import score_model  # noqa: E402
from arabic_ner.predictor import Predictor  # noqa: E402


def argmax_repaired(probs: np.ndarray, labels: list[str]) -> list[int]:
    """The decoder before 2026-12-02: each word's likeliest tag, stray `I-` tags made starts."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[tag] for tag in repair_iob2([labels[i] for i in probs.argmax(axis=-1)])]


@contextmanager
def decoder(decode):
    real = inference.viterbi_iob2
    inference.viterbi_iob2 = decode
    try:
        yield
    finally:
        inference.viterbi_iob2 = real


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--json", type=Path, help="also write both decoders' scores per run here")
    args = parser.parse_args()
    plan, runs = read_crossval(args.cv_dir)
    # checked before the scoring, and never a file of the cross-validation read (its runs.jsonl, say)
    check_output_files({"--json": args.json}, keep_out_of={"the cross-validation": args.cv_dir})
    types = plan["config"]["entity_types"]
    scored = {"argmax": [], "viterbi": []}
    for run, model in kept_models(args.cv_dir, runs, log=lambda m: print(m, file=sys.stderr)):
        records = read_corpus(args.cv_dir / "data" / f"fold{run['fold']}" / "test.jsonl", types)
        predictor = Predictor.from_folder(model)
        for name, decode in (("argmax", argmax_repaired), ("viterbi", inference.viterbi_iob2)):
            with decoder(decode):
                scored[name].append({**{k: run[k] for k in ("name", "fold", "seed")},
                                     "test": score_model(predictor, records, types).scores})
        print(f"{run['name']}: character-exact F1 argmax {scored['argmax'][-1]['test']['char']['f1']:.4f}, "
              f"Viterbi {scored['viterbi'][-1]['test']['char']['f1']:.4f}", file=sys.stderr)
    if not scored["viterbi"]:
        raise UserError(f"{args.cv_dir}: no run kept its best/; run eval/crossval.py with --keep-models")
    result = paired(scored["argmax"], scored["viterbi"], types)
    print(format_paired(result, "argmax + repair", "Viterbi"))
    if args.json:
        write_atomic(args.json, json.dumps({"runs": scored, "paired": result}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
