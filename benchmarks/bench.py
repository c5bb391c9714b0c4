"""Speed and memory: the project's predict path against transformers' pipeline, and training.

    python benchmarks/bench.py [--model models/news/best] [--articles 40] [--threads 2]
                               [--device cpu] [--no-predict] [--no-training] [--quickstart]
                               [--json OUT.json]

Measures, in one run, with the same threads and inputs, and prints as tables:
- the machine's fp32 matrix-multiply rate (the roofline);
- for the trained model (`--model`) and for a model of AraBERT-base's shape (12 layers, hidden 768,
  64,000-piece vocabulary, random weights, AraBERT v0.2's tokenizer from ../shared when present):
  words and articles per second of `Predictor` (fp32 eager and compiled; int8 with and without
  its fp32 re-check of close calls) and of
  `pipeline("token-classification", aggregation_strategy="first")` at its default batch size and
  its best of a few, start-up (loading) included and excluded; the fraction of the roofline the
  fp32 path reaches (2 FLOPs, one multiply-add, per non-embedding parameter per subword);
  int8's entity agreement with fp32; and parity: the pipeline given the project's words
  (`is_split_into_words`) against the fp32 path, each sentence that differs put down to a cause;
- training on configs/news.yaml for the offline default encoder, from the first round's settings
  to today's defaults one change at a time (LADDER), and for the AraBERT-base shape with the
  first round's settings and today's defaults: subword tokens per
  second, their fraction of the roofline (6 FLOPs, forward and backward, per non-embedding
  parameter per subword), seconds per epoch, peak memory; and, with `--quickstart`, the
  wall time of `make quickstart`'s commands.
Inputs: the first `--articles` real articles of ../shared/corpora/saudinewsnet when present, else
the project's article repeated (said in the output). Nothing here is a test: it measures and prints.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from bisect import bisect_right
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from arabic_ner.run_folder import read_epochs
from arabic_ner.sentences import split_sentences
from arabic_ner.words import running_words, word_spans

SHARED = ROOT.parent / "shared"
NEWS = SHARED / "corpora" / "saudinewsnet" / "security_articles.jsonl"
ARABERT_TOKENIZER = SHARED / "tokenizers" / "arabertv02"
PIPELINE_BATCHES = (8, 32)  # candidates for the pipeline's best batch size (its default is 1)
OFFLINE_ENCODER = ROOT / "models" / "encoders" / "multilingual-e5-small"
# The first round's training settings, then today's defaults put back one at a time (attention is
# eager on the CPU in all of them; with dropout on its weights, PyTorch's sdpa ran the same path).
LADDER = [
    ("first round", {"train.save_minutes": "0", "train.precision": "fp32", "model.attention_dropout": "0.1",
                     "train.freeze_embeddings": "false", "train.fast_dropout": "false"}),
    ("+ last/ every 10 min", {"train.precision": "fp32", "model.attention_dropout": "0.1",
                              "train.freeze_embeddings": "false", "train.fast_dropout": "false"}),
    ("+ bf16 (where native)", {"model.attention_dropout": "0.1", "train.freeze_embeddings": "false",
                               "train.fast_dropout": "false"}),
    ("+ no attention dropout", {"train.freeze_embeddings": "false", "train.fast_dropout": "false"}),
    ("+ frozen word embeddings", {"train.fast_dropout": "false"}),
    ("+ cheaper dropout masks = defaults", {}),
]


def check_counts(**options: int) -> None:
    """Options that count something (articles, threads, clients): at least 1, or one line naming it."""
    from arabic_ner.errors import UserError
    for name, value in options.items():
        if value < 1:
            raise UserError(f"--{name} {value}: must be at least 1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "news" / "best",
                        help="a trained model folder (default: models/news/best)")
    parser.add_argument("--articles", type=int, default=40, help="real articles to tag (default: 40)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch CPU threads (default: all cores)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (cuda adds fp16 and bf16 runs)")
    parser.add_argument("--no-predict", action="store_true", help="skip the predict measurements")
    parser.add_argument("--no-training", action="store_true", help="skip the training measurements")
    parser.add_argument("--quickstart", action="store_true", help="also run make quickstart's commands: time, test F1")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.model, args.json = args.model.resolve(), args.json and args.json.resolve()
    from arabic_ner.device import choose_device
    from arabic_ner.errors import UserError
    from arabic_ner.files import check_output_files
    # checked now, not at the end of a half-hour run
    check_output_files({"--json": args.json})
    check_counts(articles=args.articles, threads=args.threads)
    choose_device(args.device)
    os.chdir(ROOT)  # the config's relative paths (data/, models/encoders/) are the repository's
    if not args.no_predict and not (args.model / "arabic_ner.json").exists():
        raise UserError(f"{args.model}: not a trained model folder; train one first "
                 f"(python train.py configs/news.yaml), pass --model, or measure training only (--no-predict)")

    import torch
    torch.set_num_threads(args.threads)
    results: dict = {"machine": machine(args.threads), "roofline_gflops": matmul_gflops(args.device)}
    texts, source = articles(args.articles)
    results["inputs"] = {"source": source, "articles": len(texts), "words": sum(map(running_words, texts))}
    print(f"# Benchmark\n\n{results['machine']}; roofline (fp32 matmul): {results['roofline_gflops']:.1f} GFLOP/s\n"
          f"inputs: {len(texts)} articles, {results['inputs']['words']:,} words ({source})\n")

    with tempfile.TemporaryDirectory() as tmp:
        from arabic_ner.config import Config
        from arabic_ner.model import ModelSettings
        from arabic_ner.offline_encoder import ensure_offline_encoder
        ensure_offline_encoder(str(OFFLINE_ENCODER), print)
        defaults = Config()  # the tag set and windows of the defaults, where no trained model is given
        settings = (ModelSettings.load(args.model) if not args.no_predict
                    else ModelSettings(defaults.entity_types, "none", defaults.model.max_length, defaults.model.stride))
        arabert, tokenizer_note = arabert_shaped(Path(tmp) / "arabert-shaped", settings,
                                                 args.model if not args.no_predict else OFFLINE_ENCODER)
        arabert_name = f"AraBERT-base shape, random ({tokenizer_note})"
        if not args.no_predict:
            models = {"trained (" + args.model.as_posix() + ")": args.model, arabert_name: arabert}
            results["predict"] = {name: predict_speed(folder, texts, args.device, results["roofline_gflops"])
                                  for name, folder in models.items()}
            print_predict(results["predict"])
        if not args.no_training:
            # every step of the ladder for the offline default; its two ends for the AraBERT shape
            # (the AraBERT shape for one epoch: 2-4 minutes each, its first steps' warm-up negligible)
            runs = [("e5-small (offline default)", OFFLINE_ENCODER, "none", 2, step) for step in LADDER]
            runs += [(arabert_name, arabert, ModelSettings.load(arabert).normalization, 1, step)
                     for step in (LADDER[0], LADDER[-1])]
            results["training"] = {
                f"{name} | {label}": train_speed(folder, normalization, Path(tmp) / f"run{i}", args.threads,
                                                 results["roofline_gflops"], overrides, epochs)
                for i, (name, folder, normalization, epochs, (label, overrides)) in enumerate(runs)}
            print_training(results["training"])
    if args.quickstart:
        results["quickstart"] = quickstart()
        f1, words = results["quickstart"]["test_f1"], results["quickstart"]["test_f1_words"]
        print(f"\nquickstart (make quickstart's train, evaluate x2, predict; environment already installed): "
              f"{results['quickstart']['seconds']:.0f} s; character-exact strict F1 news test {f1['news']:.3f}, "
              f"article test {f1['article']:.3f} (over words: {words['news']:.3f}, {words['article']:.3f})")
    if args.json:
        from arabic_ner.files import write_atomic
        write_atomic(args.json, json.dumps(results, indent=2, ensure_ascii=False) + "\n")


def machine(threads: int) -> str:
    """The CPU with the instruction sets that decide int8 and bf16 speed, cores, torch, threads."""
    import torch

    from arabic_ner.device import cpu_description
    return f"{cpu_description()}, {os.cpu_count()} cores, torch {torch.__version__}, {threads} threads"


def matmul_gflops(device: str, n: int = 1024, seconds: float = 2.0) -> float:
    """Best sustained fp32 matrix-multiply rate: the ceiling for an encoder's Linear layers."""
    import torch
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        for _ in range(5):
            torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        best = max(best, 5 * 2 * n ** 3 / (time.perf_counter() - started) / 1e9)
    return best


