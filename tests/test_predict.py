"""Prediction on raw articles: exact offsets on hard text, whole long articles, outputs."""
import json
import os
import re
import subprocess
import sys
import types
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from conftest import ROOT, SHARED, TWO_CPU_PROCESSES, run_here

from arabic_ner import inference
from arabic_ner import int8 as int8_module
from arabic_ner import predictor as predictor_module
from arabic_ner.compiled import worth_compiling
from arabic_ner.errors import UserError
from arabic_ner.int8 import int8_layers
from arabic_ner.predictor import Predictor
from arabic_ner.windows import Window
from arabic_ner.words import word_spans

HARD = ("قُتِلَ تنظيـــم داعش ٥ جنود 😀 في\u200cبغداد. اعلنت القوات الامنية (ISIS) اعتقال عنصرين من داعش!\n\n"
        "\ufeffوقال جهاز مكافحة الارهاب ان الحشد الشعبي شارك؟ نعم؛ 12 مدنيا")


@pytest.fixture(scope="module")
def predictor(trained):
    config, _ = trained
    return Predictor.from_folder(config.run_dir / "best", batch_size=4)


def test_offsets_are_exact_on_hard_text(predictor):
    entities, = predictor.predict([HARD])
    assert entities
    for e in entities:
        assert HARD[e["start"]:e["end"]] == e["text"] and e["text"] == e["text"].strip()
        assert 0 < e["score"] <= 1


@pytest.mark.parametrize("text", ["", "   \n\n  ", "\u200c"])
def test_empty_articles_have_no_entities(predictor, text):
    assert predictor.predict([text]) == [[]]


def test_long_article_every_word_tagged_and_chunks_agree(predictor, monkeypatch):
    sentence = "قتلت الشرطة الاتحادية ثلاثة مسلحين من داعش " * 30  # one sentence, far past the window
    article = (sentence.strip() + ".\n") * 3
    whole, = predictor.predict([article])
    tagged_words = set()
    for s, e in [(e["start"], e["end"]) for e in whole]:
        tagged_words |= {span for span in word_spans(article) if s <= span[0] and span[1] <= e}
    assert len(tagged_words) > 90  # the memorised entity words are found all along the article
    monkeypatch.setattr(predictor_module, "CHUNK_SENTENCES", 1)
    assert predictor.predict(["", article, "داعش"]) [1] == whole


def test_int8_agrees_with_fp32(trained):
    config, _ = trained
    fp32 = Predictor.from_folder(config.run_dir / "best").predict([HARD])
    int8 = Predictor.from_folder(config.run_dir / "best", int8=True, force_int8=True).predict([HARD])
    keys = lambda ents: [(e["start"], e["end"], e["label"]) for e in ents[0]]
    assert len(set(keys(fp32)) & set(keys(int8))) >= 0.8 * len(keys(fp32))


@pytest.mark.parametrize("int8_speed, force, quantized", [(2.0, False, True), (0.5, False, False), (0.5, True, True)])
def test_int8_where_the_start_up_probe_finds_it_faster(trained, monkeypatch, capsys, int8_speed, force, quantized):
    monkeypatch.setattr(int8_module, "probe", lambda *shape: {"fp32": 1.0, "int_mm": None, "qlinear": 1 / int8_speed})
    config, _ = trained
    predictor = Predictor.from_folder(config.run_dir / "best", int8=True, force_int8=force)
    assert bool(int8_layers(predictor.model)) == quantized
    said = capsys.readouterr().err
    assert said.count("\n") == 1 and ("tagging in fp32 (--int8 --force insists)" in said) == (not quantized)
    assert ("int8 kernel qlinear" in said) == quantized


@pytest.mark.parametrize("main_choice", ["qlinear", None])
def test_int8_choice_is_the_main_process_s_under_several(trained, monkeypatch, capsys, main_choice):
    # This process's probe says int_mm; the main process's (broadcast) decides.
    monkeypatch.setattr(int8_module, "probe", lambda *shape: {"fp32": 1.0, "int_mm": 0.5, "qlinear": None})
    monkeypatch.setattr(predictor_module, "broadcast_object_list",
                        lambda objects, from_process: objects.__setitem__(slice(None), [main_choice, "main's reason"]))
    config, _ = trained
    second = types.SimpleNamespace(num_processes=2, is_main_process=False)
    predictor = Predictor.from_folder(config.run_dir / "best", int8=True, accelerator=second)
    assert {layer.kernel for layer in int8_layers(predictor.model)} == ({main_choice} if main_choice else set())
    assert capsys.readouterr().err == ""  # the main process says why, once


