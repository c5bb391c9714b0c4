"""`python -m arabic_ner split` (also `arabic-ner split`): the options; what it does: arabic_ner/split.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_ner import split
from arabic_ner.errors import UserError
from arabic_ner.split import FOLDS, FRACTIONS, GROUP_BY, SEED, split_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=split.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="the whole annotated corpus (JSONL)")
    parser.add_argument("--group-by", default=GROUP_BY, help="record field whose groups stay together "
                                                              "(default: %(default)s)")
    parser.add_argument("--fractions", default=",".join(map(str, FRACTIONS)), help="train,dev,test (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=FOLDS, help="folds for cross-validation (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=SEED, help="order in which groups are dealt (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="output folder (default: beside the corpus)")
    parser.add_argument("--overwrite", action="store_true", help="replace splits already in --out that differ "
                                                                  "from these (never done without it)")
    args = parser.parse_args()
    try:
        fractions = tuple(float(x) for x in args.fractions.split(","))
    except ValueError:
        raise UserError(f"--fractions {args.fractions}: three positive numbers summing to 1") from None
    report = split_corpus(args.corpus, args.out or args.corpus.parent, args.group_by, fractions, args.folds, args.seed,
                          args.overwrite)
    print("\n".join(report), file=sys.stderr)
    return 0
