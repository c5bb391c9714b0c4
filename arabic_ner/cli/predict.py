"""Tag articles with a trained model: `python predict.py MODEL_DIR INPUT... [-o OUT.jsonl]`.

INPUT is a .txt file (one article), a folder (its .txt files, recursively), a .jsonl, .parquet or
.arrow file (one article per record, text in --text-field, other fields carried to the output) or
`-` for stdin. Each output record is `{"id": ..., "entities": [{"start", "end", "label", "text",
"score"}]}` with offsets into the article exactly as read (`text == article[start:end]`): JSONL,
or Parquet for an -o ending in .parquet. Optional outputs: CoNLL (word, tag), Label Studio tasks
with the entities as predictions to correct, and an HTML page; these are written whole at the end.

Inputs are read lazily and tagged in chunks of about --chunk-words words, each written as it
finishes (arabic_ner/tagging.py): `-o` grows in a hidden `.NAME.partial` beside it, each chunk
flushed to disk whole, and gets its name when complete; stdout gets each chunk as it is done.
After any stop (Ctrl-C exit 130, SIGTERM exit 143, a kill, a crash), the same command with
--resume continues after the last complete chunk and writes the same file an uninterrupted run
would. A record or input that cannot be read (not UTF-8, not JSON, no text field) is said with its
file and line and skipped: exit status 1 at the end; 2 when there is nothing at all to tag. Under
torchrun or `accelerate launch`, each process tags every n-th chunk into its own shard and the
main process merges them into -o in input order at the end.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from arabic_ner.config import WINDOWS_PER_PASS
from arabic_ner.tagging import CHUNK_WORDS, PredictJob, predict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by train.py (run/best or run/last)")
    parser.add_argument("inputs", nargs="+", help=".txt files, folders, .jsonl, .parquet or .arrow files, or - for stdin")
    parser.add_argument("-o", "--output", type=Path, help="JSONL file to write, or Parquet if it ends in .parquet "
                                                          "(default: JSONL on stdout)")
    parser.add_argument("--conll", type=Path, help="also write word<TAB>tag lines, a blank line between articles")
    parser.add_argument("--labelstudio", type=Path, help="also write Label Studio tasks with the entities as predictions")
    parser.add_argument("--html", type=Path, help="also write a self-contained HTML page of the tagged articles")
    parser.add_argument("--text-field", default="text", help="field holding the text in .jsonl, .parquet and .arrow inputs (default: text)")
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when present and not --int8, else cpu)")
    parser.add_argument("--int8", action="store_true",
                        help="int8 matrix multiplies in the Linear layers, CPU only: 1.1-2x faster where this CPU has "
                             "a fast int8 kernel, which a start-up check (0.2-0.7 s) finds; else fp32, said on stderr")
    parser.add_argument("--force", action="store_true", help="with --int8: int8 even where the start-up check finds it slower")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run's -o output after its last complete chunk")
    parser.add_argument("--chunk-words", type=int, default=CHUNK_WORDS,
                        help=f"words per chunk written at once (default: {CHUNK_WORDS:,}, a few seconds to a minute "
                             f"of tagging): what a stop can cost; --resume needs the interrupted run's value")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the model first: ~30 s more start-up, then 10-20%% faster (default: "
                             "on for fp32 on the CPU from 400,000 words of input per process, where it pays off)")
    args = parser.parse_args()
    status = predict(PredictJob(**vars(args)))  # every output is closed and named by now

    from arabic_ner.device import leave  # torch: imported here, so that a wrong option is said at once

    return leave(status)