def test_compiled_matches_eager_and_compiles_once(trained):
    import torch._dynamo
    config, _ = trained
    eager = Predictor.from_folder(config.run_dir / "best", batch_size=4)
    compiled = Predictor.from_folder(config.run_dir / "best", batch_size=4, compile=True)
    texts = [HARD, "داعش", HARD + " " + HARD]  # batches of 4 windows, of 1, and of new lengths
    with torch._dynamo.config.patch(error_on_recompile=True):
        found = [compiled.predict([t]) for t in texts]
    for ours, reference in zip(found, [eager.predict([t]) for t in texts]):
        # scores are rounded to 4 places: a difference far below 1e-4 can round to 1e-4, which float
        # subtraction puts a hair above abs=1e-4 (0.3128 against 0.3127 failed once in CI)
        assert [{**e, "score": pytest.approx(e["score"], abs=1.5e-4)} for e in reference[0]] == ours[0]


@pytest.mark.parametrize("words, device, int8, compile", [
    (400_000, "cpu", False, True),
    (399_999, "cpu", False, False),  # the ~30 s of compiling would not be repaid
    (10**7, "cpu", True, False),  # an int8 model compiled was not faster
    (10**7, "cuda", False, False),  # not measured on a GPU
    (10**7, "cpu:0", False, True),
])
def test_worth_compiling(words, device, int8, compile):
    assert worth_compiling(words, device, int8) == compile


