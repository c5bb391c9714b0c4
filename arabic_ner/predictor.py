"""Entities with exact character offsets in raw articles, from a trained model folder."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from arabic_ner.compiled import CompiledTagger
from arabic_ner.errors import UserError, first_line
from arabic_ner.inference import RECHECK_MARGIN, tag_sentences
from arabic_ner.int8 import quantize_int8
from arabic_ner.labels import entities_from_tags
from arabic_ner.model import TextSettings, load_trained
from arabic_ner.sentences import Sentence, split_sentences, to_sentence
from arabic_ner.windows import WindowEncoder

CHUNK_SENTENCES = 2048  # sentences tagged together; bounds memory on very long inputs


class Predictor:
    """Splits articles into sentences, tags them in length-sorted batches, maps entities back."""

    def __init__(self, model, tokenizer, settings: TextSettings, batch_size: int = 32, accelerator=None):
        self.model, self.settings = model, settings
        self.encoder = WindowEncoder(tokenizer, settings.max_length, settings.stride)
        self.batch_size, self.accelerator = batch_size, accelerator
        self.recheck_margin = RECHECK_MARGIN  # int8 only: see inference.tag_sentences

    @classmethod
    def from_folder(cls, model_dir, device: str = "cpu", batch_size: int = 32, int8: bool = False,
                    accelerator=None, compile: bool = False, compile_or_fallback: bool = False) -> Predictor:
        """`int8`: int8 matrix multiplies (CPU only); `compile`: torch.compile first (~30 s), where a
        failure (inductor needs a C++ compiler on the CPU) is an error, or with `compile_or_fallback`
        a warning, and the model runs uncompiled."""
        model, tokenizer, settings = load_trained(model_dir, device)
        if int8:
            model = quantize_int8(model)
        if compile:
            try:
                model = CompiledTagger(model, freeze=not int8)
            except Exception as exc:  # whatever inductor raises: the eager model still works
                reason = first_line(exc)
                if not compile_or_fallback:
                    raise UserError(f"--compile: torch.compile failed ({reason}); run without --compile") from None
                print(f"warning: torch.compile failed ({reason}); tagging without it", file=sys.stderr)
        return cls(model, tokenizer, settings, batch_size, accelerator)

    def predict(self, texts: list[str]) -> list[list[dict]]:
        """For each text, its entities `{start, end, label, text, score}` in raw offsets."""
        return list(self.predict_iter(texts))

    def predict_iter(self, texts: Iterable[str]) -> Iterator[list[dict]]:
        """Like `predict`, one text at a time, in order; at most CHUNK_SENTENCES in memory."""
        pending: list[tuple[int, Sentence]] = []
        done: dict[int, list[dict]] = {}
        next_out = 0

        def ready(upto: int) -> Iterator[list[dict]]:  # texts next_out..upto are fully tagged
            nonlocal next_out
            while next_out <= upto:
                yield done.pop(next_out)
                next_out += 1

        i = -1
        for i, text in enumerate(texts):
            done[i] = []
            for sentence in self.sentences(text):
                pending.append((i, sentence))
                if len(pending) >= CHUNK_SENTENCES:
                    self._tag(pending, done)
                    pending = []
                    yield from ready(i - 1)
            if not pending:
                yield from ready(i)
        self._tag(pending, done)
        yield from ready(i)

    def _tag(self, pending: list[tuple[int, Sentence]], done: dict[int, list[dict]]) -> None:
        if not pending:
            return
        sentences = [s for _, s in pending]
        tagged = tag_sentences(self.model, self.encoder, sentences, self.batch_size, self.accelerator,
                               recheck_margin=self.recheck_margin)
        for (i, sentence), result in zip(pending, tagged):
            done[i] += entities_from_tags(sentence.text, sentence.spans, result.tags, result.scores)

    def sentences(self, text: str) -> Iterator[Sentence]:
        """The sentences of `text` as the model reads them: words normalized as in training, word
        spans in offsets into the whole `text`."""
        for start, end in split_sentences(text):
            piece = to_sentence({"id": "", "text": text[start:end]}, self.settings.normalization)
            yield Sentence(piece.id, text, piece.tokens, [(s + start, e + start) for s, e in piece.spans])

