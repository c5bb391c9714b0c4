"""`python -m arabic_ner select` (also `arabic-ner select`): the options; what it does: arabic_ner/select.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_ner import select
from arabic_ner.config import WINDOWS_PER_PASS
from arabic_ner.select import PER_ARTICLE, SENTENCES, select_sentences


def main() -> int:
    from arabic_ner.predictor import DEFAULT_SURENESS, SURENESS  # torch with it: this command loads a model anyway

    parser = argparse.ArgumentParser(description=select.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("inputs", nargs="+", help="unlabelled articles: JSONL, .txt files or folders, Parquet")
    parser.add_argument("-o", "--output", type=Path, required=True, help="Label Studio tasks (JSON) to import")
    parser.add_argument("--n", type=int, default=SENTENCES, help="sentences to choose (default: %(default)s)")
    parser.add_argument("--per-article", type=int, default=PER_ARTICLE,
                        help="from one article at most (default: %(default)s)")
    parser.add_argument("--keep-out", nargs="+", default=[], metavar="FILE",
                        help="article ids (.txt) or annotated corpora (.jsonl) never to offer, with their retellings")
    parser.add_argument("--jsonl", type=Path, help="also the chosen sentences as corpus records, entities predicted")
    parser.add_argument("--by", choices=list(SURENESS), default=DEFAULT_SURENESS,
                        help="how sureness is measured (default: %(default)s): "
                             + "; ".join(f"{k}: {v}" for k, v in SURENESS.items()))
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when present, else cpu)")
    args = parser.parse_args()
    print(select_sentences(args.model_dir, args.inputs, args.output, args.n, args.per_article, args.keep_out, args.jsonl,
                           args.by, args.batch_size, args.device), file=sys.stderr)
    return 0