def articles(limit: int) -> tuple[list[str], str]:
    if NEWS.exists():
        texts = [json.loads(line)["text"] for line in NEWS.read_text(encoding="utf-8").splitlines()[:limit]]
        return texts, f"the first {len(texts)} articles of {NEWS.relative_to(ROOT.parent)}"
    article = (ROOT / "data" / "article" / "article.txt").read_text(encoding="utf-8")
    return [article] * limit, f"{NEWS} absent: data/article/article.txt repeated {limit} times"


def arabert_shaped(folder: Path, settings, fallback_tokenizer: Path) -> tuple[Path, str]:
    """A randomly initialised BERT-base (vocabulary 64,000) saved as a trained-model folder with
    `settings` (entity types, windows)."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForTokenClassification

    if ARABERT_TOKENIZER.exists():
        tokenizer, note = AutoTokenizer.from_pretrained(str(ARABERT_TOKENIZER)), "AraBERT v0.2 tokenizer"
        settings.normalization = "arabert_v02"
    else:
        tokenizer = AutoTokenizer.from_pretrained(str(fallback_tokenizer))
        note = f"{ARABERT_TOKENIZER} absent: the {fallback_tokenizer.name} tokenizer, 64,000-row embedding"
    labels = ["O"] + [f"{p}-{t}" for t in settings.entity_types for p in ("B", "I")]
    config = BertConfig(vocab_size=64000, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, max_position_embeddings=512, num_labels=len(labels),
                        id2label=dict(enumerate(labels)), label2id={l: i for i, l in enumerate(labels)})
    torch.manual_seed(0)  # the same random model in every run
    BertForTokenClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    settings.save(folder)
    return folder, note


def predict_speed(folder: Path, texts: list[str], device: str, roofline: float) -> dict:
    import torch

    from arabic_ner.int8 import int8_layers
    from arabic_ner.predictor import Predictor
    words = sum(map(running_words, texts))
    out: dict = {}
    runs = [("fp32", {}), ("fp32 compiled", {"compile": True})]
    runs += ([("int8", {"int8": True}), ("int8, no fp32 re-check", {"int8": True, "recheck_margin": 0.0})]
             if device == "cpu" else
             [("fp16", {"dtype": torch.float16}), ("bf16", {"dtype": torch.bfloat16})])
    # One untimed pass first, so that no timed run pays for the process's first use of the kernels.
    Predictor.from_folder(folder, device).predict(texts[:1])
    entities, flops = {}, 0
    for name, options in runs:
        started = time.perf_counter()
        predictor = Predictor.from_folder(folder, device, int8=options.get("int8", False),
                                          compile=options.get("compile", False))
        if "dtype" in options:
            predictor.model.to(options["dtype"])
        predictor.recheck_margin = options.get("recheck_margin", predictor.recheck_margin)
        loaded = time.perf_counter()
        entities[name] = predictor.predict(texts)
        done = time.perf_counter()
        out[name] = rates(words, len(texts), done - loaded, done - started)
        if options.get("int8"):  # what its own start-up probe chose
            out[name]["kernel"] = next((layer.kernel for layer in int8_layers(predictor.model)), "none: fp32")
        if name == "fp32":
            sentences = [(i, s) for i, t in enumerate(texts) for s in predictor.sentences(t)]
            windows = predictor.encoder.encode([s for _, s in sentences])
            flops = 2 * non_embedding_parameters(predictor.model) * sum(len(w.input_ids) for w in windows)
            out["parity"] = pipeline_parity(folder, predictor, sentences, windows, texts, entities["fp32"], device)
        if name.startswith("fp32"):
            out[name]["roofline_fraction"] = flops / (done - loaded) / (roofline * 1e9)
        del predictor
    for name, found in entities.items():
        if name != "fp32":
            out[name]["agreement_with_fp32"] = agreement(entities["fp32"], found)
    if device == "cpu":
        out["int8 probe"] = int8_probe(folder)
    out.update(pipeline_speed(folder, texts, device, words))
    return out


def int8_probe(folder: Path) -> dict:
    """What `--int8`'s start-up check measured on this model's widest layer, and what it chose."""
    from arabic_ner.int8 import PROBE_ROWS, choose, probe, widest_layer
    from arabic_ner.model import load_trained
    shape = widest_layer(load_trained(folder, "cpu")[0])
    started = time.perf_counter()
    times = probe(*shape)
    seconds = time.perf_counter() - started
    kernel, why = choose(times)
    return {"shape": shape, "rows": PROBE_ROWS, "seconds_per_multiply": times, "probe_seconds": seconds, "kernel": kernel, "why": why}


def pipeline_speed(folder: Path, texts: list[str], device: str, words: int) -> dict:
    """transformers' pipeline on the same raw sentences (it has no sentence splitter of its own)."""
    from transformers import pipeline
    pieces = [t[s:e] for t in texts for s, e in split_sentences(t)]
    out = {}
    for batch in (1, *PIPELINE_BATCHES):
        started = time.perf_counter()
        tagger = pipeline("token-classification", model=str(folder), aggregation_strategy="first", device=device)
        loaded = time.perf_counter()
        tagger(pieces, batch_size=batch)
        done = time.perf_counter()
        out[f"pipeline batch {batch}"] = rates(words, len(texts), done - loaded, done - started)
    return out


