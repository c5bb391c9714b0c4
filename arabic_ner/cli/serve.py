"""`python -m arabic_ner serve` (also `arabic-ner serve`): the options; what it does: arabic_ner/serve.py."""
from __future__ import annotations

import argparse
from pathlib import Path

from arabic_ner import serve as server
from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.errors import UserError
from arabic_ner.files import check_model_folder
from arabic_ner.serve import bind_problem, create_app, serve


def main() -> int:
    parser = argparse.ArgumentParser(description=server.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a trained model folder (best/ of a run)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s; "
                                                             "0.0.0.0 for every interface)")
    parser.add_argument("--port", type=int, default=9090, help="(default: %(default)s, Label Studio's usual)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when present and not --int8, else cpu)")
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--int8", action="store_true", help="int8 matrix multiplies on a CPU, where faster (int8.py)")
    args = parser.parse_args()
    check_model_folder(args.model_dir)
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError('the server needs its extra: pip install -e ".[serve]"') from None
    if not 0 < args.port < 65536:
        raise UserError(f"--port {args.port}: not a port number")
    check_batch_size(args.batch_size)
    if problem := bind_problem(args.host, args.port):
        raise UserError(problem)

    from arabic_ner.device import choose_device  # torch with them: only once the options are known good
    from arabic_ner.model import ModelSettings
    from arabic_ner.predictor import Predictor

    settings = ModelSettings.load(args.model_dir)
    device = choose_device(args.device, args.int8)
    predictor = Predictor.from_folder(args.model_dir, device, args.batch_size, int8=args.int8)
    app = create_app(predictor, settings, args.model_dir)
    serve(app, args.model_dir, args.host, args.port)
    return 0

