"""Tagging at corpus scale: memory as the input grows, and words per second for each way to run.

    python benchmarks/scale.py MODEL memory [--articles 1000 100000] [--words 15] [--predict PATH]
    python benchmarks/scale.py MODEL engines [--articles 60]

memory: `predict.py MODEL corpus.jsonl -o out.jsonl` on the shared corpus repeated to N articles
(ids made unique), each cut to its first `--words` words (0: whole articles; at the default 15,
100,000 articles are 1.5 million words, about half an hour on 2 cores with the e5-small model);
prints the process's peak resident memory (`os.wait4`), its wall time and words per second.
`--predict` runs another checkout's predict.py on the same inputs, for a before/after.

engines: the first `--articles` whole articles through predict.py in one process (every core),
under torchrun with one process per core (one thread each) and through Ray
(`python -m arabic_ner ray-predict`, where Ray is installed); each a fresh process, start-up
included, and each output's entities compared with the first's.

Inputs: ../shared/corpora/saudinewsnet (absent: says so and stops). Nothing here is a test: it
measures and prints.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT.parent / "shared" / "corpora" / "saudinewsnet" / "security_articles.jsonl"
BIN = Path(sys.executable).parent


def write_corpus(path: Path, articles: int, words: int) -> int:
    """`articles` records cycling through the shared corpus, each cut to `words` words; total words."""
    from arabic_ner.words import running_words

    source = [json.loads(line) for line in NEWS.read_text(encoding="utf-8").splitlines()]
    total = 0
    with path.open("w", encoding="utf-8") as file:
        for i in range(articles):
            record = dict(source[i % len(source)])
            if words:
                record["text"] = " ".join(record["text"].split()[:words])
            record["id"] = f"{record['id']}-{i // len(source)}"
            total += running_words(record["text"])
            file.write(json.dumps(record, ensure_ascii=False) + "\n")
    return total


def run(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak resident MiB (the process itself) and stderr's last line of `command`."""
    started = time.time()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, cwd=ROOT, stderr=err, stdout=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.time() - started
        err.seek(0)
        lines = err.read().decode("utf-8", "replace").strip().splitlines()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(command)}\n" + "\n".join(lines[-20:]))
    return seconds, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def memory(args) -> None:
    predict = str(Path(args.predict).resolve()) if args.predict else str(ROOT / "predict.py")
    print(f"predict.py: {predict}; model {args.model}; articles cut to "
          f"{args.words or 'all their'} words; {os.cpu_count()} CPUs\n")
    print("| articles | words | wall s | words/s | peak memory MiB |\n|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.articles:
            corpus, out = Path(tmp) / f"corpus-{n}.jsonl", Path(tmp) / f"out-{n}.jsonl"
            words = write_corpus(corpus, n, args.words)
            seconds, peak, _ = run([sys.executable, predict, str(args.model), str(corpus), "-o", str(out),
                                    "--no-compile"])
            print(f"| {n:,} | {words:,} | {seconds:.0f} | {words / seconds:,.0f} | {peak:,.0f} |", flush=True)
            out.unlink()


def engines(args) -> None:
    n = args.articles[0]
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "corpus.jsonl"
        words = write_corpus(corpus, n, 0)
        print(f"{n} whole articles, {words:,} words; model {args.model}; {cores} CPUs\n")
        common = [str(args.model), str(corpus), "--no-compile"]
        rows = [("predict.py, one process", [sys.executable, "predict.py", *common, "-o", str(tmp / "one.jsonl")],
                 {}, tmp / "one.jsonl"),
                (f"torchrun, {cores} processes of 1 thread",
                 [str(BIN / "torchrun"), "--standalone", "--nproc_per_node", str(cores), "predict.py", *common,
                  "-o", str(tmp / "shards.jsonl")], {"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"},
                 tmp / "shards.jsonl")]
        try:
            import ray  # noqa: F401
            rows.append((f"Ray Data, {max(cores - 1, 1)} replica(s) of 1 CPU",
                         [sys.executable, "-m", "arabic_ner", "ray-predict", str(args.model), str(corpus), "-o",
                          str(tmp / "ray"), "--format", "jsonl"], {}, tmp / "ray"))
        except ImportError:
            print("Ray is not installed (pip install -e \".[ray]\"): no Ray row\n")
        print("| how | wall s, start-up included | words/s | same entities as the first |\n|---|---:|---:|---|")
        first = None
        for name, command, env, out in rows:
            seconds, _, _ = run(command, env)
            files = sorted(out.iterdir()) if out.is_dir() else [out]
            found = [[(e["start"], e["end"], e["label"]) for e in json.loads(line)["entities"]]
                     for f in files for line in f.read_text(encoding="utf-8").splitlines()]
            first = first if first is not None else found
            print(f"| {name} | {seconds:.0f} | {words / seconds:,.0f} | {'yes' if found == first else 'no'} |",
                  flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="a trained model folder")
    parser.add_argument("what", choices=["memory", "engines"])
    parser.add_argument("--articles", type=int, nargs="+", default=None,
                        help="article counts (memory; default 1000 100000) or the one count (engines; default 60)")
    parser.add_argument("--words", type=int, default=15, help="memory: words kept of each article (0: all)")
    parser.add_argument("--predict", help="memory: another predict.py to run (an older checkout's)")
    args = parser.parse_args()
    if not NEWS.exists():
        sys.exit(f"{NEWS} absent: this benchmark needs ../shared")
    args.articles = args.articles or ([1000, 100_000] if args.what == "memory" else [60])
    memory(args) if args.what == "memory" else engines(args)


if __name__ == "__main__":
    from arabic_ner.errors import run_cli
    run_cli(main)
