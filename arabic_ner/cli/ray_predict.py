"""`python -m arabic_ner ray-predict` (also `arabic-ner ray-predict`): the options; what it does: arabic_ner/ray_predict.py."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from arabic_ner import ray_predict
from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_folder
from arabic_ner.messages import first_line
from arabic_ner.model import load_trained
from arabic_ner.ray_predict import SPARE_CPUS, check_new_folder, tag_with_ray


def main() -> int:
    parser = argparse.ArgumentParser(description=ray_predict.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by train.py (run/best)")
    parser.add_argument("inputs", nargs="+", help=".jsonl files, or .parquet files or folders of them")
    parser.add_argument("-o", "--output", type=Path, required=True, help="folder to write the tagged records to")
    parser.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="output files (default: parquet)")
    parser.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    parser.add_argument("--replicas", type=int, default=None,
                        help=f"model replicas, one CPU each (default: the cluster's CPUs but {SPARE_CPUS})")
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--int8", action="store_true", help="int8 matrix multiplies where faster (see predict.py)")
    parser.add_argument("--address", default=None, help="a running Ray cluster's address (default: start a local one)")
    args = parser.parse_args()
    if not args.model_dir.is_dir():
        raise UserError(f"{args.model_dir}: no such model folder")
    for item in args.inputs:
        if not Path(item).exists():
            raise UserError(f"{item}: no such file or folder")
    check_batch_size(args.batch_size)
    if args.replicas is not None and args.replicas < 1:
        raise UserError(f"--replicas {args.replicas}: must be at least 1")
    check_output_folder(args.output, "-o")
    check_new_folder(args.output)
    # loaded once here, so that a wrong or damaged folder is predict.py's one line, not Ray's dump of
    # each actor's death (the replicas load it again, each for itself)
    load_trained(args.model_dir)
    try:
        import pyarrow
        import ray
    except ImportError:
        raise UserError('Ray is not installed: pip install -e ".[ray]"') from None
    started = time.time()
    ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    try:
        count = tag_with_ray(args.model_dir, args.inputs, args.output, args.text_field, args.replicas,
                             args.batch_size, args.int8, args.format)
    # a damaged Parquet file (found on this process, or in a read task), a lost worker: one line, as
    # any other failure of the command, though Ray has logged its own above
    except (ray.exceptions.RayError, pyarrow.ArrowException) as exc:
        inputs = ", ".join(args.inputs)
        raise UserError(f"{inputs[:200]}: the Ray job failed: {first_line(getattr(exc, 'cause', None) or exc)[:300]} "
                        f"(nothing was written to {args.output})") from None
    finally:
        ray.shutdown()
    print(f"tagged {count:,} records with Ray in {time.time() - started:.1f} s: {args.output}", file=sys.stderr)
    return 0

