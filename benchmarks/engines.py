"""The engines we did not choose, against the ones we did, on the project's predict path.

    python benchmarks/engines.py [--model models/news/best] [--articles 40] [--threads 2]

Tags the same articles through `Predictor` with each engine in place of the model and prints
words per second and entity agreement with PyTorch fp32 (loading, export, quantizing untimed):
- PyTorch fp32 and `--int8` (arabic_ner/int8.py: per-token activation scales), the defaults, with
  each int8 kernel forced in turn (one whose first call in the start-up probe takes 10 fp32 calls is
  skipped, and said: `torch._int_mm` on AVX2-only CPUs would take an hour);
- PyTorch's `torch.ao.quantization.quantize_dynamic` (one activation scale per batch);
- `torch.compile` (`--compile`: inductor, weights frozen, dynamic shapes), compiled in the set-up;
- with `pip install onnxruntime onnx onnxscript` (not project dependencies; skipped, and said,
  without them): the model exported by `torch.onnx.export` (dynamo) with ONNX Runtime's BERT graph
  fusions, fp32, and a copy quantized by ONNX Runtime's dynamic int8 (per-channel weights).
To see roughly what an AVX2-only CPU gets on a newer x86 machine, hold every kernel library to AVX2:
`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 FBGEMM_ENABLE_INSTRUCTIONS=AVX2`
(fp32's and fbgemm's rates then match a real AVX2 CPU's ratio; oneDNN's `int_mm` does not fall back to its
slow loop as on one: docs/results.md).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench import agreement, articles, check_counts


class OrtModel:
    """The few parts of a transformers model that `inference.window_probs` uses, over an ORT session."""

    training = False

    def __init__(self, path: Path, config, threads: int):
        import onnxruntime as ort
        import torch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.config, self.device = config, torch.device("cpu")

    def eval(self):
        return self

    def train(self, mode: bool = True):
        return self

    def modules(self):  # no torch modules: no Int8Linear layers to re-check in fp32
        return iter(())

    def __call__(self, input_ids, attention_mask):
        import torch
        logits = self.session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})[0]
        return type("Output", (), {"logits": torch.from_numpy(logits)})


def torch_int8(folder: Path, kernel: str):
    from arabic_ner.int8 import quantize_int8
    from arabic_ner.model import load_trained
    return quantize_int8(load_trained(folder, "cpu")[0], kernel)


def torch_dynamic_int8(folder: Path):
    import warnings

    import torch

    from arabic_ner.model import load_trained
    model = load_trained(folder, "cpu")[0]
    with warnings.catch_warnings():  # torch deprecates this API in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def export(model, folder: Path) -> tuple[Path, Path]:
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    class Logits(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    raw, fused, int8 = folder / "model.onnx", folder / "fused.onnx", folder / "int8.onnx"
    example = (torch.ones(2, 16, dtype=torch.long), torch.ones(2, 16, dtype=torch.long))
    batch, length = torch.export.Dim("batch"), torch.export.Dim("length", max=512)
    torch.onnx.export(Logits(model.eval()), example, str(raw), input_names=["input_ids", "attention_mask"],
                      output_names=["logits"], dynamic_shapes=({0: batch, 1: length}, {0: batch, 1: length}),
                      dynamo=True, verbose=False)
    config = model.config
    optimize_model(str(raw), model_type="bert", num_heads=config.num_attention_heads,
                   hidden_size=config.hidden_size).save_model_to_file(str(fused))
    quantize_dynamic(str(fused), str(int8), per_channel=True, weight_type=QuantType.QInt8)
    return fused, int8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "news" / "best", help="a trained model folder")
    parser.add_argument("--articles", type=int, default=40, help="real articles to tag (default: 40)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads (default: all cores)")
    parser.add_argument("--only", help="run only the engines whose name contains this (PyTorch fp32 always runs first)")
    args = parser.parse_args()
    check_counts(articles=args.articles, threads=args.threads)
    try:
        import onnxruntime
    except ImportError:
        onnxruntime = None
    if not (args.model / "arabic_ner.json").exists():
        from arabic_ner.errors import UserError
        raise UserError(f"{args.model}: not a trained model folder")
    import torch

    from arabic_ner.predictor import Predictor
    from arabic_ner.words import running_words
    torch.set_num_threads(args.threads)
    texts, source = articles(args.articles)
    words = sum(map(running_words, texts))
    runtime = f"onnxruntime {onnxruntime.__version__}" if onnxruntime else \
        "onnxruntime not installed (pip install onnxruntime onnx onnxscript): its rows are skipped"
    from arabic_ner.device import cpu_description
    from arabic_ner.int8 import GIVE_UP, KERNELS, probe, widest_layer
    print(f"{cpu_description()}; torch {torch.__version__}, {runtime}, {args.threads} threads; "
          f"{len(texts)} articles, {words:,} words ({source})\n")
    predictor = Predictor.from_folder(args.model)
    torch_model = predictor.model
    predictor.predict(texts[:1])  # warm-up, untimed
    with tempfile.TemporaryDirectory() as tmp:
        times = probe(*widest_layer(torch_model))
        engines = {"PyTorch fp32": lambda: torch_model,
                   "PyTorch int8 (--int8: the probe's choice)": lambda: Predictor.from_folder(args.model, int8=True).model}
        for kernel in KERNELS:
            if times[kernel] is None or times[kernel] >= GIVE_UP * times["fp32"]:
                print(f"PyTorch int8, {kernel} kernel: skipped, the probe found it "
                      + ("not running here" if times[kernel] is None else f"{times[kernel] / times['fp32']:.0f}x slower than fp32"))
            else:
                engines[f"PyTorch int8, {kernel} kernel"] = lambda kernel=kernel: torch_int8(args.model, kernel)
        engines["PyTorch quantize_dynamic int8"] = lambda: torch_dynamic_int8(args.model)
        engines["PyTorch fp32, torch.compile (--compile)"] = lambda: Predictor.from_folder(args.model, compile=True).model
        if onnxruntime:
            fused, int8 = export(torch_model, Path(tmp))
            engines["ONNX Runtime fp32, fused"] = lambda: OrtModel(fused, torch_model.config, args.threads)
            engines["ONNX Runtime int8 (dynamic, per-channel)"] = lambda: OrtModel(int8, torch_model.config, args.threads)
        if args.only:
            engines = {k: v for k, v in engines.items() if k == "PyTorch fp32" or args.only in k}
        print("| engine | words/s | set-up and first article (s) | entity agreement with PyTorch fp32 |\n|---|---|---|---|")
        reference = None
        for name, make in engines.items():
            started = time.perf_counter()
            predictor.model = make()
            predictor.predict(texts[:1])
            setup = time.perf_counter() - started
            started = time.perf_counter()
            found = predictor.predict(texts)
            seconds = time.perf_counter() - started
            reference = reference or found
            a = agreement(reference, found)
            print(f"| {name} | {words / seconds:,.0f} | {setup:.1f} | {100 * a['f1']:.1f}% ({a['only_first']} only in fp32, "
                  f"{a['only_second']} only here) |", flush=True)


if __name__ == "__main__":
    from arabic_ner.errors import run_cli
    run_cli(main)
