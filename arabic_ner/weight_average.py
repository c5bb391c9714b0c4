"""An exponential moving average of the trained weights (Polyak averaging), which dev scoring and
`best/` use in place of the weights of the last update when `train.ema_decay` is set (issue #18,
lever 6). After each optimizer update, average <- decay * average + (1 - decay) * weights: with
0.99 it spans about the last 100 updates, two epochs of news train at batch 8, and smooths out
where a small data set's last steps happened to leave the weights. Early on the decay is
min(decay, (1 + n) / (10 + n)) after n updates (as TensorFlow's ExponentialMovingAverage with
num_updates), so that the first epochs' dev scores are not those of weights still mostly as they
started (the classification head random).

Why not torch.optim.swa_utils.AveragedModel: it copies the whole model, frozen word embeddings
included (e5-small: 37.6M of its 59.1M weights, which never change), and averages all of it at every
update; this keeps only the trained weights, and gives them to `last/` (checkpoint.py) so that a
resumed run goes on with the very same average.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from arabic_ner.errors import UserError


class WeightAverage:
    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.trained = [p for p in model.parameters() if p.requires_grad] if decay else []
        self.average = [p.detach().clone() for p in self.trained]
        self.updates = 0

    @torch.no_grad()
    def update(self) -> None:
        """After an optimizer update."""
        if not self.decay:
            return
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        for average, weights in zip(self.average, self.trained):
            average.lerp_(weights, 1.0 - decay)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """The model holds the average inside the block, and its own weights again after it."""
        own = [p.detach().clone() for p in self.trained]
        self._copy(self.average, self.trained)
        try:
            yield
        finally:
            self._copy(own, self.trained)

    def state_dict(self) -> dict:
        return {"updates": self.updates, "weights": self.average}

    def load_state_dict(self, saved: dict | None, where: str) -> None:
        """`saved` None: a last/ from before train.ema_decay, which kept no average."""
        saved = saved or {"updates": 0, "weights": []}
        if [t.shape for t in saved["weights"]] != [t.shape for t in self.average]:
            raise UserError(f"{where}: its average of the weights ({len(saved['weights'])} tensors) is not of the "
                            f"weights this config trains ({len(self.average)}); start again with --overwrite")
        self._copy(saved["weights"], self.average)
        self.updates = saved["updates"]

    @staticmethod
    @torch.no_grad()
    def _copy(sources: list[torch.Tensor], targets: list[torch.Tensor]) -> None:
        for source, target in zip(sources, targets):
            target.copy_(source)
