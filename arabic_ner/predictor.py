"""Entities with exact character offsets in raw articles, from a trained model folder."""
from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from accelerate.utils import broadcast_object_list

from arabic_ner.clitics import Proclitics
from arabic_ner.compiled import CompiledTagger
from arabic_ner.config import WINDOWS_PER_PASS
from arabic_ner.crf import crf_of
from arabic_ner.errors import UserError
from arabic_ner.inference import close_call, window_probs, word_tags_of
from arabic_ner.int8 import choose_for, fp32, int8_layers, quantize_int8
from arabic_ner.labels import entities_from_tags
from arabic_ner.messages import first_line
from arabic_ner.model import ModelSettings, known_words, load_trained
from arabic_ner.sentences import Sentence, split_sentences, to_sentence
from arabic_ner.windows import WindowEncoder

CHUNK_SENTENCES = 2048  # sentences tagged together; bounds memory on very long inputs
# An int8 model's windows where some word's top two tag probabilities are closer than this are
# re-run in fp32. On the news model (120 articles) that was 1.2% of the windows, for 4% of the
# time, and took int8's entity agreement with fp32 from 98.7% to 99.4% (`int_mm`, AVX-512); with
# `qlinear` on an AVX2-only CPU, 1.7% of the windows, from 98.0% to 99.1% at no measurable cost
# (0.2: 3.7% of the windows, 99.65%, 13% slower).
RECHECK_MARGIN = 0.1
# How sure the model is of a text, from its words' tag probabilities, in [0, 1], lower less sure:
# what orders the sentences to annotate next (select.py) and Label Studio's tasks (serve.py).
SURENESS = {
    "margin": "the least gap between a word's two likeliest tags' probabilities: one unsure word is enough",
    "entropy": "1 - the mean over words of their tag distribution's entropy (over log of the label count)",
}
# Entropy orders best: in the news simulation (benchmarks/active_learning.py, 3 seeds on 3 folds,
# README, Serve, "Does it pay?") it beat random selection and margin at 200 sentences in every seed.
DEFAULT_SURENESS = "entropy"


