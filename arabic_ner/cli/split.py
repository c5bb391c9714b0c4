"""`python -m arabic_ner split` (also `arabic-ner split`): the options; what it does: arabic_ner/split.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_ner import split
from arabic_ner.errors import UserError
from arabic_ner.split import split_corpus


def main() -> int:
    parser = argparse.ArgumentParser(description=split.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="the whole annotated corpus (JSONL)")
    parser.add_argument("--group-by", default="paragraph", help="record field whose groups stay together")
    parser.add_argument("--fractions", default="0.7,0.15,0.15", help="train,dev,test (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5, help="folds for cross-validation (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=13, help="order in which groups are dealt (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="output folder (default: beside the corpus)")
    args = parser.parse_args()
    try:
        fractions = tuple(float(x) for x in args.fractions.split(","))
    except ValueError:
        raise UserError(f"--fractions {args.fractions}: three positive numbers summing to 1") from None
    report = split_corpus(args.corpus, args.out or args.corpus.parent, args.group_by, fractions, args.folds, args.seed)
    print("\n".join(report), file=sys.stderr)
    return 0
