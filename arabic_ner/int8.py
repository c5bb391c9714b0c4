"""Int8 inference on the CPU: each Linear layer's matrix multiply in int8, everything else fp32.

Weights are quantized once, per output channel; activations on the fly, per token (symmetric,
8 bits). We write this rather than use `torch.ao.quantization.quantize_dynamic` because that one
quantizes a whole batch of activations with a single scale and, on x86, with 7 bits of range: one
token with large activations then costs every other token its precision. On the news model it
changed 9-16% of the entities found; per-token scales change about 1%, for 8% more time (numbers
in the README). torchao's int8 config does the same maths but ran 1.5x slower in eager mode here.
For inference only: the forward pass works in place and has no gradient.

Each layer keeps its fp32 weights too, so that the few windows where int8 may have tipped a
word's tag (the top two tags closer than `predictor.RECHECK_MARGIN`) are re-run in fp32 (`fp32`).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


class Int8Linear(nn.Module):
    """`nn.Linear` with int8 weights (one scale per output channel) and int8 activations (one
    scale per token), multiplied in int8 with int32 accumulation by `torch._int_mm`."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-12) / 127
        self.register_buffer("weight_int8", torch.round(weight / scale[:, None]).to(torch.int8).t().contiguous())
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.linear, self.exact = linear, False  # fp32, used while `exact` (see `fp32`)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact:
            return self.linear(x)
        rows = x.reshape(-1, self.in_features).float()  # scales in fp32 even for half inputs
        # max |x| per token, from amax and amin: faster here than abs().amax() or vector_norm(inf)
        scale = torch.maximum(rows.amax(1, keepdim=True), rows.amin(1, keepdim=True).neg_())
        scale = scale.clamp_(min=1e-12).div_(127)
        rows_int8 = (rows / scale).round_().to(torch.int8)
        out = torch._int_mm(rows_int8, self.weight_int8).float().mul_(scale).mul_(self.weight_scale)
        if self.bias is not None:
            out.add_(self.bias)
        return out.reshape(*x.shape[:-1], self.out_features).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8"


def quantize_int8(model: nn.Module) -> nn.Module:
    """Replace every `nn.Linear` of `model` (in place) by an `Int8Linear`; returns `model`."""
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("int8 inference runs on the CPU only")
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
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
