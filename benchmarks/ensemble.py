"""Each fold's seeds together against each alone: what averaging models would buy (issue #18, lever 6).

    python benchmarks/ensemble.py CV_DIR [--json OUT.json]

CV_DIR is a folder `eval/crossval.py --keep-models --seeds N` (N of 2 or more) wrote. On each fold
the runs' `best/` models are put together in two ways and score the fold's test split:
- an ensemble: their tag probabilities averaged per subword, then decoded as one model's are
  (constrained Viterbi). It costs N times the tagging, which predict.py must not; distilling it
  into one model could buy at most what it buys, so this measures whether that is worth building;
- a weight average (a "model soup", Wortsman et al. 2022): one model whose every weight is the
  members' mean, at one model's cost. It can work because every run starts from the same encoder;
  each head starts from its own seed, which may undo it.
Each run is compared with its fold's ensemble and soup, pair by pair as `eval/compare.py` compares
two recipes (arabic_ner/comparison.py). It measures and prints; nothing here is a test.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from arabic_ner.comparison import format_paired, kept_models, paired, read_crossval  # noqa: E402
from arabic_ner.corpus import read_corpus  # noqa: E402
from arabic_ner.errors import UserError, run_cli  # noqa: E402
from arabic_ner.files import check_output_files, write_atomic  # noqa: E402
from arabic_ner.inference import window_probs  # noqa: E402
from arabic_ner.metrics import score_model  # noqa: E402
from arabic_ner.predictor import Predictor  # noqa: E402


class Averaged(Predictor):
    """Several models of the same encoder and tag set as one: each window's tag probabilities are
    the mean of theirs. Everything else (sentences, windows, decoding, offsets) is the first's."""

    def __init__(self, members: list[Predictor]):
        first = members[0]
        super().__init__(first.model, first.encoder.tokenizer, first.settings, first.batch_size)
        self.members = members

    def _window_probs(self, windows: list) -> list:
        pad_id = self.encoder.tokenizer.pad_token_id or 0
        each = [window_probs(m.model, windows, pad_id, self.batch_size) for m in self.members]
        return [np.mean(probs, axis=0) for probs in zip(*each)]


def weight_averaged(members: list[Predictor]) -> Predictor:
    """One model whose every floating-point weight is the mean of the members' (in fp32)."""
    first = members[0]
    soup = copy.deepcopy(first.model)
    states = [m.model.state_dict() for m in members]
    soup.load_state_dict({key: torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
                          if value.is_floating_point() else value for key, value in states[0].items()})
    return Predictor(soup, first.encoder.tokenizer, first.settings, first.batch_size)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cv_dir", type=Path)
    parser.add_argument("--json", type=Path,
                        help="also write the scores of each run, each fold's ensemble and each fold's weight average here")
    args = parser.parse_args()
    plan, runs = read_crossval(args.cv_dir)
    # checked before the scoring, and never a file of the cross-validation read (its runs.jsonl, say)
    check_output_files({"--json": args.json}, keep_out_of={"the cross-validation": args.cv_dir})
    types = plan["config"]["entity_types"]
    by_fold = defaultdict(list)
    for run, model in kept_models(args.cv_dir, runs, log=lambda m: print(m, file=sys.stderr)):
        by_fold[run["fold"]].append((run, model))
    singles, ensembles, soups = [], [], []
    for fold, members in sorted(by_fold.items()):
        if len(members) < 2:
            print(f"fold {fold}: {members[0][0]['name']} alone has a best/, left out", file=sys.stderr)
            continue
        records = read_corpus(args.cv_dir / "data" / f"fold{fold}" / "test.jsonl", types)
        predictors = [Predictor.from_folder(model) for _, model in members]
        # the members scored here, not read from runs.jsonl, so that both sides ran on this machine alike
        scores = [score_model(p, records, types).scores for p in predictors]
        together = score_model(Averaged(predictors), records, types).scores
        soup = score_model(weight_averaged(predictors), records, types).scores
        for (run, _), alone in zip(members, scores):
            key = {k: run[k] for k in ("name", "fold", "seed")}
            singles.append({**key, "test": alone})
            ensembles.append({**key, "test": together})
            soups.append({**key, "test": soup})
        each = ", ".join(f"{s['char']['f1']:.4f}" for s in scores)
        print(f"fold {fold}: character-exact F1 {each} alone, {together['char']['f1']:.4f} as an ensemble, "
              f"{soup['char']['f1']:.4f} weight-averaged", file=sys.stderr)
    if not ensembles:
        raise UserError(f"{args.cv_dir}: no fold with two runs that kept their best/; run eval/crossval.py with "
                        f"--keep-models and --seeds 2 or more")
    result = {"ensemble": paired(singles, ensembles, types), "soup": paired(singles, soups, types)}
    print(format_paired(result["ensemble"], "one model", "its fold's ensemble"))
    print()
    print(format_paired(result["soup"], "one model", "its fold's weight average"))
    if args.json:
        write_atomic(args.json, json.dumps({"alone": singles, "ensemble": ensembles, "soup": soups, "paired": result},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
