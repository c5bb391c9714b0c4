"""`arabic-ner COMMAND ...`: every command of the project from any folder once the package is installed.

`python -m arabic_ner COMMAND ...` is the same, and the top-level scripts (`train.py`, `predict.py`,
`selftrain.py`, `eval/evaluate.py`, `eval/crossval.py`, `eval/compare.py`) run the same `main` functions.
Each command's module here only parses options, calls the library and prints.
"""
from __future__ import annotations

import importlib
import sys

from arabic_ner.errors import UserError, run_cli

COMMANDS = {  # name: (module with main(), what it does)
    "train": ("arabic_ner.cli.train", "fine-tune an encoder on a tag set (a YAML config)"),
    "predict": ("arabic_ner.cli.predict", "tag articles with a trained model"),
    "ray-predict": ("arabic_ner.cli.ray_predict", "tag a corpus on Ray Data (pip install -e \".[ray]\")"),
    "serve": ("arabic_ner.cli.serve", "serve a model over HTTP, also as a Label Studio ML backend (the serve extra)"),
    "select": ("arabic_ner.cli.select", "the sentences to annotate next: least sure first, many stories"),
    "evaluate": ("arabic_ner.cli.evaluate", "score a trained model on annotated data"),
    "crossval": ("arabic_ner.cli.crossval", "cross-validate a training config"),
    "compare": ("arabic_ner.cli.compare", "compare two cross-validations run by run: does a change pay?"),
    "selftrain": ("arabic_ner.cli.selftrain", "self-training: the model's confident sentences as silver data"),
    "convert": ("arabic_ner.cli.convert", "convert between the corpus JSONL, CoNLL, Label Studio and doccano"),
    "validate": ("arabic_ner.cli.validate", "check annotated corpus files"),
    "split": ("arabic_ner.cli.split", "grouped, stratified train/dev/test splits and folds"),
    "offline-encoder": ("arabic_ner.cli.offline_encoder", "build the offline default encoder"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    return "usage: arabic-ner COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(
        f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()) + \
        "\n\n`arabic-ner COMMAND --help` for each command's options."


def main() -> None:
    args = sys.argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if args else sys.stderr)
        sys.exit(0 if args else 2)
    name = args[0]
    if name not in COMMANDS:
        run_cli(lambda: _unknown(name))
    module = importlib.import_module(COMMANDS[name][0])
    sys.argv = [f"arabic-ner {name}", *args[1:]]  # argparse names the command in its usage and errors
    run_cli(module.main)


def _unknown(name: str) -> None:
    raise UserError(f"unknown command {name!r}; commands: {', '.join(COMMANDS)}")