def pipeline_parity(folder: Path, predictor, sentences: list[tuple[int, object]], windows: list,
                    texts: list[str], ours: list[list[dict]], device: str) -> dict:
    """Entities of the pipeline against the project's fp32 path, the model reading the same words.

    On raw text the pipeline splits words at white space only (punctuation stays glued on) and
    so feeds the model other subwords; here it gets the project's words (`is_split_into_words`).
    Each sentence where the two differ is put down to one cause:
    - windowed: longer than the model's window, which the project cuts into overlapping windows
      and the pipeline reads whole (truncating past its maximum length);
    - bare piece: a word whose first subword is SentencePiece's lone "▁"; without word ids the
      pipeline's word heuristic takes that piece as a word of its own, and "first" then reads the
      next piece's label for the word, where the project reads the word's first subword;
    - other: anything else (expected: none).
    """
    import warnings

    from transformers import pipeline
    tagger = pipeline("token-classification", model=str(folder), aggregation_strategy="first", device=device)
    with warnings.catch_warnings():  # "Tokenizer does not support real words", once per subword
        warnings.simplefilter("ignore", UserWarning)
        found = tagger([s.tokens for _, s in sentences], is_split_into_words=True, batch_size=8)
    windows_of = Counter(w.sentence for w in windows)
    tokenizer = predictor.encoder.tokenizer
    pieces = tokenizer([s.tokens for _, s in sentences], is_split_into_words=True, add_special_tokens=False)
    # the tagging compared, word against word: our entities from the start of their first word, before
    # the clitic cut that the pipeline does not make (arabic_ner/clitics.py)
    ours = [_from_word_starts(text, x) for text, x in zip(texts, ours)]
    ours_keys = [{(e["start"], e["end"], e["label"]) for e in x} for x in ours]
    causes = {"windowed": 0, "bare piece": 0, "other": 0}
    theirs_keys: list[set] = [set() for _ in texts]
    for k, ((text, sentence), spans) in enumerate(zip(sentences, found)):
        if not sentence.tokens:  # e.g. a line of direction marks: no words, no entities either way
            continue
        starts, at = [], 0  # where each word starts in the pipeline's " ".join(words)
        for word in sentence.tokens:
            starts.append(at)
            at += len(word) + 1
        theirs = {(sentence.spans[bisect_right(starts, e["start"]) - 1][0],
                   sentence.spans[bisect_right(starts, e["end"] - 1) - 1][1], e["entity_group"]) for e in spans}
        lo, hi = sentence.spans[0][0], sentence.spans[-1][1]
        mine = {e for e in ours_keys[text] if lo <= e[0] and e[1] <= hi}
        theirs_keys[text] |= theirs
        if mine == theirs:
            continue
        ids, word_ids = pieces["input_ids"][k], pieces.word_ids(k)
        bare = {word_ids[j] for j in range(len(ids)) if (j == 0 or word_ids[j - 1] != word_ids[j])
                and tokenizer.convert_ids_to_tokens(ids[j]) == "\u2581"}
        first = {span[0]: j for j, span in enumerate(sentence.spans)}
        last = {span[1]: j for j, span in enumerate(sentence.spans)}
        touched = {j + d for a, b, _ in mine ^ theirs for j in range(first[a], last[b] + 1) for d in (-1, 0, 1)}
        if windows_of[k] > 1:
            causes["windowed"] += 1
        elif bare & touched:
            causes["bare piece"] += 1
        else:
            causes["other"] += 1
    theirs_texts = [[{"start": a, "end": b, "label": l} for a, b, l in x] for x in theirs_keys]
    return {"sentences": len(sentences), "identical": len(sentences) - sum(causes.values()),
            "differing": causes, "agreement": agreement(ours, theirs_texts)}


