"""Shared fixtures: a tiny BERT and tokenizer built offline, and a small annotated corpus."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
# Two processes on the CPU, as on GPUs: `accelerate launch --cpu --num_processes 2` would start one
# process (its CPU launcher without MPI), so torchrun starts them, with ACCELERATE_USE_CPU set.
TWO_CPU_PROCESSES = [str(Path(sys.executable).with_name("torchrun")), "--standalone", "--nproc_per_node", "2"]

SENTENCES = [
    ("قتل تنظيم داعش خمسة جنود في بغداد", [("تنظيم داعش", "ARMED_GROUP"), ("خمسة جنود", "CASUALTY")]),
    ("اعلنت القوات الامنية اعتقال عنصرين من داعش", [("القوات الامنية", "SECURITY_UNIT"), ("داعش", "ARMED_GROUP")]),
    ("وقال جهاز مكافحة الارهاب ان الحشد الشعبي شارك", [("جهاز مكافحة الارهاب", "SECURITY_UNIT"), ("الحشد الشعبي", "SECURITY_UNIT")]),
    ("اصيب 12 مدنيا في هجوم لداعش على البصرة", [("12 مدنيا", "CASUALTY"), ("داعش", "ARMED_GROUP")]),
    ("وصل الوفد الى البصرة امس", []),
    ("قتلت الشرطة الاتحادية ثلاثة مسلحين من داعش", [("الشرطة الاتحادية", "SECURITY_UNIT"), ("ثلاثة مسلحين", "CASUALTY"), ("داعش", "ARMED_GROUP")]),
]


def make_record(i: int, text: str, spans: list[tuple[str, str]]) -> dict:
    entities, pos = [], 0
    for surface, label in spans:
        start = text.index(surface, pos)
        entities.append({"start": start, "end": start + len(surface), "label": label})
        pos = start + len(surface)
    return {"id": f"s{i}", "text": text, "entities": entities}


@pytest.fixture(scope="session")
def records() -> list[dict]:
    return [make_record(i, text, spans) for i, (text, spans) in enumerate(SENTENCES)]


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory, records) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for name in ("train", "dev", "test"):
        with (folder / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return folder


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    """A randomly initialised 2-layer BERT with a WordPiece vocabulary learnt from SENTENCES, the same
    in every test session: the vocabulary is kept in tiny-bert-vocab.txt (WordPieceTrainer with
    vocab_size 300 on SENTENCES three times and a line of quotes, digits and tatweel; the trainer
    breaks ties differently in each process) and the weights are drawn from a seed of their own. Both
    varied from one session to the next before, and with them what the tiny model learnt: a test of
    what it finds could fail one run in many."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = Tokenizer(models.WordPiece.from_file(str(Path(__file__).with_name("tiny-bert-vocab.txt")), unk_token="[UNK]"))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    fast.save_pretrained(folder)
    config = BertConfig(vocab_size=fast.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    with torch.random.fork_rng():  # not the global generator, which the tests run before have drawn from
        torch.manual_seed(0)
        BertModel(config).save_pretrained(folder)
    return folder


def run_here(script: str, *args: str, cwd: Path | None = None, input: str | None = None, timeout: int = 600):
    """`python SCRIPT ARGS...` (SCRIPT "-m": `python -m MODULE ARGS...`) run in this process as its
    `__main__`, with run_cli's exit status and `error:` line: what a subprocess returns, without the
    2-4 s each one spends importing torch again. Its stderr holds what a process's would: warnings
    (as Python's default filters show them, not pytest's record), log records and what C++ writes to
    file descriptor 2. For a command's checks and outputs; a stop by signal, several processes, the
    environment and the entry points keep their subprocesses."""
    import contextlib
    import io
    import logging
    import os
    import runpy
    import signal
    import subprocess
    import tempfile
    import warnings

    from arabic_ner.errors import STOP_SIGNALS

    def timed_out(signum, frame):
        raise TimeoutError(f"{script} {' '.join(args)}: still running after {timeout} s")

    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    # handlers bound to stderr when their library was imported (logging.lastResort's follows sys.stderr)
    handlers = [h for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
                for h in getattr(logger, "handlers", []) if isinstance(h, logging.StreamHandler)
                and not isinstance(getattr(type(h), "stream", None), property)
                and h.stream in (sys.stderr, sys.__stderr__)]
    streams = [h.stream for h in handlers]
    signals = {s: signal.getsignal(s) for s in (*STOP_SIGNALS, signal.SIGALRM)}
    saved = sys.argv, sys.stdin, sys.path[:], os.getcwd(), os.dup(2)
    status, finished = 0, False
    with tempfile.TemporaryFile() as fd2, warnings.catch_warnings():
        warnings.resetwarnings()  # Python's defaults
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", ImportWarning)
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("default", category=DeprecationWarning, module="__main__")
        warnings.showwarning = lambda message, category, filename, lineno, file=None, line=None: sys.stderr.write(
            warnings.formatwarning(message, category, filename, lineno, line))
        try:
            sys.argv = list(args) if script == "-m" else [script, *args]  # run_module names the module's file
            sys.stdin = io.TextIOWrapper(io.BytesIO((input or "").encode()), encoding="utf-8")
            os.chdir(cwd or ROOT)
            os.dup2(fd2.fileno(), 2)
            for handler in handlers:
                handler.setStream(stderr)
            signal.signal(signal.SIGALRM, timed_out)
            signal.alarm(timeout)
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                if script == "-m":
                    runpy.run_module(args[0], run_name="__main__", alter_sys=True)
                else:
                    runpy.run_path(str(ROOT / script), run_name="__main__")
            finished = True
        except SystemExit as exc:
            status, finished = exc.code if isinstance(exc.code, int) else int(exc.code is not None), True
        finally:
            signal.alarm(0)
            sys.argv, sys.stdin, sys.path[:] = saved[0], saved[1], saved[2]
            os.chdir(saved[3])
            os.dup2(saved[4], 2)
            os.close(saved[4])
            for handler, stream in zip(handlers, streams):
                handler.setStream(stream)
            for signum, handler in signals.items():
                signal.signal(signum, handler)
            fd2.seek(0)
            out, err = (stream.flush() or stream.buffer.getvalue().decode("utf-8") for stream in (stdout, stderr))
            err += fd2.read().decode("utf-8", errors="backslashreplace")
            if not finished:  # an exception, not an exit: what the command said goes with its traceback
                sys.stderr.write(err)
    if status in (128 + signal.SIGINT, 128 + signal.SIGTERM):  # a stop meant for the tests: they stop too
        signal.raise_signal(status - 128)
    return subprocess.CompletedProcess([script, *args], status, out, err)


def paragraph_corpus(path: Path, records: list[dict]) -> Path:
    """`records` written as one JSONL corpus to cross-validate, record i in paragraph i % 3 (three groups)."""
    path.write_text("".join(json.dumps({**r, "paragraph": i % 3}, ensure_ascii=False) + "\n"
                            for i, r in enumerate(records)), encoding="utf-8")
    return path


def tiny_args(tiny_bert, corpus_dir, out, splits: bool = True, **extra) -> list[str]:
    """Command-line overrides that point a config at the tiny BERT and the small corpus (its
    data.train, dev and test unless not `splits`: a cross-validation refuses them)."""
    args = {"run_name": "tiny", "output_dir": str(out), "model.name_or_path": str(tiny_bert),
            "model.normalization": "arabert_v02", "model.max_length": 16, "model.stride": 4,
            "data.train": str(corpus_dir / "train.jsonl"), "data.dev": str(corpus_dir / "dev.jsonl"),
            "data.test": str(corpus_dir / "test.jsonl"), "train.lr": "5e-3", "train.epochs": "12",
            "train.batch_size": "2",
            "train.freeze_embeddings": "false",  # the tiny BERT's embeddings are random, not pretrained
            "train.precision": "fp32",  # the same on every CPU ("auto" is bf16 on some); bf16: test_training_options
            "train.patience": "0", **extra}
    return [x for k, v in args.items() if splits or not k.startswith("data.") for x in (f"--{k}", str(v))]


def assert_replayed_exactly(whole, cut, epochs: int) -> None:
    """`cut` (stopped or crashed, then resumed) ended with the epochs' losses and the very weights of
    `whole`, a run of the same config never stopped."""
    import torch
    from safetensors.torch import load_file

    def losses(run):
        return [json.loads(line)["train_loss"] for line in (run.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert losses(cut) == losses(whole) and len(losses(whole)) == epochs
    for folder in ("last", "best"):
        a, b = (load_file(run.run_dir / folder / "model.safetensors") for run in (whole, cut))
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), folder
    # the average of the weights (train.ema_decay), which best/ holds from the epoch it was saved
    a, b = (torch.load(run.run_dir / "last" / "training_state.pt", weights_only=False)["average"] for run in (whole, cut))
    assert a["updates"] == b["updates"] and len(a["weights"]) == len(b["weights"])
    assert all(torch.equal(x, y) for x, y in zip(a["weights"], b["weights"]))


@pytest.fixture(scope="session")
def trained(tiny_bert, corpus_dir, tmp_path_factory):
    """configs/arabert.yaml pointed at a local BERT folder, as a user with a local AraBERT copy would."""
    from arabic_ner.config import load_config
    from arabic_ner.training import train

    out = tmp_path_factory.mktemp("runs")
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "arabert.yaml",
                         tiny_args(tiny_bert, corpus_dir, out))
    return config, train(config)


def read_articles(inputs: list[str], text_field: str = "text") -> tuple[list, list[tuple[str, str]]]:
    """Every article of `inputs` as predict.py reads them, and the (where, why) of each skip; nothing
    at all to tag is predict.py's error."""
    from arabic_ner.articles import Articles, Skips
    from arabic_ner.errors import UserError

    skips = Skips()
    articles = list(Articles(inputs, text_field).read(skips))
    for where, why in skips.shown:  # a skip is said in one short line, like an error
        assert "\n" not in why and "\r" not in why and len(where) + len(why) < 500, why[:1000]
    if not articles:
        raise UserError(f"nothing to tag: {skips.summary()}")
    return articles, skips.shown


class Cleared(Exception):
    """Raised by `refused_while_clearing` in place of the clearing it stands in for."""


def refused_while_clearing(run_dir: Path) -> None:
    """Stands in for run_folder.clear_run_dir: a training of `run_dir` that starts just as an
    --overwrite clears it must be refused (it would lose its work, or the clearing would fail)."""
    from arabic_ner.errors import UserError
    from arabic_ner.run_folder import run_lock
    with pytest.raises(UserError, match=rf"{run_dir.name}: another training runs in it now"):
        with run_lock(run_dir):
            pass
    raise Cleared
