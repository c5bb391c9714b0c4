"""Run every command on bad inputs, as a user would, and write the table docs/bad-inputs.md.

    .venv/bin/python docs/bad_inputs.py [--model RUN/best] [--jobs 2] [--out docs/bad-inputs.md]

Builds the inputs in a temporary folder: unreadable files (empty, not UTF-8, UTF-16, binary, a
NUL byte), broken JSON, fields of the wrong type, bad spans and labels, malformed Label Studio,
doccano and CoNLL files, a 2,000,000-character line, missing files and folders, outputs that
would overwrite an input, damaged model folders, and bad config values. Predict and evaluate
need a trained model folder: without --model, a tiny one is trained first (the tests' tiny BERT,
a few seconds). Each command runs in its own process with OMP_NUM_THREADS=1.

A row fails when its run printed a Python traceback, ran past TIMEOUT seconds, or exited with a
status other than the expected ones (2 for a refused input; 1 where a tool reports problems or
skips an input). Exit status 1 when a row failed; the failures are listed on stderr. Not part of
the test suite: it takes a few minutes.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("OMP_NUM_THREADS", "1")  # before torch is imported, here and in every run

import conftest  # noqa: E402  the tests' tiny BERT, corpus and overrides
import test_model_folder as damage  # noqa: E402  the tests' ways of damaging a model folder

TIMEOUT = 60  # seconds per run; the slowest expected run (a tiny training) takes about 10
REFUSED, REPORTED, ANY_CLEAN = {2}, {1, 2}, {0, 1, 2}
PROGRESS_BAR = re.compile(r"\d+%\|")
# Inputs a tool may accept (exit 0): the converters know no tag set and no format needs unique ids;
# evaluation reads records, not ids; CoNLL files are often space-separated or carry more columns;
HARMLESS = {"convert to-conll": {"duplicate ids", "unknown label"},
            "convert to-labelstudio": {"duplicate ids", "unknown label"},
            "convert from-conll": {"space, not tab", "three columns"},
            "evaluate": {"duplicate ids"},
            "predict": {"empty .txt", ".txt in UTF-16"}}  # no words to tag; or UTF-16 read as such
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"}


@dataclass
class Run:
    tool: str
    case: str  # what is bad about the input, and where it is
    args: list[str]
    expect: set[int]
    stdin: bytes = b""
    code: int | None = None
    stderr: str = ""
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


class Folder:
    """The tests' tmp_path_factory, enough for the fixtures' functions."""

    def __init__(self, root: Path):
        self.root = root

    def mktemp(self, name: str) -> Path:
        path = self.root / name
        path.mkdir()
        return path


def jsonl(*records) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def corpus_files(records: list[dict]) -> dict[str, tuple[str, bytes]]:
    """Bad corpus JSONL files: case -> (file name, content)."""
    good, text = records[0], records[0]["text"]
    line = json.dumps(good, ensure_ascii=False)
    entity = good["entities"][0]
    return {
        "empty file": ("empty.jsonl", b""),
        "not UTF-8 (Windows-1256)": ("cp1256.jsonl", (line + "\n").encode("cp1256")),
        "UTF-16": ("utf16.jsonl", (line + "\n").encode("utf-16")),
        "binary": ("binary.jsonl", bytes(range(256)) * 8),
        "NUL byte in a line": ("nul.jsonl", line.replace(text[:3], text[:3] + "\x00").encode() + b"\n"),
        "broken JSON": ("broken.jsonl", line[:-5].encode() + b"\n"),
        "text a number": ("text-type.jsonl", jsonl({**good, "text": 5})),
        "entities a string": ("entities-type.jsonl", jsonl({**good, "entities": "none"})),
        "start a string": ("start-type.jsonl", jsonl({**good, "entities": [{**entity, "start": "0"}]})),
        "lone surrogate in id": ("surrogate.jsonl", line.replace('"s0"', '"s\\ud800"').encode() + b"\n"),
        "overlapping spans": ("overlap.jsonl", jsonl({**good, "entities": [
            entity, {"start": entity["start"] + 1, "end": entity["end"] + 3, "label": "CASUALTY"}]})),
        "span past the text": ("range.jsonl", jsonl({**good, "entities": [{**entity, "end": len(text) + 10}]})),
        "unknown label": ("label.jsonl", jsonl({**good, "entities": [{**entity, "label": "PERSON"}]})),
        "duplicate ids": ("dup.jsonl", jsonl(*records, {**records[1], "id": good["id"]})),
        "a 2,000,000-char line": ("long.jsonl", jsonl({"id": "long", "text": "داعش" * 500_000, "entities": []})),
    }


def conll_files() -> dict[str, tuple[str, bytes]]:
    return {
        "empty file": ("empty.tsv", b""),
        "not UTF-8 (Windows-1256)": ("cp1256.tsv", "داعش\tB-ARMED_GROUP\n".encode("cp1256")),
        "UTF-16": ("utf16.tsv", "داعش\tB-ARMED_GROUP\n".encode("utf-16")),
        "binary": ("binary.tsv", bytes(range(256)) * 8),
        "tag not IOB2": ("tag.tsv", "داعش\tX-ARMED_GROUP\n".encode()),
        "lower-case tag": ("lower.tsv", "داعش\tb-armed_group\n".encode()),
        "stray I- tag": ("stray.tsv", "قتل\tO\nداعش\tI-ARMED_GROUP\n".encode()),
        "space, not tab": ("space.tsv", "داعش B-ARMED_GROUP\n".encode()),
        "three columns": ("columns.tsv", "داعش\tNN\tB-ARMED_GROUP\n".encode()),
        "a 2,000,000-char token": ("long.tsv", ("داعش" * 500_000 + "\tO\n").encode()),
    }


def labelstudio_files() -> dict[str, tuple[str, bytes]]:
    def task(value: dict, text: object = "قتل داعش") -> bytes:  # an export of one task with one span
        return json.dumps([{"id": 1, "data": {"text": text}, "annotations": [{"result": [
            {"from_name": "label", "to_name": "text", "type": "labels", "value": value}]}]}]).encode()
    return {
        "empty file": ("empty.json", b""),
        "broken JSON": ("broken.json", b'[{"id": 1, "data": '),
        "an object, not a list": ("object.json", b'{"data": {"text": "x"}}'),
        "empty list": ("none.json", b"[]"),
        "task without data": ("nodata.json", json.dumps([{"id": 1, "annotations": []}]).encode()),
        "result without start": ("nostart.json", task({"end": 8, "labels": ["ARMED_GROUP"]})),
        "labels a string": ("labels.json", task({"start": 4, "end": 8, "labels": "ARMED_GROUP"})),
        "span past the text": ("range.json", task({"start": 4, "end": 99, "labels": ["ARMED_GROUP"]})),
        "text a number": ("text.json", task({"start": 0, "end": 1, "labels": ["ARMED_GROUP"]}, 5)),
    }


def doccano_files() -> dict[str, tuple[str, bytes]]:
    text = "قتل داعش"
    return {
        "empty file": ("empty.jsonl", b""),
        "broken JSON": ("broken.jsonl", b'{"text": "x", "label": [\n'),
        "no text": ("notext.jsonl", jsonl({"label": [[4, 8, "ARMED_GROUP"]]})),
        "label not a triple": ("pair.jsonl", jsonl({"text": text, "label": [[4, "ARMED_GROUP"]]})),
        "start after end": ("reversed.jsonl", jsonl({"text": text, "label": [[8, 4, "ARMED_GROUP"]]})),
        "offsets as strings": ("strings.jsonl", jsonl({"text": text, "label": [["4", "8", "ARMED_GROUP"]]})),
        "entities with other keys": ("keys.jsonl", jsonl({"text": text, "entities": [{"start": 4, "end": 8,
                                                                                       "label": "ARMED_GROUP"}]})),
        "label a string": ("string.jsonl", jsonl({"text": text, "label": "ARMED_GROUP"})),
    }


def article_files() -> dict[str, tuple[str, bytes]]:
    """Bad inputs to tag: .txt and .jsonl articles."""
    return {
        "empty .txt": ("empty.txt", b""),
        ".txt not UTF-8 (Windows-1256)": ("cp1256.txt", "قتل داعش".encode("cp1256")),
        ".txt in UTF-16": ("utf16.txt", "قتل داعش في بغداد".encode("utf-16")),
        "binary .txt": ("binary.txt", bytes(range(256)) * 8),
        ".txt with a NUL byte": ("nul.txt", "قتل\x00داعش".encode()),
        ".txt of a 2,000,000-char line": ("long.txt", ("داعش" * 500_000).encode()),
        ".jsonl broken JSON": ("broken.jsonl", b'{"text": "x\n'),
        ".jsonl text a number": ("text-type.jsonl", jsonl({"id": "a", "text": 5})),
        ".jsonl without text": ("notext.jsonl", jsonl({"id": "a", "body": "قتل داعش"})),
        ".jsonl lone surrogate in id": ("surrogate.jsonl", b'{"id": "a\\udc00", "text": "x"}\n'),
        "empty .jsonl": ("empty.jsonl", b""),
    }


MODEL_DAMAGE = ["weights cut at 1000 bytes", "weights cut in half", "weights missing", "weights of a 5-label head",
                "config.json labels edited", "config.json not JSON", "config.json missing",
                "tokenizer.json without added_tokens", "tokenizer.json not JSON", "tokenizer.json empty",
                "settings entity_types a number", "settings max_length a string", "settings a list"]
ENCODER_DAMAGE = ["weights cut in half", "tokenizer.json without added_tokens", "config.json not JSON",
                  "config.json hidden_size edited"]
CONFIG_VALUES = [("--train.lr", ".inf"), ("--train.lr", "nan"), ("--train.lr", "-1"), ("--run_name", ".."),
                 ("--run_name", ""), ("--train.seed", "-1"), ("--model.max_length", "100000"),
                 ("--model.stride", "8"), ("--train.epochs", "0"), ("--entity_types", "[]"),
                 ("--model.normalization", "nfkc"), ("--train.lrr", "1"), ("--train.batch_size", "two"),
                 ("--train.lr.x", "1"), ("--data.swap_mentions", "100000000")]


def write_inputs(folder: Path, files: dict[str, tuple[str, bytes]]) -> dict[str, Path]:
    folder.mkdir(parents=True)
    paths = {}
    for case, (name, content) in files.items():
        (folder / name).write_bytes(content)
        paths[case] = folder / name
    return paths


def damaged_copies(source: Path, table: list, names: list[str], folder: Path) -> dict[str, Path]:
    """A copy of `source` per case of the tests' `table` named in `names`, damaged that way."""
    harms = {case: harm for case, harm, _ in table}
    return {name: damage.damaged_copy(source, harms[name], folder / str(i)) for i, name in enumerate(names)}


