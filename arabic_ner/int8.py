"""Int8 inference on the CPU: each Linear layer's matrix multiply in int8, everything else fp32.

Weights are quantized once, per output channel; activations on the fly, per token (symmetric).
Per-token scales matter: one scale for a whole batch (`torch.ao.quantization.quantize_dynamic`'s
way) lets one token with large activations cost every other token its precision; on the news model
that changed 9-16% of the entities found, per-token scales about 1% (numbers in docs/results.md).
torchao's int8 config does the same maths as `int_mm` below but ran 1.5x slower in eager mode.
For inference only: the forward pass has no gradient.

Which int8 kernel is fast depends on the CPU, so it is measured, not assumed. Two kernel families
(G(FL)OP/s of the multiply alone, e5-small's shapes, 512-4,096 tokens x 384 x 1,536 and back, 2 cores):

| kernel | how | AVX-512 VNNI/BF16 x86 | AVX2-only AMD EPYC (fp32: 80-136) |
|---|---|---|---|
| `int_mm` | `torch._int_mm` (oneDNN), int8 x int8 -> int32 | ~2x fp32 (whole model, README) | 2.6-3.2: 30-50x slower than fp32 |
| `qlinear` | PyTorch's quantized dynamic linear: fbgemm on x86, qnnpack on Arm | not measured | 183-214 (1.7x the fp32 addmm in a profile) |

`int_mm` has a fast path only where oneDNN has VNNI or AMX kernels and falls back to a reference
loop elsewhere; fbgemm has AVX2 and AVX-512 paths. `qlinear` quantizes its input with one scale per
call, so it is given each token's row divided by the row's largest |x|: that one scale is then one
per token, and the rows are multiplied back after. x86's kernels multiply-add u8 x s8 pairs into 16
bits (AVX2's vpmaddubsw), which saturates with both at full range; PyTorch's answer is 7-bit
activations (`reduce_range`), ours 7-bit weights, which changed fewer entities on the news model
(40 articles: 98.3% agreement with fp32 against 96.8%, before the fp32 re-check). Arm keeps 8 bits.
`probe` times each kernel against fp32 on one layer's shape at start-up (about 0.2 s for e5-small,
0.5-0.7 s for a base-size model on AVX2) and `choose` takes the fastest, or fp32 where the int8 multiplies are
not clearly faster: never the silent 30x slowdown `int_mm` was on AVX2. (The fp32 re-check of close
calls can still make int8 slower on a model unsure of most words: see docs/results.md.)
The quantized-tensor API `qlinear` needs is deprecated in PyTorch (still there in 2.13, which the
project pins); it is the only int8 path with AVX2 kernels that PyTorch ships. An asymmetric scale
per token (each row mapped onto its own min..max) cut each layer's error by a quarter, but the extra
passes over each layer's input and output ate the gain in entities at equal speed: not kept.

Each layer keeps its fp32 weights too, so that the few windows where int8 may have tipped a
word's tag (the top two tags closer than `predictor.RECHECK_MARGIN`) are re-run in fp32 (`fp32`).
"""
from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from arabic_ner.model import replace_modules

# int8 must multiply this much faster than fp32 on the probe to be used. The multiplies are about
# 80% of fp32's time, so 1.2x there is about 1.15x for the model: less would not repay the ~1% of
# entities that int8 changes, and the probe's own noise on a busy machine is several percent.
MIN_SPEEDUP = 1.2
PROBE_ROWS = 128  # tokens in the probe's multiply: a window's worth; a slow kernel costs ~60 ms to spot
PROBE_ROUNDS = 8  # fp32 and each kernel timed in turn, best of these many rounds: load hits them alike
GIVE_UP = 10  # a kernel whose first call takes this many fp32 calls is out (int_mm on AVX2: 37-80x)


def _quantize_weight(weight: torch.Tensor, largest: int = 127) -> tuple[torch.Tensor, torch.Tensor]:
    """int8 weights (out x in) in -largest..largest and their scale per output channel, symmetric."""
    weight = weight.detach().float()
    scale = weight.abs().amax(dim=1).clamp(min=1e-12) / largest
    return torch.round(weight / scale[:, None]).to(torch.int8), scale


