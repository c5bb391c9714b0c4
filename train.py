"""Fine-tune an encoder on a tag set: see arabic_ner/cli/train.py (also `arabic-ner train`)."""
from arabic_ner.cli.train import main
from arabic_ner.errors import run_cli

if __name__ == "__main__":
    run_cli(main)
