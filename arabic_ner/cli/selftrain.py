"""Self-training: `python selftrain.py configs/news-selftrain.yaml [--teacher MODEL] [--dotted.key value ...]`.

Round 0 trains the teacher on the gold (or takes a trained model, --teacher); each round then tags
the unlabelled articles of `silver.articles` with the latest model, keeps as silver data the
sentences where every entity found is among the `silver.confident_share` of its type's entities
the model is surest of, and trains a fresh model on the gold and that silver, for up to
`silver.rounds` rounds while dev F1 rises. Articles in
`silver.keep_out`, and any that retells one, never become silver. One process (not under
`accelerate launch`). A Ctrl-C or SIGTERM saves the round under way, in training or in tagging;
--resume continues; --overwrite removes an earlier self-training of the same run_name first.
Output: models/<run_name>-round<r>/ per round; models/<run_name>-selftrain/{silver-round<r>.jsonl,
silver-round<r>.counts.json, silver-round<r>.tagged.jsonl (the model's entities on every article),
selftrain.json}. `--silver-only FILE --teacher MODEL` writes one model's silver data (FILE, with
its counts and tagged articles beside it) and stops.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arabic_ner.config import load_config
from arabic_ner.errors import UserError


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any config key can be overridden with a dotted flag, e.g. --silver.confident_share 0.3 --silver.rounds 1.")
    parser.add_argument("config", help="YAML training config with a silver: section")
    parser.add_argument("--teacher", type=Path, help="a trained model folder (a best/) to start from instead of "
                                                     "training round 0")
    parser.add_argument("--resume", action="store_true", help="keep the finished rounds and continue the one cut")
    parser.add_argument("--overwrite", action="store_true", help="start every round again")
    parser.add_argument("--silver-only", type=Path, metavar="FILE",
                        help="only tag the articles with --teacher and write the silver data to FILE (no training): "
                             "to cross-validate self-training with each fold's own model as teacher "
                             "(eval/crossval.py --also-train with {fold})")
    args, overrides = parser.parse_known_args()
    config = load_config(args.config, overrides)
    if args.silver_only and not args.teacher:
        raise UserError("--silver-only needs --teacher, the model that tags the articles")

    from arabic_ner.selftrain import check_teacher, make_silver, selftrain  # heavy imports after the config is known good
    from arabic_ner.training import Interrupted

    if args.silver_only:
        check_teacher(args.teacher, config)
        stats = make_silver(args.teacher, config, args.silver_only, log=lambda m: print(m, file=sys.stderr),
                            resume=args.resume, overwrite=args.overwrite)
        print(json.dumps(stats, indent=2, ensure_ascii=False))
        return 0

    try:
        result = selftrain(config, resume=args.resume, overwrite=args.overwrite, teacher=args.teacher,
                           log=lambda m: print(m, file=sys.stderr))
    except Interrupted as exc:  # state saved, and said so
        return exc.exit_status
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0
