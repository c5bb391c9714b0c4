"""Compare two cross-validations: see arabic_ner/cli/compare.py (also `arabic-ner compare`)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # a clone not installed with pip

from arabic_ner.cli.compare import main  # noqa: E402
from arabic_ner.errors import run_cli  # noqa: E402

if __name__ == "__main__":
    run_cli(main)
