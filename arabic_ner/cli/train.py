"""Fine-tune an encoder on a tag set: `python train.py configs/quickstart.yaml [--train.lr 3e-5 ...]`.

Works the same under `accelerate launch --multi_gpu --num_processes N train.py CONFIG` and, on CPUs,
`ACCELERATE_USE_CPU=true torchrun --standalone --nproc_per_node N train.py CONFIG`.
"""
from __future__ import annotations

import argparse
import json

from arabic_ner.config import load_config


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any config key can be overridden with a dotted flag, e.g. --train.lr 3e-5 --model.max_length 256. "
               "Every key, its default and what it does: arabic_ner/config.py.")
    parser.add_argument("config", help="YAML file in configs/ (only what differs from the defaults)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run from its last/ folder (a run that saved nothing yet starts afresh)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing run folder (only ever one that train.py wrote)")
    args, overrides = parser.parse_known_args()
    config = load_config(args.config, overrides)

    from arabic_ner.device import leave  # heavy imports after the config is known good
    from arabic_ner.training import Interrupted, train

    try:
        summary = train(config, resume=args.resume, overwrite=args.overwrite)
    except Interrupted as exc:  # state saved, and said so: no "interrupted" line from run_cli
        return leave(exc.exit_status)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(json.dumps(summary, indent=2))
    return leave(0)  # the run folder's lock is released and every file written by now