def _from_word_starts(text: str, entities: list[dict]) -> list[dict]:
    """`entities` each from the start of the word of `text` that holds its start."""
    starts = [start for start, _ in word_spans(text)]
    return [{**e, "start": starts[bisect_right(starts, e["start"]) - 1]} for e in entities]


def rates(words: int, articles: int, run: float, total: float) -> dict:
    return {"seconds": run, "seconds_with_startup": total, "words_per_s": words / run,
            "words_per_s_with_startup": words / total, "articles_per_s": articles / run}


def agreement(a: list[list[dict]], b: list[list[dict]]) -> dict:
    """Entities (span and label) found by both, and their F1 of agreement."""
    key = [{(e["start"], e["end"], e["label"]) for e in x} for x in a], [{(e["start"], e["end"], e["label"]) for e in x} for x in b]
    both = sum(len(x & y) for x, y in zip(*key))
    na, nb = sum(map(len, key[0])), sum(map(len, key[1]))
    return {"both": both, "only_first": na - both, "only_second": nb - both,
            "f1": 2 * both / (na + nb) if na + nb else 1.0}


def non_embedding_parameters(model) -> int:
    import torch
    embeddings = {id(p) for m in model.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    return sum(p.numel() for p in model.parameters() if id(p) not in embeddings)


def train_speed(model: Path, normalization: str, run_dir: Path, threads: int, roofline: float,
                overrides: dict, epochs: int) -> dict:
    """`epochs` of configs/news.yaml in a child process, with `overrides`; the last epoch is the one
    measured (after 2, no first-step warm-up): its training part for tokens/s, with the dev scoring
    for s/epoch."""
    from arabic_ner.config import load_config
    from arabic_ner.corpus import read_split
    from arabic_ner.labels import LabelSet
    from arabic_ner.model import load_encoder
    from arabic_ner.sentences import to_sentence
    from arabic_ner.windows import WindowEncoder
    args = ["--model.name_or_path", str(model), "--model.normalization", normalization,
            "--output_dir", str(run_dir.parent), "--run_name", run_dir.name, "--train.epochs", str(epochs),
            "--train.threads", str(threads), "--data.test", "",
            *(x for key, value in overrides.items() for x in (f"--{key}", value))]
    config = load_config(ROOT / "configs" / "news.yaml", args)
    encoder_model, tokenizer = load_encoder(str(model), LabelSet(tuple(config.entity_types)), 0.1, 0.0)
    flops_per_token = 6 * non_embedding_parameters(encoder_model)
    del encoder_model
    encoder = WindowEncoder(tokenizer, config.model.max_length, config.model.stride)
    records = read_split(config.data.train, config.entity_types)
    tokens = sum(len(w.input_ids) for w in encoder.encode([to_sentence(r, normalization) for r in records]))
    log = run_dir.parent / f"{run_dir.name}.log"  # a file, not a pipe: a full pipe would stall the child
    started = time.perf_counter()
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "train.py", "configs/news.yaml", *args], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own peak memory, not the benchmark's
    wall = time.perf_counter() - started
    if status != 0:
        sys.exit(f"error: training {model} failed:\n{log.read_text()[-2000:]}")
    epoch = read_epochs(run_dir)[-1]
    tokens_per_s = tokens / (epoch["seconds"] - epoch["dev_seconds"])
    return {"train_tokens": tokens, "seconds_per_epoch": epoch["seconds"], "dev_seconds": epoch["dev_seconds"],
            "tokens_per_s": tokens_per_s, "roofline_fraction": tokens_per_s * flops_per_token / (roofline * 1e9),
            "peak_memory_gb": usage.ru_maxrss / 1024 ** 2, "epochs": epochs, "wall_seconds": wall}