def build_runs(tmp: Path, model: Path, tiny_bert: Path, corpus: Path) -> list[Run]:
    records = [json.loads(line) for line in (corpus / "train.jsonl").read_text(encoding="utf-8").splitlines()]
    bad_corpus = write_inputs(tmp / "bad-corpus", corpus_files(records))
    missing, a_folder = tmp / "no-such-file.jsonl", tmp / "bad-corpus"
    not_found = {"missing file": missing, "a folder given as a file": a_folder}
    good = corpus / "test.jsonl"
    (tmp / "out").mkdir()  # where the outputs go, but for the rows about output paths
    py = [sys.executable]
    runs: list[Run] = []

    def add(tool, case, args, expect, stdin=b""):
        runs.append(Run(tool, case, [str(a) for a in args], expect, stdin))

    def expected(tool: str, case: str, refused: set[int]) -> set[int]:
        if "2,000,000" in case:  # valid, only long: what matters is no crash and no hang
            return ANY_CLEAN
        return refused | {0} if case in HARMLESS.get(tool, ()) else refused

    for case, path in {**bad_corpus, **not_found}.items():
        add("validate", case, py + ["-m", "arabic_ner", "validate", path], expected("validate", case, REPORTED))
        for command, suffix in (("to-conll", ".tsv"), ("to-labelstudio", ".json")):
            add(f"convert {command}", case, py + ["-m", "arabic_ner", "convert", command, path,
                                                  tmp / "out" / f"{path.stem}{suffix}"],
                expected(f"convert {command}", case, REFUSED))
        add("split", case, py + ["-m", "arabic_ner", "split", path, "--out", tmp / "out" / f"split-{path.stem}"],
            REFUSED)  # every case here: even the long line, one record, is too few for five folds
        add("evaluate", case, py + ["eval/evaluate.py", model, path, "--out", tmp / "out" / f"eval-{path.stem}",
                                    "--bootstrap", "0"], expected("evaluate", case, REFUSED))
    for command, files in (("from-conll", conll_files()), ("from-labelstudio", labelstudio_files()),
                           ("from-doccano", doccano_files())):
        for case, path in {**write_inputs(tmp / command, files), "missing file": missing}.items():
            add(f"convert {command}", case, py + ["-m", "arabic_ner", "convert", command, path,
                                                  tmp / "out" / f"{command}-{path.stem}.jsonl"],
                expected(f"convert {command}", case, REFUSED))

    # outputs that would destroy an input or land nowhere
    add("convert to-conll", "output = input", py + ["-m", "arabic_ner", "convert", "to-conll", good, good], REFUSED)
    add("convert to-conll", "output in a missing folder",
        py + ["-m", "arabic_ner", "convert", "to-conll", good, tmp / "nowhere" / "x.tsv"], REFUSED)
    add("split", "--out is a file", py + ["-m", "arabic_ner", "split", good, "--out", good], REFUSED)
    alone = tmp / "split-here" / "test.jsonl"  # a copy: a split that wrongly went ahead would overwrite it
    alone.parent.mkdir()
    shutil.copy(good, alone)
    add("split", "default --out: its test.jsonl = input", py + ["-m", "arabic_ner", "split", alone, "--folds", "2"],
        REFUSED)
    add("evaluate", "--out is a file", py + ["eval/evaluate.py", model, good, "--out", good], REFUSED)
    # a copy of the model and of its run: a check that wrongly let these through would damage them
    run_copy = tmp / "run-copy"
    shutil.copytree(model, run_copy / model.name)
    for name in ("config.yaml", "metrics.jsonl"):  # what makes a run folder (not last/: hundreds of MB)
        shutil.copy(model.parent / name, run_copy / name)
    add("evaluate", "--out is a training run", py + ["eval/evaluate.py", run_copy / model.name, good, "--out",
                                                      run_copy], REFUSED)
    add("evaluate", "--out is the model folder", py + ["eval/evaluate.py", run_copy / model.name, good, "--out",
                                                        run_copy / model.name], REFUSED)
    scored = tmp / "scored" / "errors.jsonl"  # the data scored, named as one of the files --out writes
    scored.parent.mkdir()
    shutil.copy(good, scored)
    add("evaluate", "--out holds the data as errors.jsonl", py + ["eval/evaluate.py", model, scored, "--out",
                                                                   scored.parent], REFUSED)

    articles = write_inputs(tmp / "articles", article_files())
    (tmp / "no-txt").mkdir()
    (tmp / "no-txt" / "notes.md").write_text("قتل داعش", encoding="utf-8")
    (tmp / "broken-link").mkdir()
    (tmp / "broken-link" / "a.txt").write_text("قتل داعش", encoding="utf-8")
    (tmp / "broken-link" / "b.txt").symlink_to(tmp / "moved.txt")
    predict = py + ["predict.py", model]
    for case, path in {**articles, "folder with no .txt": tmp / "no-txt", "folder with a broken link":
                       tmp / "broken-link", "missing file": tmp / "nope.txt"}.items():
        add("predict", case, predict + [path], expected("predict", case, REPORTED))
    add("predict", "binary on stdin", predict + ["-"], REPORTED, stdin=bytes(range(256)) * 8)
    txt = articles["empty .txt"]
    add("predict", "-o = input", predict + [txt, "-o", txt], REFUSED)
    add("predict", "-o in a missing folder", predict + [txt, "-o", tmp / "nowhere" / "o.jsonl"], REFUSED)
    add("predict", "--html in a missing folder", predict + [txt, "--html", tmp / "nowhere" / "o.html"], REFUSED)
    add("predict", "-o a file of the model folder", py + ["predict.py", run_copy / model.name, txt, "-o",
                                                         run_copy / model.name / "config.json"], REFUSED)

    broken_models = {**damaged_copies(model, damage.TRAINED_DAMAGE, MODEL_DAMAGE, tmp / "models"),
                     "no such folder": tmp / "no-model", "an empty folder": tmp / "models" / "empty",
                     "a file, not a folder": good}
    (tmp / "models" / "empty").mkdir()
    for case, folder in broken_models.items():
        add("predict", f"model: {case}", py + ["predict.py", folder, "-"], REFUSED, stdin="قتل داعش".encode())
        add("evaluate", f"model: {case}", py + ["eval/evaluate.py", folder, good, "--out",
                                                tmp / "out" / f"eval-model-{len(runs)}"], REFUSED)

    def train(case, args, config="configs/quickstart.yaml", **values):
        out = tmp / "runs" / str(len(runs))  # its own folder: an accepted run must not meet another
        overrides = conftest.tiny_args(tiny_bert, corpus, out, **{"train.epochs": 1, **values})
        add("train", case, py + ["train.py", config, *overrides, *args], REFUSED)

    for key, value in CONFIG_VALUES:
        train(f"{key} {value!r}", [key, value])
    train("--train.lr without a value", ["--train.lr"])
    for case in ("empty file", "not UTF-8 (Windows-1256)", "broken JSON", "start a string", "unknown label",
                 "lone surrogate in id", "overlapping spans"):
        train(f"--data.train: {case}", [], **{"data.train": bad_corpus[case]})
    train("--data.train: missing file", [], **{"data.train": missing})
    train("--output_dir is a file", [], output_dir=good)
    for case, folder in damaged_copies(tiny_bert, damage.ENCODER_DAMAGE, ENCODER_DAMAGE, tmp / "encoders").items():
        train(f"encoder: {case}", [], **{"model.name_or_path": folder})
    configs = write_inputs(tmp / "configs", {
        "config a YAML list": ("list.yaml", b"- 1\n- 2\n"),
        "config not YAML": ("broken.yaml", b"train: {lr: [\n"),
        "config binary": ("binary.yaml", bytes(range(256)) * 8),
        "config not UTF-8": ("cp1256.yaml", "run_name: قتل\n".encode("cp1256")),
    })
    for case, path in {**configs, "config missing": tmp / "configs" / "nope.yaml"}.items():
        train(case, [], config=path)
    return runs


