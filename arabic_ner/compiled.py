"""A token-classification model compiled by `torch.compile` for inference, compiled up front.

Inductor with frozen weights (constants it can pre-pack for the matrix multiplies) and dynamic
shapes ran 9-22% faster than eager fp32 on 2 cores, for about 30 s of compiling (numbers in the
README), so it pays off on long jobs only: `predict.py` compiles by default when its input is long
enough (`worth_compiling`), and `--compile` / `--no-compile` decide otherwise.
"""
from __future__ import annotations

from types import SimpleNamespace

import torch
from torch import nn


# Measured on 2 cores with the news model (README): 27 s of compiling against 0.064 ms saved per word.
COMPILE_MIN_WORDS = 400_000


def worth_compiling(words: int, device: str, int8: bool) -> bool:
    """Whether compiling repays its start-up on `words` words: fp32 on the CPU only (an int8 model
    compiled was not faster; a GPU was not measured)."""
    return not int8 and torch.device(device).type == "cpu" and words >= COMPILE_MIN_WORDS


class CompiledTagger(nn.Module):
    """`model` compiled once, for every batch size and length; called like the model."""

    def __init__(self, model: nn.Module, freeze: bool = True):
        super().__init__()
        self.eager, self.config = model, model.config  # eager: for calls the compiled graph does not cover
        self._compiled = torch.compile(model, dynamic=True)
        # Compile now, so that the time shows as start-up and not inside the first batch. Freezing
        # is an inductor setting read at compile time; patched here, it does not leak to other code.
        # With int8 layers, freezing made tagging many times slower than eager: hence `freeze`.
        with torch._inductor.config.patch(freezing=freeze), torch.inference_mode():
            ids, mask = (torch.ones(2, 8, dtype=torch.long, device=self.device) for _ in range(2))
            self(ids, mask)  # two tensors: one passed twice would compile a graph for aliased inputs

    @property
    def device(self) -> torch.device:
        return self.eager.device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        rows = len(input_ids)
        if rows == 1:
            # torch.compile specialises dimensions of size 1: a lone window would cost a second
            # compile (~20 s). A copy of the row keeps the batch at 2; its output is dropped.
            input_ids, attention_mask = input_ids.repeat(2, 1), attention_mask.repeat(2, 1)
        logits = self._compiled(input_ids=input_ids, attention_mask=attention_mask).logits
        return SimpleNamespace(logits=logits[:rows])