class Predictor:
    """Splits articles into sentences, tags them in length-sorted batches, maps entities back."""

    def __init__(self, model, tokenizer, settings: ModelSettings, batch_size: int = WINDOWS_PER_PASS, accelerator=None):
        self.model, self.settings = model, settings
        self.encoder = WindowEncoder(tokenizer, settings.max_length, settings.stride)
        self.batch_size, self.accelerator = batch_size, accelerator
        self.recheck_margin = RECHECK_MARGIN  # int8 only: see _window_probs; 0 re-runs none
        # entities start after them, as the spec says, unless the corpus tagged whole words
        self.proclitics = None if settings.proclitics_in_spans else Proclitics(known_words(tokenizer))

    @classmethod
    def from_folder(cls, model_dir, device: str = "cpu", batch_size: int = WINDOWS_PER_PASS, int8: bool | str = False,
                    accelerator=None, compile: bool = False, warn_if_compile_fails: bool = False,
                    force_int8: bool = False, share_batches: bool = True) -> Predictor:
        """`int8`: int8 matrix multiplies (CPU only) with the kernel named, or, given True, the one
        `int8.choose_for` finds fastest here, or fp32 where int8 would be no faster (`force_int8`:
        int8 anyway); which one is said on stderr. `accelerator` (several processes): the main
        process's int8 choice for all, said once; with `share_batches`, the processes also share
        each call's batches (else each tags its own texts alone). `compile`: torch.compile first
        (~30 s), where a failure (inductor needs a C++ compiler on the CPU) is an error, or with
        `warn_if_compile_fails` a warning, and the model runs uncompiled."""
        model, tokenizer, settings = load_trained(model_dir, device)
        if int8:
            # a kernel named (a resumed run: the interrupted run's) needs no probe
            choice = [int8, f"int8 kernel {int8}, as named"] if isinstance(int8, str) else list(choose_for(model, force_int8))
            if accelerator is not None and accelerator.num_processes > 1:
                # The main process's choice for all: each timing its own probe might choose another
                # kernel, and one output would then hold shards of different arithmetic.
                broadcast_object_list(choice, from_process=0)
            kernel, why = choice
            if kernel:
                model = quantize_int8(model, kernel)
            if accelerator is None or accelerator.is_main_process:  # which arithmetic ran, said once
                print(f"{'' if kernel else 'warning: '}--int8: {why}", file=sys.stderr)
        if compile:
            try:
                model = CompiledTagger(model, freeze=not int8_layers(model))
            except Exception as exc:  # whatever inductor raises: the eager model still works
                reason = first_line(exc)
                if not warn_if_compile_fails:
                    raise UserError(f"--compile: torch.compile failed ({reason}); run without --compile") from None
                print(f"warning: torch.compile failed ({reason}); tagging without it", file=sys.stderr)
        return cls(model, tokenizer, settings, batch_size, accelerator if share_batches else None)

    def predict(self, texts: list[str]) -> list[list[dict]]:
        """For each text, its entities `{start, end, label, text, score}` in raw offsets."""
        return list(self.predict_iter(texts))

    def predict_iter(self, texts: Iterable[str], sureness: str | None = None) -> Iterator:
        """Like `predict`, one text at a time, in order; at most CHUNK_SENTENCES in memory. With
        `sureness` (a key of SURENESS), each text's entities come with how sure the model was of
        it, in [0, 1] (1.0 for a text without words): the lower, the less sure."""
        if sureness is not None and sureness not in SURENESS:
            raise UserError(f"sureness {sureness!r}: one of {', '.join(SURENESS)}")
        pending: list[tuple[int, Sentence]] = []
        done: dict[int, list[dict]] = {}
        sure: dict[int, list[float]] = {}  # per text: least margin, summed entropy, word count
        next_out = 0

        def ready(upto: int) -> Iterator:  # texts next_out..upto are fully tagged
            nonlocal next_out
            while next_out <= upto:
                entities, (least, entropy, n) = done.pop(next_out), sure.pop(next_out)
                if sureness is None:
                    yield entities
                else:
                    yield entities, (least if sureness == "margin" else 1.0 - entropy / n if n else 1.0)
                next_out += 1

        i = -1
        for i, text in enumerate(texts):
            done[i], sure[i] = [], [1.0, 0.0, 0]
            for sentence in self.sentences(text):
                pending.append((i, sentence))
                if len(pending) >= CHUNK_SENTENCES:
                    self._tag(pending, done, sure)
                    pending = []
                    yield from ready(i - 1)
            if not pending:
                yield from ready(i)
        self._tag(pending, done, sure)
        yield from ready(i)

    def _tag(self, pending: list[tuple[int, Sentence]], done: dict[int, list[dict]],
             sure: dict[int, list[float]]) -> None:
        if not pending:
            return
        sentences = [s for _, s in pending]
        windows = self.encoder.encode(sentences)
        crf = crf_of(self.model)  # read at each call: a model in training changes it
        tagged = word_tags_of(sentences, windows, self._window_probs(windows), self.model.config.id2label,
                              crf.weights() if crf is not None else None)
        for (i, sentence), result in zip(pending, tagged):
            done[i] += entities_from_tags(sentence.text, sentence.spans, result.tags, result.scores,
                                          self.proclitics)
            least, entropy, n = sure[i]
            sure[i] = [min([least, *result.margins]), entropy + sum(result.entropies), n + len(result.entropies)]

    def _window_probs(self, windows: list) -> list:
        """Tag probabilities of every window; an int8 model's close calls (some word's two likeliest
        tags within `recheck_margin`) re-run in fp32, which agrees with fp32 on 99% of entities where
        int8 alone gives 98.7%."""
        pad_id = self.encoder.tokenizer.pad_token_id or 0
        probs = window_probs(self.model, windows, pad_id, self.batch_size, self.accelerator)
        if self.recheck_margin > 0 and int8_layers(self.model):
            recheck = [k for k, (w, p) in enumerate(zip(windows, probs)) if close_call(w, p, self.recheck_margin)]
            # The uncompiled model: compiling its fp32 branch would cost more than these few windows.
            with fp32(getattr(self.model, "eager", self.model)) as exact:
                for k, p in zip(recheck, window_probs(exact, [windows[k] for k in recheck], pad_id, self.batch_size,
                                                      self.accelerator)):
                    probs[k] = p
        return probs

    def sentences(self, text: str) -> Iterator[Sentence]:
        """The sentences of `text` as the model reads them: words normalized as in training, word
        spans in offsets into the whole `text`."""
        for start, end in split_sentences(text):
            piece = to_sentence({"id": "", "text": text[start:end]}, self.settings.normalization)
            yield Sentence(piece.id, text, piece.tokens, [(s + start, e + start) for s, e in piece.spans])

