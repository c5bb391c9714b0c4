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


def training_precision(requested: str, device: torch.device) -> str:
    """`train.precision` for this device: "auto" is bf16 where the hardware multiplies bfloat16 natively
    (CPUs with AVX512-BF16 or AMX, CUDA GPUs from Ampere on), else fp32. Where it is emulated, bf16 is
    slower than fp32, so auto does not pick it; asked for by name, it runs anyway."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
    elif device.type == "cpu":
        # private, but torch's own inductor asks the same two questions before it emits bf16 kernels
        native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    else:
        native = False
    return "bf16" if native else "fp32"
