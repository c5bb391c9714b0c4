"""Which torch device a command runs on: one answer for predict.py and eval/evaluate.py."""
from __future__ import annotations

import torch

from arabic_ner.errors import UserError


def choose_device(requested: str | None = None, int8: bool = False, state=None) -> str:
    """`requested` (`--device`) checked, else the CPU for int8 (its kernels are CPU-only, even where a
    GPU is present), else this process's device under several processes (accelerate's `state`),
    else CUDA where there is one. A name that is no device, or CUDA where there is none, is one line."""
    if requested:
        device = requested
    elif int8:
        device = "cpu"
    elif state is not None and state.num_processes > 1:
        device = str(state.device)
    else:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except RuntimeError:
        raise UserError(f"--device {device}: not a device name (cpu, cuda, cuda:1, ...)") from None
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device here (torch {torch.__version__}); use --device cpu")
    if int8 and kind != "cpu":
        raise UserError(f"--int8 runs on the CPU only; --device {device} is not the CPU")
    return device
