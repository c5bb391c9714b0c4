"""Entities with exact character offsets in raw articles, from a trained model folder."""
from __future__ import annotations

from arabic_ner.encoding import Sentence, WindowEncoder, entities_from_tags, to_sentence
from arabic_ner.inference import tag_sentences
from arabic_ner.model import TextSettings, load_trained
from arabic_ner.sentences import split_sentences


class Predictor:
    """Splits articles into sentences, tags them in length-sorted batches, maps entities back."""

    def __init__(self, model, tokenizer, settings: TextSettings, batch_size: int = 32, accelerator=None):
        self.model, self.settings = model, settings
        self.encoder = WindowEncoder(tokenizer, settings.max_length, settings.stride)
        self.batch_size, self.accelerator = batch_size, accelerator

    @classmethod
    def from_folder(cls, model_dir, device: str = "cpu", batch_size: int = 32) -> "Predictor":
        model, tokenizer, settings = load_trained(model_dir, device)
        return cls(model, tokenizer, settings, batch_size)

    def predict(self, texts: list[str]) -> list[list[dict]]:
        """For each text, its entities `{start, end, label, text, score}` in raw offsets."""
        sentences, owner = [], []
        for i, text in enumerate(texts):
            for start, end in split_sentences(text):
                sentences.append(self._sentence(text, start, end))
                owner.append(i)
        tagged = tag_sentences(self.model, self.encoder, sentences, self.batch_size, self.accelerator,
                               progress=f"tagging {len(texts)} texts")
        out: list[list[dict]] = [[] for _ in texts]
        for i, sentence, result in zip(owner, sentences, tagged):
            out[i] += entities_from_tags(sentence, result.tags, result.scores)
        return out

    def _sentence(self, text: str, start: int, end: int) -> Sentence:
        """A sentence whose word spans are offsets into the whole `text`."""
        piece = to_sentence({"id": "", "text": text[start:end]}, self.settings.normalization)
        return Sentence(piece.id, text, piece.tokens, [(s + start, e + start) for s, e in piece.spans])
