"""Running a token-classification model over subword windows: probabilities in batches, then each
word's IOB2 tag read from the window where it has most context."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from accelerate.utils import gather_object

from arabic_ner.labels import viterbi_iob2
from arabic_ner.sentences import Sentence
from arabic_ner.windows import Window, merge_windows

@dataclass
class Tagged:
    tags: list[str]  # valid IOB2, one per word
    scores: list[float]  # probability of each word's tag
    margins: list[float]  # each word's two likeliest tags' probabilities apart: how sure the model is
    entropies: list[float]  # each word's tag distribution's entropy over log(label count), in [0, 1]: how unsure


def window_probs(model, windows: list[Window], pad_id: int, batch_size: int, accelerator=None) -> list[np.ndarray]:
    """Softmax probabilities per subword of every window.

    Windows are sorted by length and padded per batch only as far as the batch's longest.
    Under accelerate each process runs every n-th batch and the results are gathered.
    """
    order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if accelerator is not None:
        batches = batches[accelerator.process_index::accelerator.num_processes]
    device = model.device
    results: list[tuple[int, np.ndarray]] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for batch in batches:
            width = max(len(windows[i].input_ids) for i in batch)
            ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                n = len(windows[i].input_ids)
                ids[row, :n] = torch.tensor(windows[i].input_ids)
                mask[row, :n] = 1
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
            results += [(i, probs[row, :len(windows[i].input_ids)]) for row, i in enumerate(batch)]
    model.train(was_training)
    if accelerator is not None:
        results = [r for part in gather_object([results]) for r in part]
    out: list[np.ndarray | None] = [None] * len(windows)
    for i, p in results:
        out[i] = p
    return out


def margins(probs: np.ndarray) -> np.ndarray:
    """Each row's two likeliest tags' probabilities apart: how sure the model is (a tag set has 3 labels or more)."""
    top2 = np.partition(probs, -2, axis=-1)[..., -2:]
    return top2[..., 1] - top2[..., 0]


def close_call(window: Window, probs: np.ndarray, margin: float) -> bool:
    """Whether some word's two likeliest tags are within `margin` of each other."""
    heads = probs[np.array(window.heads, dtype=bool)]
    return bool(len(heads)) and bool(margins(heads).min() < margin)


def word_tags_of(sentences: list[Sentence], windows: list[Window], probs: list[np.ndarray],
                 id2label: dict[int, str], transitions: tuple[np.ndarray, np.ndarray] | None = None) -> list[Tagged]:
    """Each sentence's likeliest valid IOB2 tags (constrained Viterbi) and their probabilities;
    `transitions`: a CRF's (crf.py), added to Viterbi's steps.

    Viterbi against the argmax with stray `I-` tags made entity starts (`labels.repair_iob2`): on the
    news test split, character-exact F1 0.852 -> 0.864, 0.895 -> 0.911 and 0.899 -> 0.912 for three
    trained models, and higher or equal on every other model and split tried (docs/results.md)."""
    labels = [id2label[i] for i in range(len(id2label))]
    tagged = []
    for word_probs in merge_windows(sentences, windows, probs, len(labels)):
        best = viterbi_iob2(word_probs, labels, transitions)
        entropy = -(word_probs * np.log(np.maximum(word_probs, 1e-30))).sum(axis=-1) / np.log(len(labels))
        tagged.append(Tagged([labels[i] for i in best], word_probs[np.arange(len(best)), best].tolist(),
                             margins(word_probs).tolist(), np.clip(entropy, 0.0, 1.0).tolist()))
    return tagged
