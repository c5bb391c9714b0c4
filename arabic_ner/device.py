"""Which torch device a command runs on: one answer for predict.py and eval/evaluate.py; and the
threads it uses on the CPU."""
from __future__ import annotations

import contextlib
import os
import sys

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
    if kind not in ("cpu", "cuda"):  # torch knows mps, xpu, meta...: this project is tested on these two
        raise UserError(f"--device {device}: this project runs on cpu or cuda, not {kind}")
    if kind == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {device}: no CUDA device here (torch {torch.__version__}); use --device cpu")
    if int8 and kind != "cpu":
        raise UserError(f"--int8 runs on the CPU only; --device {device} is not the CPU")
    return device


def leave(status: int) -> int:
    """`status`, for the command to exit with; under several processes (torchrun, accelerate launch)
    this process ends here with it. gloo's threads outlive destroy_process_group (gloo_tcp_loop and two
    pt_gloo_runloop were alive at exit, the group still referenced), and a process whose C++ teardown
    meets them may abort after its work ("terminate called without an active exception", SIGABRT:
    rank 1, in fresh-clone CI runs of predict.py and of train.py), which torchrun reports as the
    command failing. Call it once every output is closed and named."""
    from accelerate import PartialState

    if PartialState().num_processes > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status


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


# Instruction sets that decide which matrix-multiply kernels are fast, by their /proc/cpuinfo names.
CPU_FEATURES = {"avx2": "AVX2", "fma": "FMA", "avx512f": "AVX-512", "avx512_vnni": "AVX-512 VNNI",
                "avx_vnni": "AVX-VNNI", "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX",
                "asimd": "NEON", "asimddp": "NEON dot product", "i8mm": "Arm I8MM", "sve": "SVE"}


def cpu_description(cpuinfo: str | None = None) -> str:
    """The CPU's model and which of `CPU_FEATURES` it has, e.g. "AMD EPYC (x86_64; AVX2, FMA; no
    AVX-512, AVX-512 VNNI, ...)": benchmarks print it beside every figure, since int8 and bf16 speeds
    depend on it. `cpuinfo`: the text of /proc/cpuinfo (read here on Linux; elsewhere, the model only)."""
    import platform
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
                cpuinfo = f.read()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    model = fields.get("model name") or fields.get("hardware") or platform.processor() or "unknown CPU"
    flags = set((fields.get("flags") or fields.get("features") or "").split())
    machine = platform.machine() or "unknown"
    if not flags:
        return f"{model} ({machine}; instruction sets not known)"
    arm = "asimd" in flags
    relevant = {k: v for k, v in CPU_FEATURES.items() if (k in ("asimd", "asimddp", "i8mm", "sve")) == arm}
    has = [v for k, v in relevant.items() if k in flags]
    lacks = [v for k, v in relevant.items() if k not in flags]
    return f"{model} ({machine}; {', '.join(has) or 'none of ' + ', '.join(lacks)}" + \
        (f"; no {', '.join(lacks)})" if has and lacks else ")")


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """`threads` intra-op threads within the block (`train.threads`; None or 0 leaves them as they
    are), and the caller's count back after it: a notebook, a test or a cross-validation keeps its own."""
    before = torch.get_num_threads()
    try:
        if threads:
            torch.set_num_threads(threads)
        yield
    finally:
        torch.set_num_threads(before)
