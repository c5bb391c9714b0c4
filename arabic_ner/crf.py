"""A linear-chain CRF over a token-classification model's word tags (`model.crf`), trained with it.

The model alone scores each word's tags independently (softmax, cross-entropy); the CRF adds a
learnt score for each tag-to-tag step and for the first tag, and trains on the likelihood of the
whole gold sequence (Lample et al. 2016). Decoding stays `labels.viterbi_iob2`, with these scores
as its `weights`: the emissions it reads are the softmax's log-probabilities, which differ from
the logits by one constant per word, so the best path is the CRF's.

Why our own, not a package's: pytorch-crf (the usual choice) is unmaintained since 2020 and
expects every position of a sequence to be labelled; here the tags sit on the first subword of
each word only (the others are -100) and a window of a long sentence may start inside an entity.
`TagTransitions.nll` reads each window's labelled subwords, in order, as its sequence, with no
IOB2 constraint in training (the first tag of a window may be `I-X`); the constraint comes in at
decoding. The transitions are two small tensors beside the model's own weights in
`model.safetensors` (`crf.step`, `crf.start`), so checkpoints, resume and the weight average
carry them with the rest.
"""
from __future__ import annotations

import numpy as np
import torch

from arabic_ner.windows import IGNORE

ATTRIBUTE = "crf"  # the submodule's name on the model, and so the prefix of its weights' names


class TagTransitions(torch.nn.Module):
    def __init__(self, num_labels: int):
        super().__init__()
        # zeros: training starts from the model's own per-word choice
        self.step = torch.nn.Parameter(torch.zeros(num_labels, num_labels))  # [from, to]
        self.start = torch.nn.Parameter(torch.zeros(num_labels))

    def nll(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The negative log-likelihood of the gold tags, summed over windows, per labelled subword
        (so that the learning rate means what it means for cross-entropy's mean).
        `logits`: windows x subwords x labels; `labels`: windows x subwords, IGNORE where untagged."""
        logits = logits.float()
        tagged = labels != IGNORE
        lengths = tagged.sum(dim=1)
        width = int(lengths.max().item()) if len(lengths) else 0
        if width == 0:
            return logits.sum() * 0.0  # nothing labelled: a zero that keeps the graph
        # each window's labelled subwords moved to its front, in order (a stable sort of "untagged")
        order = torch.sort((~tagged).to(torch.int8), dim=1, stable=True).indices[:, :width]
        emissions = logits.gather(1, order[..., None].expand(-1, -1, logits.shape[-1]))
        valid = torch.arange(width, device=labels.device)[None, :] < lengths[:, None]
        tags = labels.gather(1, order).masked_fill(~valid, 0)

        gold = self.start[tags[:, 0]] + (emissions.gather(2, tags[..., None]).squeeze(-1) * valid).sum(dim=1)
        gold = gold + (self.step[tags[:, :-1], tags[:, 1:]] * valid[:, 1:]).sum(dim=1)
        alpha = self.start + emissions[:, 0]  # log-sum over the paths ending in each tag
        for t in range(1, width):
            moved = torch.logsumexp(alpha[:, :, None] + self.step, dim=1) + emissions[:, t]
            alpha = torch.where(valid[:, t, None], moved, alpha)
        log_z = torch.logsumexp(alpha, dim=1)
        has = lengths > 0
        return ((log_z - gold) * has).sum() / lengths.sum()

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """(step, start) as `labels.viterbi_iob2` takes them."""
        return (self.step.detach().float().cpu().numpy().astype(np.float64),
                self.start.detach().float().cpu().numpy().astype(np.float64))


def add_crf(model, num_labels: int) -> TagTransitions:
    """The model with a CRF over its tags, as `model.crf`: a part of it for the optimizer, the
    checkpoints and the weight average."""
    crf = TagTransitions(num_labels).to(next(model.parameters()).device)
    model.add_module(ATTRIBUTE, crf)
    return crf


def crf_of(model) -> TagTransitions | None:
    """The model's CRF, through a compiled tagger's wrapper (its `eager` model); None without one."""
    return getattr(getattr(model, "eager", model), ATTRIBUTE, None)
