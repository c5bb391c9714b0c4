"""Cross-validation: `python eval/crossval.py CONFIG [--folds 5] [--seeds 3] [--dotted.key value ...]`.

Cuts the corpus into K folds of whole groups (paragraphs by default; see arabic_ner/split.py),
then for every fold and seed trains a fresh model on K-2 folds (and any --also-train files),
selects on the next fold and scores the held-out fold (strict entity F1, character-exact and over
words). Reports per-type and overall F1 as mean ± standard deviation over all runs, and saves
every run's numbers.
Output: models/<run_name>-cv/{runs.jsonl, crossval.json}; model weights are deleted after
scoring unless --keep-models. A Ctrl-C or SIGTERM stops the run under way with its state saved;
`--resume` keeps the finished runs (runs.jsonl) and continues from there; with `--rescore`, the
finished runs' kept models are scored again first, with today's code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_ner.config import load_config
from arabic_ner.errors import UserError
from arabic_ner.split import SPLITS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("--corpus", type=Path, default=Path("data/article/article.jsonl"),
                        help="the whole annotated corpus (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5, help="K (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per fold (default: %(default)s)")
    parser.add_argument("--group-by", default="paragraph", help="record field kept within one fold")
    parser.add_argument("--also-train", type=Path, nargs="+", default=[], metavar="FILE",
                        help="records added to every fold's training data and never scored: more gold from "
                             "outside the corpus, silver data; {fold} in a path is the fold's number")
    parser.add_argument("--keep-models", action="store_true", help="keep each run's best/ and last/")
    parser.add_argument("--resume", action="store_true",
                        help="keep the finished runs and continue the one a Ctrl-C or SIGTERM cut")
    parser.add_argument("--overwrite", action="store_true", help="start an existing cross-validation again")
    parser.add_argument("--rescore", action="store_true",
                        help="with --resume and --keep-models: score the finished runs' test folds again from their "
                             "kept best/ with today's code (after a change to decoding), then continue; dev scores "
                             "and curves stay those of training")
    args, overrides = parser.parse_known_args()
    if args.folds < 3:
        raise UserError(f"--folds {args.folds}: at least 3 (one to test, one to select on, the rest to train)")
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: at least 1")

    for key in (f"--data.{split}" for split in SPLITS):  # a fold replaces each of them
        if any(o == key or o.startswith(f"{key}=") for o in overrides):
            raise UserError(f"{key}: a cross-validation trains, selects and tests on the folds of --corpus and "
                            f"never reads {key[2:]}; add training files with --also-train")

    config = load_config(args.config, overrides)
    from arabic_ner.crossval import crossval  # torch with it: only once the options are known good

    result = crossval(config, args.corpus, args.folds, args.seeds, args.group_by, args.keep_models,
                      log=lambda m: print(m, file=sys.stderr), resume=args.resume, overwrite=args.overwrite,
                      also_train=args.also_train, rescore=args.rescore)
    words = result["words"]
    print(f"strict F1 over {result['runs']} runs: {result['f1']['mean']:.4f} ± {result['f1']['std']:.4f} "
          f"(over words: {words['f1']['mean']:.4f} ± {words['f1']['std']:.4f})")
    for t, v in result["per_type"].items():
        print(f"  {t}: {v['mean']:.4f} ± {v['std']:.4f} (over words: {words['per_type'][t]['mean']:.4f} ± "
              f"{words['per_type'][t]['std']:.4f})")
    if "epochs" in result:
        peak = result["dev_f1_by_epoch"][result["epochs"] - 1]
        cut = len(result["dev_f1_by_epoch"]) < config.train.epochs
        print(f"mean dev F1 peaks at epoch {result['epochs']} ({peak['mean']:.4f} ± {peak['std']:.4f})"
              + (f" of the {len(result['dev_f1_by_epoch'])} every run reached (early stops)" if cut else "")
              + f": --train.epochs {result['epochs']} for a final model trained with no dev data (--data.dev \"\")")
    print(f"wrote {Path(config.output_dir) / (config.run_name + '-cv')}/crossval.json", file=sys.stderr)
    return 0