class IntMM:
    """int8 x int8 -> int32 by `torch._int_mm`; activations quantized here, per token."""

    def __init__(self, weight: torch.Tensor):
        weight_int8, self.weight_scale = _quantize_weight(weight)
        self.weight_int8 = weight_int8.t().contiguous()

    def __call__(self, rows: torch.Tensor, row_max: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        scale = row_max / 127
        rows_int8 = (rows / scale).round_().to(torch.int8)
        out = torch._int_mm(rows_int8, self.weight_int8).float().mul_(scale).mul_(self.weight_scale)
        return out if bias is None else out.add_(bias)


class QLinear:
    """PyTorch's quantized dynamic linear on per-channel int8 weights, one scale per token (see above)."""

    def __init__(self, weight: torch.Tensor):
        # x86's kernels multiply-add u8 x s8 pairs into 16 bits, which saturate when both are full
        # range: weights in 7 bits (-63..63) keep 8 bits for the activations, where the error costs more.
        # (VNNI's instruction does not saturate, but fbgemm does not say which path it takes: 7 bits on all x86.)
        x86 = torch.backends.quantized.engine in ("x86", "fbgemm", "onednn")
        weight_int8, scale = _quantize_weight(weight, largest=63 if x86 else 127)
        zero_points = torch.zeros(len(scale), dtype=torch.long)
        with warnings.catch_warnings():  # quantized tensors are deprecated (see the module's note)
            warnings.simplefilter("ignore")
            weight = torch._make_per_channel_quantized_tensor(weight_int8, scale.double(), zero_points, 0)
            self.packed = torch.ops.quantized.linear_prepack(weight, None)

    def __call__(self, rows: torch.Tensor, row_max: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        out = torch.ops.quantized.linear_dynamic(rows * row_max.reciprocal(), self.packed, False)
        return out.mul_(row_max) if bias is None else torch.addcmul(bias, out, row_max)  # one pass, not two


KERNELS: dict[str, Callable] = {"int_mm": IntMM, "qlinear": QLinear}


class Int8Linear(nn.Module):
    """`nn.Linear` with int8 weights (one scale per output channel) and int8 activations (one
    scale per token), multiplied by one of `KERNELS`."""

    def __init__(self, linear: nn.Linear, kernel: str):
        super().__init__()
        self.matmul = KERNELS[kernel](linear.weight)  # not in state_dict: built from `linear`, never saved
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
        self.in_features, self.out_features, self.kernel = linear.in_features, linear.out_features, kernel
        self.linear, self.exact = linear, False  # fp32, used while `exact` (see `fp32`)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact:
            return self.linear(x)
        rows = x.reshape(-1, self.in_features).float()  # scales in fp32 even for half inputs
        # max |x| per token, from amax and amin: 10x faster here than aminmax, abs().amax() or vector_norm
        row_max = torch.maximum(rows.amax(1, keepdim=True), rows.amin(1, keepdim=True).neg_()).clamp_(min=1e-12)
        return self.matmul(rows, row_max, self.bias).reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 {self.kernel}"


def quantize_int8(model: nn.Module, kernel: str) -> nn.Module:
    """Replace every `nn.Linear` of `model` (in place) by an `Int8Linear` on `kernel`; returns `model`."""
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 inference runs on the CPU only")
    replace_modules(model, nn.Linear, lambda linear: Int8Linear(linear, kernel))
    return model


def int8_layers(model: nn.Module) -> list[Int8Linear]:
    return [m for m in model.modules() if isinstance(m, Int8Linear)]


@contextmanager
def fp32(model: nn.Module) -> Iterator[nn.Module]:
    """Inside, every `Int8Linear` of `model` multiplies in fp32 with its original weights."""
    layers = int8_layers(model)
    for layer in layers:
        layer.exact = True
    try:
        yield model
    finally:
        for layer in layers:
            layer.exact = False


def _seconds(call: Callable) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def probe(in_features: int, out_features: int, rows: int = PROBE_ROWS) -> dict[str, float | None]:
    """Seconds per multiply of `rows` tokens by one layer's weights (random), in fp32 and with each
    int8 kernel (None for one that does not run on this machine), each the best of PROBE_ROUNDS
    rounds that time them in turn after one untimed call each. Each Int8Linear step is timed whole
    (scales, quantizing, the multiply), as the model runs it."""
    with torch.random.fork_rng(), torch.inference_mode():  # the caller's random state stays as it was
        torch.manual_seed(0)
        x, linear = torch.randn(rows, in_features), nn.Linear(in_features, out_features)
        calls: dict[str, Callable] = {"fp32": lambda: linear(x)}
        times: dict[str, float | None] = {"fp32": _seconds(calls["fp32"])}
        for kernel in KERNELS:
            try:
                layer = Int8Linear(linear, kernel)
                first = _seconds(lambda layer=layer: layer(x))
            except RuntimeError:  # e.g. no quantized engine in this build of torch
                times[kernel] = None
                continue
            if first > GIVE_UP * times["fp32"]:  # a fallback path: no need to time it again
                times[kernel] = first
            else:
                calls[kernel] = lambda layer=layer: layer(x)
        best = {name: float("inf") for name in calls}
        for _ in range(PROBE_ROUNDS):
            for name, call in calls.items():
                best[name] = min(best[name], _seconds(call))
    return {**times, **best}


def choose(times: dict[str, float | None], force: bool = False) -> tuple[str | None, str]:
    """The int8 kernel to use given `probe`'s times, or None for fp32, and a line saying why.
    `force`: the fastest int8 kernel even where fp32 is faster."""
    running = {k: max(t, 1e-9) for k, t in times.items() if k != "fp32" and t is not None}
    if not running:
        return None, "no int8 kernel runs on this machine; tagging in fp32"
    kernel = min(running, key=running.get)
    speedup = times["fp32"] / running[kernel]
    rates = ", ".join(f"{k} {times['fp32'] / t:.2f}x" for k, t in running.items())
    if speedup >= MIN_SPEEDUP:
        return kernel, f"int8 kernel {kernel}: {speedup:.2f}x fp32's speed on one layer at start-up ({rates})"
    if force:
        return kernel, f"int8 kernel {kernel}, forced: {speedup:.2f}x fp32's speed on one layer at start-up ({rates})"
    return None, (f"int8 multiplies less than {MIN_SPEEDUP}x faster than fp32 on this CPU ({rates}, one layer "
                  f"at start-up); tagging in fp32 (--int8 --force insists)")


def widest_layer(model: nn.Module) -> tuple[int, int]:
    """(in, out) features of `model`'s largest Linear layer (a feed-forward one, where most time goes;
    BERT's two have the same size, transposed)."""
    shapes = {(m.in_features, m.out_features) for m in model.modules() if isinstance(m, nn.Linear)}
    return max(shapes, key=lambda shape: shape[0] * shape[1])


def choose_for(model: nn.Module, force: bool = False) -> tuple[str | None, str]:
    """`choose` on `probe`'s times for `model`'s widest layer."""
    return choose(probe(*widest_layer(model)), force)
