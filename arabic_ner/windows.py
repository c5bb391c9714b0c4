"""From a sentence's words to the model's subword windows, and from their predictions back to words.

Sentence -> Window (`input_ids`, `word_ids`, `labels`): a sentence longer than the model's
window is cut into overlapping windows at word boundaries, so no word is ever dropped; each
word's prediction is then read from the window where it has the most context on both sides.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arabic_ner.errors import UserError
from arabic_ner.labels import OUTSIDE_ID, LabelSet
from arabic_ner.sentences import Sentence

IGNORE = -100  # the label that torch's cross-entropy skips


@dataclass
class Window:
    sentence: int  # index of its sentence in the encoded list
    first: int  # position of its first content subword among the sentence's subwords
    input_ids: list[int]  # special tokens included
    word_ids: list[int | None]  # word of each subword; None for special tokens
    heads: list[bool]  # True at each word's first subword
    labels: list[int] | None  # per subword; IGNORE where no loss is taken


class WindowEncoder:
    """Cuts tokenized sentences into windows of at most `max_length` subwords."""

    def __init__(self, tokenizer, max_length: int, stride: int, label_set: LabelSet | None = None,
                 label_all_subwords: bool = False):
        self.tokenizer = tokenizer
        self.label_set = label_set
        self.label_all_subwords = label_all_subwords
        self.stride = stride
        # Where the tokenizer puts its special tokens ([CLS] x [SEP], <s> x </s>, ...), read off
        # one encoding rather than assumed, so any fast tokenizer works.
        probe = tokenizer(["a"], is_split_into_words=True, add_special_tokens=True)
        ids, wids = probe["input_ids"], probe.word_ids()
        content = [i for i, w in enumerate(wids) if w is not None]
        self.prefix, self.suffix = ids[: content[0]], ids[content[-1] + 1:]
        self.budget = max_length - len(self.prefix) - len(self.suffix)
        if self.budget < 2 * stride + 1:  # a window must move on by at least one subword
            raise UserError(f"'model.stride' {stride} needs 'model.max_length' of at least {2 * stride + 1} "
                            f"subwords plus the tokenizer's {len(self.prefix) + len(self.suffix)} special tokens, "
                            f"got {max_length}")

    def encode(self, sentences: list[Sentence]) -> list[Window]:
        windows: list[Window] = []
        nonempty = [i for i, s in enumerate(sentences) if s.tokens]
        if not nonempty:
            return windows
        batch = self.tokenizer([sentences[i].tokens for i in nonempty], is_split_into_words=True,
                               add_special_tokens=False)
        for row, index in enumerate(nonempty):
            ids, wids = batch["input_ids"][row], batch.word_ids(row)
            heads = [k == 0 or wids[k - 1] != w for k, w in enumerate(wids)]
            labels = self._labels(wids, heads, sentences[index].tags)
            for start, end in self.cuts(wids):
                windows.append(Window(
                    sentence=index,
                    first=start,
                    input_ids=self.prefix + ids[start:end] + self.suffix,
                    word_ids=[None] * len(self.prefix) + wids[start:end] + [None] * len(self.suffix),
                    heads=[False] * len(self.prefix) + heads[start:end] + [False] * len(self.suffix),
                    labels=None if labels is None else
                    [IGNORE] * len(self.prefix) + labels[start:end] + [IGNORE] * len(self.suffix),
                ))
        return windows

    def cuts(self, word_ids: list[int]) -> list[tuple[int, int]]:
        """`[start, end)` subword ranges of the windows; they overlap by about `stride`. No window
        for a sentence with no subword (all its words characters the tokenizer drops, such as a DOS
        end-of-file mark): `merge_windows` reads its words as `O`."""
        n, budget = len(word_ids), self.budget
        if not n:
            return []

        def at_word_start(k: int) -> bool:
            return k == 0 or k >= n or word_ids[k] != word_ids[k - 1]

        cuts, start = [], 0
        while True:
            end = min(start + budget, n)
            while end < n and end > start + 1 and not at_word_start(end):
                end -= 1
            if end < n and not at_word_start(end):  # one word longer than a window
                end = min(start + budget, n)
            cuts.append((start, end))
            if end >= n:
                return cuts
            nxt = max(end - self.stride, start + 1)
            while nxt < end and not at_word_start(nxt):
                nxt += 1
            start = nxt

    def _labels(self, word_ids: list[int], heads: list[bool], tags: list[str] | None) -> list[int] | None:
        if tags is None or self.label_set is None:
            return None
        label2id = self.label_set.label2id
        labels = []
        for w, head in zip(word_ids, heads):
            tag_id = label2id[tags[w]]
            if head:
                labels.append(tag_id)
            else:
                labels.append(self.label_set.inside_id(tag_id) if self.label_all_subwords else IGNORE)
        return labels


def merge_windows(sentences: list[Sentence], windows: list[Window], probs: list[np.ndarray],
                  num_labels: int) -> list[np.ndarray]:
    """Per sentence, a `[words, labels]` array of probabilities read from each word's first
    subword, in the window where that subword has the most context. A word with no subword
    (a character the tokenizer drops) is `O` with certainty."""
    out = []
    for sentence in sentences:
        word_probs = np.zeros((len(sentence.tokens), num_labels), dtype=np.float32)
        word_probs[:, OUTSIDE_ID] = 1.0
        out.append(word_probs)
    best = [np.full(len(s.tokens), -1) for s in sentences]
    for window, p in zip(windows, probs):
        content = [j for j, w in enumerate(window.word_ids) if w is not None]
        lo, hi = content[0], content[-1]
        for j in content:
            if not window.heads[j]:
                continue
            w, context = window.word_ids[j], min(j - lo, hi - j)
            if context > best[window.sentence][w]:
                best[window.sentence][w] = context
                out[window.sentence][w] = p[j]
    return out
