"""Decoding on the models of a cross-validation: constrained Viterbi against the decoders measured beside it.

    python benchmarks/decoding.py CV_DIR [--json OUT.json]

CV_DIR is a folder `eval/crossval.py --keep-models` wrote. Each run's `best/` tags its fold's dev
and test splits once, and every decoder reads the same tag probabilities:
- `viterbi`: the one decoder the project has (`labels.viterbi_iob2`, the likeliest valid IOB2 sequence);
- `argmax`: the decoder it replaced (each word's likeliest tag, a stray `I-X` made `B-X`: `labels.repair_iob2`);
- `continuation`: Viterbi with a log-weight added to every `I-` tag, for entities that stop a word
  early (of the unseen stories' gold entities found with other ends, most are found shorter:
  docs/results.md);
- `transitions`: Viterbi with weight x log(P(tag | previous tag) / P(tag)), counted on the tags
  of the fold's training data (its part of the corpus and the `--also-train` files; an HMM's
  transitions over the model's per-word posteriors): an entity split in two of one type,
  `B-X B-X`, is rare there and so costs.
The weight of the last two is chosen on the dev splits (the highest mean dev F1 over the runs; one
value for all runs, as a setting would be). Then each decoder is compared with Viterbi on test, run
by run, as `eval/compare.py` compares two recipes (arabic_ner/comparison.py). It measures and
prints; nothing here is a test.
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
from arabic_ner.crossval import fold_files  # noqa: E402
from arabic_ner.errors import UserError, run_cli  # noqa: E402
from arabic_ner.files import check_output_files, write_atomic  # noqa: E402
from arabic_ner.labels import repair_iob2, viterbi_iob2  # noqa: E402
from arabic_ner.metrics import score_model  # noqa: E402
from arabic_ner.model import ModelSettings  # noqa: E402
from arabic_ner.predictor import Predictor  # noqa: E402
from arabic_ner.sentences import to_sentence  # noqa: E402

WEIGHTS = {"continuation": (0.0, 0.5, 1.0, 1.5, 2.0, 3.0),  # log-weight of each I- tag (e^3: 20 times likelier)
           "transitions": (0.0, 0.25, 0.5, 1.0, 2.0)}  # how much of the training gold's transitions


def argmax_repaired(probs: np.ndarray, labels: list[str], crf=None) -> list[int]:
    """The decoder before 2026-12-02: each word's likeliest tag, stray `I-` tags made starts.
    `crf`: the transitions `inference.word_tags_of` passes every decoder, None here (main refuses a CRF's models)."""
    index = {label: i for i, label in enumerate(labels)}
    return [index[tag] for tag in repair_iob2([labels[i] for i in probs.argmax(axis=-1)])]


def continuation(labels: list[str], weight: float) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi's weights that make every `I-` tag e^weight times likelier."""
    inside = np.array([label.startswith("I-") for label in labels], dtype=float) * weight
    return np.tile(inside, (len(labels), 1)), np.zeros(len(labels))


def training_transitions(records: list[dict], labels: list[str], normalization: str) -> tuple[np.ndarray, np.ndarray]:
    """log(P(b | a) / P(b)) for tag b after tag a, and log(P(b first) / P(b)), over the word tags
    that training reads from `records`, add-one smoothed. P(b) is divided out since the model's
    per-word probabilities carry it already."""
    index = {label: i for i, label in enumerate(labels)}
    steps, firsts = np.ones((len(labels), len(labels))), np.ones(len(labels))
    for tags in (to_sentence(record, normalization).tags for record in records):
        if tags:
            firsts[index[tags[0]]] += 1
        for a, b in zip(tags, tags[1:]):
            steps[index[a], index[b]] += 1
    prior = steps.sum(axis=0) / steps.sum()
    return np.log(steps / steps.sum(axis=1, keepdims=True) / prior), np.log(firsts / firsts.sum() / prior)


def fold_data(cv_dir: Path, fold: int, also_train: list[str], types: list[str]) -> tuple[dict, list[dict]]:
    """A fold's dev and test records, and its training records (its part of the corpus and the
    `--also-train` files)."""
    folder = cv_dir / "data" / f"fold{fold}"
    splits = {split: read_corpus(folder / f"{split}.jsonl", types) for split in ("dev", "test")}
    train = read_corpus(folder / "train.jsonl", types)
    for path in fold_files(also_train, fold):
        train += read_corpus(Path(path), types)
    return splits, train


class Remembering(Predictor):
    """A Predictor that runs the model once per batch of windows: every decoder reads the same probabilities."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._seen: dict[tuple, list] = {}

    def _window_probs(self, windows: list) -> list:
        key = tuple(tuple(w.input_ids) for w in windows)
        if key not in self._seen:
            self._seen[key] = super()._window_probs(windows)
        return [p.copy() for p in self._seen[key]]


def weighted(weights: tuple[np.ndarray, np.ndarray]):
    """Viterbi with `weights`, in the place of a CRF's transitions (None here: main refuses a CRF's models)."""
    return lambda probs, labels, crf=None: viterbi_iob2(probs, labels, weights)


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
    parser.add_argument("--json", type=Path, help="also write every decoder's scores per run here")
    args = parser.parse_args()
    plan, runs = read_crossval(args.cv_dir)
    # checked before the scoring, and never a file of the cross-validation read (its runs.jsonl, say)
    check_output_files({"--json": args.json}, keep_out_of={"the cross-validation": args.cv_dir})
    types = plan["config"]["entity_types"]
    kept = kept_models(args.cv_dir, runs, log=lambda m: print(m, file=sys.stderr))
    if not kept:
        raise UserError(f"{args.cv_dir}: no run kept its best/; run eval/crossval.py with --keep-models")
    for _, model in kept:
        if ModelSettings.load(model).crf:
            raise UserError(f"{model}: trained with model.crf, whose learnt transitions are its decoder; "
                            "this benchmark compares decoders of a softmax trained alone")
    # every run's files read before any scoring: a missing one stops the benchmark before minutes are spent
    data = [fold_data(args.cv_dir, run["fold"], plan.get("also_train", []), types) for run, _ in kept]
    scored: dict[str, list] = {"argmax": [], "viterbi": []}
    tuned = {name: {w: [] for w in weights} for name, weights in WEIGHTS.items()}  # runs scored on dev and test
    for (run, model), (splits, train) in zip(kept, data):
        predictor = Remembering.from_folder(model)
        labels = [predictor.model.config.id2label[i] for i in range(len(predictor.model.config.id2label))]
        key = {k: run[k] for k in ("name", "fold", "seed")}
        for name, decode in (("argmax", argmax_repaired), ("viterbi", viterbi_iob2)):
            with decoder(decode):
                scored[name].append({**key, "test": score_model(predictor, splits["test"], types).scores})
        step, start = training_transitions(train, labels, predictor.settings.normalization)
        weights_of = {"continuation": lambda w: continuation(labels, w), "transitions": lambda w: (w * step, w * start)}
        for name, grid in WEIGHTS.items():
            for w in grid:
                with decoder(weighted(weights_of[name](w))):
                    tuned[name][w].append({**key, **{split: score_model(predictor, records, types).scores
                                                     for split, records in splits.items()}})
        print(f"{run['name']}: test character-exact F1 argmax {scored['argmax'][-1]['test']['char']['f1']:.4f}, "
              f"Viterbi {scored['viterbi'][-1]['test']['char']['f1']:.4f}", file=sys.stderr)
    results = {"argmax": paired(scored["argmax"], scored["viterbi"], types)}
    print(format_paired(results["argmax"], "argmax + repair", "Viterbi"))
    for name, by_weight in tuned.items():
        dev = {w: round(float(np.mean([r["dev"]["char"]["f1"] for r in rs])), 4) for w, rs in by_weight.items()}
        best = max(dev, key=lambda w: (dev[w], -w))  # a tie goes to the smaller weight
        print(f"\n{name}: mean dev F1 by weight " + ", ".join(f"{w:g}: {f:.4f}" for w, f in dev.items())
              + f"; chosen {best:g}")
        scored[name] = by_weight[best]
        results[name] = {"dev_by_weight": dev, "weight": best,
                         **paired(scored["viterbi"], scored[name], types)}
        print(format_paired(results[name], "Viterbi", f"{name} {best:g}"))
    if args.json:
        write_atomic(args.json, json.dumps({"runs": scored, "paired": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    run_cli(main)