def execute(run: Run) -> Run:
    started = time.time()
    try:
        result = subprocess.run(run.args, cwd=ROOT, input=run.stdin, capture_output=True, timeout=TIMEOUT, env=ENV)
        run.code, run.stderr = result.returncode, result.stderr.decode("utf-8", "replace")
    except subprocess.TimeoutExpired as exc:
        run.stderr = (exc.stderr or b"").decode("utf-8", "replace")
        run.problems.append(f"ran past {TIMEOUT} s")
    run.seconds = time.time() - started
    if "Traceback (most recent call last)" in run.stderr:
        run.problems.append("traceback")
    if run.code is not None and run.code not in run.expect:
        run.problems.append(f"exit {run.code}, expected {' or '.join(map(str, sorted(run.expect)))}")
    return run


def first_line(run: Run, tmp: Path, width: int = 140) -> str:
    lines = [line.strip() for line in run.stderr.replace("\r", "\n").splitlines()
             if line.strip() and not PROGRESS_BAR.search(line)]
    if "traceback" in run.problems:  # its first line says nothing; its last names the exception
        text = "Traceback … " + lines[-1]
    else:
        text = lines[0] if lines else ""
    text = text.replace(str(tmp), "$TMP").replace(str(ROOT) + "/", "")
    return text if len(text) <= width else text[:width - 1] + "…"


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_table(runs: list[Run], tmp: Path, out: Path, seconds: float) -> None:
    failed = [r for r in runs if r.problems]
    lines = [
        "# Bad inputs",
        "",
        f"Generated by `.venv/bin/python docs/bad_inputs.py` on {datetime.date.today()} in {seconds:.0f} s: "
        f"{len(runs)} runs, **{len(failed)} failed**. Each row runs one command on one bad input as a user "
        f"would; a run that printed a Python traceback, ran past {TIMEOUT} s or exited with an unexpected "
        "status is listed as a failure (and the script exits 1). `$TMP` is its temporary folder.",
        "",
        "| tool | input | exit | expected | result | first line of stderr |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        result = "**FAIL: " + "; ".join(r.problems) + "**" if r.problems else "ok"
        code = "–" if r.code is None else str(r.code)
        lines.append(f"| {r.tool} | {cell(r.case)} | {code} | {'/'.join(map(str, sorted(r.expect)))} | {result} "
                     f"| {cell(first_line(r, tmp))} |")
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")


def train_tiny_model(tiny_bert: Path, corpus: Path, out: Path) -> Path:
    from arabic_ner.config import load_config
    from arabic_ner.training import train

    config = load_config(ROOT / "configs" / "arabert.yaml",
                         conftest.tiny_args(tiny_bert, corpus, out, **{"train.epochs": 3}))
    log = io.StringIO()
    try:
        with contextlib.redirect_stderr(log), contextlib.redirect_stdout(log):
            train(config)
    except BaseException:
        sys.stderr.write(log.getvalue())
        raise
    return config.run_dir / "best"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="a trained model folder (default: train a tiny one first)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bad-inputs.md")
    args = parser.parse_args()
    started = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="bad-inputs-"))
    try:
        fixtures = Folder(tmp)
        tiny_bert = conftest.tiny_bert.__wrapped__(fixtures)
        records = [conftest.make_record(i, text, spans) for i, (text, spans) in enumerate(conftest.SENTENCES)]
        corpus = conftest.corpus_dir.__wrapped__(fixtures, records)
        if args.model:
            model = args.model.resolve()
        else:
            print("training a tiny model to run predict and evaluate with", file=sys.stderr)
            model = train_tiny_model(tiny_bert, corpus, tmp / "tiny-run")
        runs = build_runs(tmp, model, tiny_bert, corpus)
        print(f"{len(runs)} runs, {args.jobs} at a time", file=sys.stderr)
        with ThreadPoolExecutor(args.jobs) as pool:
            for run in pool.map(execute, runs):
                if run.problems:
                    print(f"FAIL {run.tool} on {run.case}: {'; '.join(run.problems)}", file=sys.stderr)
        write_table(runs, tmp, args.out, time.time() - started)
        failed = [r for r in runs if r.problems]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {args.out}: {len(runs)} runs, {len(failed)} failed, in {time.time() - started:.0f} s",
          file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