@pytest.mark.parametrize("fallback", [True, False])
def test_compile_failure_falls_back_or_is_one_line(trained, monkeypatch, capsys, fallback):
    def broken(*args, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\nmore detail")
    monkeypatch.setattr(predictor_module, "CompiledTagger", broken)
    config, _ = trained
    if fallback:
        predictor = Predictor.from_folder(config.run_dir / "best", compile=True, warn_if_compile_fails=True)
        assert predictor.predict(["داعش"]) is not None
        assert capsys.readouterr().err == ("warning: torch.compile failed (InvalidCxxCompiler: No working C++ "
                                           "compiler found); tagging without it\n")
    else:
        with pytest.raises(UserError, match=r"^--compile: torch.compile failed \(InvalidCxxCompiler: No working"):
            Predictor.from_folder(config.run_dir / "best", compile=True)


@pytest.mark.parametrize("margin, same_as_fp32", [(1.01, True), (0.0, False)])
def test_int8_close_calls_are_rechecked_in_fp32(trained, margin, same_as_fp32):
    # Every word's top two tags are within 1.01 of each other: every window is re-run in fp32.
    config, _ = trained
    fp32 = Predictor.from_folder(config.run_dir / "best").predict([HARD])
    int8 = Predictor.from_folder(config.run_dir / "best", int8=True, force_int8=True)
    int8.recheck_margin = margin
    assert (int8.predict([HARD]) == fp32) == same_as_fp32


@pytest.mark.parametrize("probs, heads, close", [
    ([[0.5, 0.45, 0.05]], [True], True),
    ([[0.5, 0.45, 0.05]], [False], False),  # not a word's first subword: its tag is never read
    ([[0.9, 0.05, 0.05], [0.6, 0.1, 0.3]], [True, True], False),
    ([[0.9, 0.05, 0.05], [0.35, 0.3, 0.35]], [True, True], True),
    ([[0.9, 0.05, 0.05], [0.35, 0.3, 0.35]], [True, False], False),
])
def test_close_call(probs, heads, close):
    window = Window(sentence=0, first=0, input_ids=[0] * len(heads), word_ids=[0] * len(heads), heads=heads,
                    labels=None)
    assert inference.close_call(window, np.array(probs), predictor_module.RECHECK_MARGIN) == close


class _Checker(HTMLParser):
    VOID = {"meta", "br", "img", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.marks = [], []

    def handle_starttag(self, tag, attrs):
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "mark":
            self.marks.append(dict(attrs)["class"])

    def handle_endtag(self, tag):
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def test_cli_outputs(trained, tmp_path):
    config, _ = trained
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text(HARD, encoding="utf-8")
    (tmp_path / "docs" / "sub").mkdir()
    (tmp_path / "docs" / "sub" / "b.txt").write_text("قتل تنظيم داعش خمسة جنود", encoding="utf-8")
    news = tmp_path / "news.jsonl"
    news.write_text(json.dumps({"id": "n1", "source": "x", "body": "اعلنت القوات الامنية"}, ensure_ascii=False) + "\n")
    out = tmp_path / "out.jsonl"
    result = subprocess.run(
        [sys.executable, "predict.py", str(config.run_dir / "best"), str(tmp_path / "docs"), str(news), "-",
         "--text-field", "body", "-o", str(out), "--html", str(tmp_path / "view.html"),
         "--conll", str(tmp_path / "tags.tsv"), "--labelstudio", str(tmp_path / "ls.json")],
        cwd=ROOT, input="داعش", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [str(tmp_path / "docs" / "a.txt"), str(tmp_path / "docs" / "sub" / "b.txt"),
                                       "n1", "stdin"]
    assert rows[2]["source"] == "x" and "body" not in rows[2]
    texts = [HARD, "قتل تنظيم داعش خمسة جنود", "اعلنت القوات الامنية", "داعش"]
    for row, text in zip(rows, texts):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in row["entities"])
    tasks = json.loads((tmp_path / "ls.json").read_text(encoding="utf-8"))
    assert tasks[0]["data"]["text"] == HARD and "predictions" in tasks[0]
    assert (tmp_path / "tags.tsv").read_text(encoding="utf-8").count("\n\n") == 3
    page = (tmp_path / "view.html").read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(page)
    assert not checker.stack and checker.marks and 'dir="rtl"' in page
    assert not list(tmp_path.glob("*.tmp"))


def test_parquet_in_parquet_out_and_a_bad_record_skipped(trained, tmp_path, capsys):
    """Through the plain function predict.py's command line calls (`tagging.predict`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from arabic_ner.tagging import PredictJob, predict

    config, _ = trained
    rows = [{"id": "a", "text": HARD, "date": None}, {"id": "b", "text": None, "date": "2015-07-21"},
            {"id": "c", "text": "قتل تنظيم داعش خمسة جنود", "date": "2015-07-22"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "in.parquet")
    best, given = config.run_dir / "best", [str(tmp_path / "in.parquet")]
    assert predict(PredictJob(best, given, output=tmp_path / "out.parquet", chunk_words=5)) == 1
    assert f"skipped {tmp_path / 'in.parquet'}:row 2: no string field 'text'" in capsys.readouterr().err
    assert predict(PredictJob(str(best), given, output=str(tmp_path / "out.jsonl"))) == 1  # a notebook's strings
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["id", "date", "entities"]
    assert table.to_pylist() == [json.loads(line) for line in (tmp_path / "out.jsonl").read_text("utf-8").splitlines()]
    assert [r["id"] for r in table.to_pylist()] == ["a", "c"] and table.to_pylist()[0]["entities"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet", "out.jsonl", "out.parquet"]


def test_cli_errors(trained, tmp_path):
    config, _ = trained
    result = run_here("predict.py", str(tmp_path / "nope"), "x.txt")
    assert result.returncode == 2 and "no such model folder" in result.stderr
    result = run_here("predict.py", str(config.run_dir / "best" / "model.safetensors"),
                      "x.txt")  # was "no such model folder"
    assert result.returncode == 2 and result.stderr.endswith("model.safetensors: a file, not a model folder\n")
    result = run_here("predict.py", str(config.run_dir / "best"), str(tmp_path / "missing.txt"))
    assert result.returncode == 2 and "missing.txt: no such file or folder" in result.stderr
    result = run_here("predict.py", str(config.run_dir / "best"), "-", "--device", "gpu0", input="داعش")
    assert result.returncode == 2 and "--device gpu0: not a device name" in result.stderr
    result = run_here("predict.py", str(config.run_dir / "best"), "-", "--int8", "--device", "cpu:0", input="داعش")
    assert result.returncode == 0, result.stderr  # cpu:0 is the CPU too
    result = run_here("predict.py", str(config.run_dir / "best"), "-", "--force", input="داعش")
    assert result.returncode == 2 and result.stderr.startswith("error: --force goes with --int8")
    article = tmp_path / "a.txt"
    article.write_text("داعش", encoding="utf-8")
    for output, message in ((article, "is also an input"), (tmp_path / "no" / "o.jsonl", "no such folder")):
        result = run_here("predict.py", str(config.run_dir / "best"), str(article), "-o", str(output))
        assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr
    assert article.read_text(encoding="utf-8") == "داعش"


@pytest.mark.parametrize("requested, int8, expected", [
    (None, False, "cuda" if torch.cuda.is_available() else "cpu"),
    (None, True, "cpu"),  # int8 kernels are CPU-only, even where a GPU is present
    ("cpu:0", True, "cpu:0"),
    ("gpu0", False, "--device gpu0: not a device name"),
    ("mps", False, "--device mps: this project runs on cpu or cuda, not mps"),  # a traceback at the first text
    ("meta", False, "--device meta: this project runs on cpu or cuda, not meta"),
    ("cuda", True, "--int8 runs on the CPU only" if torch.cuda.is_available() else "--device cuda: no CUDA device here"),
] + ([] if torch.cuda.is_available() else [("cuda:1", False, "--device cuda:1: no CUDA device here")]))
def test_choose_device(requested, int8, expected):
    from arabic_ner.device import choose_device

    if expected.startswith("--"):
        with pytest.raises(UserError, match=re.escape(expected)):
            choose_device(requested, int8)
    else:
        assert choose_device(requested, int8) == expected


def test_evaluate_takes_device(trained, corpus_dir, tmp_path):
    config, _ = trained
    result = run_here("eval/evaluate.py", str(config.run_dir / "best"), str(corpus_dir / "test.jsonl"), "--device",
                      "cpu", "--out", str(tmp_path / "e"))
    assert result.returncode == 0, result.stderr[-2000:]
    result = run_here("eval/evaluate.py", str(config.run_dir / "best"), str(corpus_dir / "test.jsonl"), "--device",
                      "gpu0")
    assert result.returncode == 2 and result.stderr == "error: --device gpu0: not a device name (cpu, cuda, cuda:1, ...)\n"


@pytest.mark.parametrize("where, message", [
    ("data", "--out (errors.jsonl) {out}/errors.jsonl: is also an input; writing it would destroy the input"),
    ("run", "--out {out}: is a training run or a model folder, whose files it would replace; name another folder"),
    ("best", "--out {out}: is a training run or a model folder, whose files it would replace; name another folder"),
    ("link", "--out {out}: is a training run or a model folder, whose files it would replace; name another folder"),
])
def test_evaluate_never_writes_over_its_data_or_a_run(trained, corpus_dir, tmp_path, where, message):
    """evaluate.py --out writes metrics.json, report.md, errors.jsonl and errors.md: into a run or
    model folder, or over the data being scored, they would replace what is there."""
    config, _ = trained
    data = tmp_path / "errors.jsonl"
    data.write_bytes((corpus_dir / "test.jsonl").read_bytes())
    out = {"data": tmp_path, "run": config.run_dir, "best": config.run_dir / "best", "link": tmp_path / "link"}[where]
    if where == "link":  # a link to the run folder is the run folder
        out.symlink_to(config.run_dir, target_is_directory=True)
    before = {p: p.read_bytes() for p in [data, *out.glob("*.json*")]}
    result = run_here("eval/evaluate.py", str(config.run_dir / "best"), str(data), "--out", str(out))
    assert result.returncode == 2 and result.stderr == f"error: {message.format(out=out)}\n"
    assert {p: p.read_bytes() for p in before} == before


def test_predict_never_writes_over_its_model(trained, tmp_path):
    config, _ = trained
    best = config.run_dir / "best"
    (tmp_path / "a.txt").write_text("هاجم داعش القوات الأمنية", encoding="utf-8")
    before = (best / "config.json").read_bytes()
    result = run_here("predict.py", str(best), str(tmp_path / "a.txt"), "-o", str(best / "config.json"))
    assert result.returncode == 2 and "would replace a file of the model folder" in result.stderr
    assert (best / "config.json").read_bytes() == before


def test_real_articles_offsets(predictor):
    path = SHARED / "corpora" / "saudinewsnet" / "security_articles.jsonl"
    if not path.exists():
        pytest.skip(f"{path} absent: the real-article run needs ../shared")
    texts = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines()[:40]]
    for text, entities in zip(texts, predictor.predict(texts)):
        assert all(text[e["start"]:e["end"]] == e["text"] for e in entities)


@pytest.mark.parametrize("chunk_words, bad_record", [
    (30, False),  # two chunks: the first process tags articles 0-1, the second 2-3
    # one chunk: the second process has none; a bad record: exit 1, the output still written (slow: the
    # default suite stays under 10 minutes; make test-slow and CI run it)
    pytest.param(20_000, True, marks=pytest.mark.slow),
])
def test_two_processes_write_shards_merged_to_the_one_process_bytes(trained, tmp_path, chunk_words, bad_record):
    config, _ = trained
    docs = tmp_path / "docs"
    docs.mkdir()
    texts = [HARD, "قتل تنظيم داعش خمسة جنود", "", "اعلنت القوات الامنية اعتقال عنصرين من داعش. " * 20]
    for i, text in enumerate(texts):
        (docs / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "more.jsonl").write_text('{"text": "داعش"}\n{"text": broken\n' if bad_record else '{"text": "داعش"}\n',
                                         encoding="utf-8")
    single, double = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    args = ["predict.py", str(config.run_dir / "best"), str(docs), str(tmp_path / "more.jsonl"), "--batch-size", "2",
            "--chunk-words", str(chunk_words)]
    assert subprocess.run([sys.executable, *args, "-o", str(single)], cwd=ROOT).returncode == int(bad_record)
    result = subprocess.run(TWO_CPU_PROCESSES + [*args, "-o", str(double)], cwd=ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "ACCELERATE_USE_CPU": "true"})
    assert result.returncode == int(bad_record), result.stderr[-3000:]
    assert result.stderr.count("tagged 5 articles") == 1 and "on 2 processes" in result.stderr
    assert result.stderr.count("more.jsonl:2: not valid JSON") == int(bad_record)  # said once, by the main process
    assert double.read_bytes() == single.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "more.jsonl", "one.jsonl", "two.jsonl"]  # no shard