def quickstart() -> dict:
    """The commands of `make quickstart`, in a temporary folder: wall time and strict F1 per test split."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "quickstart"
        tests = {"news": "data/news/test.jsonl", "article": "data/article/test.jsonl"}
        steps = [["train.py", "configs/quickstart.yaml", "--output_dir", tmp],
                 *(["eval/evaluate.py", str(run / "best"), path, "--out", str(run / f"eval-{name}")]
                   for name, path in tests.items()),
                 ["predict.py", str(run / "best"), "data/sample/sample.txt", "-o", str(run / "sample.jsonl")]]
        started = time.perf_counter()
        for step in steps:
            subprocess.run([sys.executable, *step], cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        scores = {name: json.loads((run / f"eval-{name}" / "metrics.json").read_text()) for name in tests}
        return {"seconds": seconds, "test_f1": {name: s["char"]["f1"] for name, s in scores.items()},
                "test_f1_words": {name: s["f1"] for name, s in scores.items()}}


def print_predict(results: dict) -> None:
    for model, runs in results.items():
        runs = dict(runs)
        parity, probe = runs.pop("parity"), runs.pop("int8 probe", None)
        base = runs["pipeline batch 1"]
        print(f"\n## Predict: {model}\n")
        print("| path | words/s | articles/s | words/s with start-up | × pipeline default (with start-up) "
              "| roofline | entity agreement with fp32 |")
        print("|---|---|---|---|---|---|---|")
        for name, r in runs.items():
            agree = r.get("agreement_with_fp32")
            agree_text = (f"{100 * agree['f1']:.1f}% ({agree['both']} both, {agree['only_first']} fp32 only, "
                          f"{agree['only_second']} {name} only)") if agree else ""
            roof = f"{100 * r['roofline_fraction']:.0f}%" if "roofline_fraction" in r else ""
            name = f"{name} ({r['kernel']})" if "kernel" in r else name
            print(f"| {name} | {r['words_per_s']:,.0f} | {r['articles_per_s']:.2f} | {r['words_per_s_with_startup']:,.0f} "
                  f"| {r['words_per_s'] / base['words_per_s']:.2f} ({r['words_per_s_with_startup'] / base['words_per_s_with_startup']:.2f}) "
                  f"| {roof} | {agree_text} |")
        if probe:
            rates = ", ".join(f"{k} {1e-9 * 2 * probe['rows'] * probe['shape'][0] * probe['shape'][1] / t:.1f}"
                              for k, t in probe["seconds_per_multiply"].items() if t)
            print(f"\n--int8's start-up check ({probe['probe_seconds'] * 1000:.0f} ms; one {probe['shape'][0]}x"
                  f"{probe['shape'][1]} layer, {probe['rows']} tokens; G(FL)OP/s: {rates}): {probe['why']}")
        a, d = parity["agreement"], parity["differing"]
        print(f"\nParity, pipeline given the project's words: {parity['identical']} of {parity['sentences']} "
              f"sentences with identical entities; differing: {d['windowed']} windowed, {d['bare piece']} at a "
              f"bare-piece word, {d['other']} other. Entities: {a['both']} both, {a['only_first']} fp32 only, "
              f"{a['only_second']} pipeline only ({100 * a['f1']:.1f}%).")


def print_training(results: dict) -> None:
    tokens = next(iter(results.values()))["train_tokens"]
    print("\n## Training (configs/news.yaml: 441 sentences; e5-small 2 epochs, the second measured; "
          "AraBERT shape 1 epoch)\n")
    print(f"first round: {' '.join(f'--{k} {v}' for k, v in LADDER[0][1].items())}\n")
    print("| model | settings | subword tokens/s (training) | of fp32 roofline | s/epoch (of which dev scoring) "
          "| wall, all epochs, start-up and saves | peak memory |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['tokens_per_s']:,.0f} | {100 * r['roofline_fraction']:.0f}% "
              f"| {r['seconds_per_epoch']:.1f} ({r['dev_seconds']:.1f}) | {r['wall_seconds']:.0f} s "
              f"| {r['peak_memory_gb']:.2f} GB |")
    print(f"\n({tokens:,} subwords an epoch with the e5-small tokenizer.)")


if __name__ == "__main__":
    from arabic_ner.errors import run_cli
    run_cli(main)
