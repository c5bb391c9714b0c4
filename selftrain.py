"""Self-training on unlabelled articles: see arabic_ner/cli/selftrain.py (also `arabic-ner selftrain`)."""
from arabic_ner.cli.selftrain import main
from arabic_ner.errors import run_cli

if __name__ == "__main__":
    run_cli(main)
