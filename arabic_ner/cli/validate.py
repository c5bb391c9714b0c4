"""`python -m arabic_ner validate` (also `arabic-ner validate`): the options; what it does: arabic_ner/validate.py."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arabic_ner import validate
from arabic_ner.config import Config, check_entity_types
from arabic_ner.errors import UserError
from arabic_ner.messages import plural
from arabic_ner.validate import validate_files


def main() -> int:
    parser = argparse.ArgumentParser(description=validate.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="+", type=Path, help="corpus JSONL files (e.g. the train/dev/test splits)")
    parser.add_argument("--types", default=",".join(Config().entity_types),
                        help="comma-separated tag set (default: %(default)s)")
    args = parser.parse_args()
    types = [t.strip() for t in args.types.split(",") if t.strip()]

    def need(ok: bool, key: str, message: str) -> None:  # the config's checks, said of the option
        if not ok:
            raise UserError(f"--types {args.types!r}: {message}")

    check_entity_types(need, types)  # an empty, repeated or IOB2-tag name was taken as a tag set
    problems, counts = validate_files(args.files, types)
    for problem in problems:
        print(problem, file=sys.stderr)
    width = max(len(p) for p in counts)
    print(f"{'file':<{width}}  " + "  ".join(f"{t:>13}" for t in types) + "  total")
    for path, counter in counts.items():
        print(f"{path:<{width}}  " + "  ".join(f"{counter[t]:>13}" for t in types) + f"  {sum(counter.values()):>5}")
    errors = sum(p.error for p in problems)
    print(f"{plural(errors, 'error')}, {plural(len(problems) - errors, 'warning')}")
    return 1 if errors else 0

