"""Tag articles with a trained model: see arabic_ner/cli/predict.py (also `arabic-ner predict`)."""
from arabic_ner.cli.predict import main
from arabic_ner.errors import run_cli

if __name__ == "__main__":
    run_cli(main)
