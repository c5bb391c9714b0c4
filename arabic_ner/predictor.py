"""Entities with exact character offsets in raw articles, from a trained model folder."""
from __future__ import annotations

from typing import Iterable, Iterator

from arabic_ner.encoding import Sentence, WindowEncoder, entities_from_tags, to_sentence
from arabic_ner.inference import tag_sentences
from arabic_ner.model import TextSettings, load_trained
from arabic_ner.sentences import split_sentences

CHUNK_SENTENCES = 2048  # sentences tagged together; bounds memory on very long inputs


class Predictor:
    """Splits articles into sentences, tags them in length-sorted batches, maps entities back."""

    def __init__(self, model, tokenizer, settings: TextSettings, batch_size: int = 32, accelerator=None):
        self.model, self.settings = model, settings
        self.encoder = WindowEncoder(tokenizer, settings.max_length, settings.stride)
        self.batch_size, self.accelerator = batch_size, accelerator

    @classmethod
    def from_folder(cls, model_dir, device: str = "cpu", batch_size: int = 32, int8: bool = False,
                    accelerator=None) -> "Predictor":
        model, tokenizer, settings = load_trained(model_dir, device)
        if int8:
            model = quantize_int8(model)
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
            for start, end in split_sentences(text):
                pending.append((i, self._sentence(text, start, end)))
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
        tagged = tag_sentences(self.model, self.encoder, sentences, self.batch_size, self.accelerator)
        for (i, sentence), result in zip(pending, tagged):
            done[i] += entities_from_tags(sentence, result.tags, result.scores)

    def _sentence(self, text: str, start: int, end: int) -> Sentence:
        """A sentence whose word spans are offsets into the whole `text`."""
        piece = to_sentence({"id": "", "text": text[start:end]}, self.settings.normalization)
        return Sentence(piece.id, text, piece.tokens, [(s + start, e + start) for s, e in piece.spans])


def quantize_int8(model):
    """Dynamic int8 quantization of every Linear layer (weights int8, activations quantized on the
    fly): CPU only, for speed; the embeddings and LayerNorms stay in fp32."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch deprecates the quantized tensor API in favour of torchao
        warnings.simplefilter("ignore", UserWarning)
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
