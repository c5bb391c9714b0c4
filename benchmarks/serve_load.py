"""Load on the model server: N requests from C concurrent clients, one sentence or one article each.

    python benchmarks/serve_load.py MODEL [--requests 1000] [--clients 8] [--kind sentence article]

Starts `python -m arabic_ner serve MODEL` on a free local port, waits for /health, sends the
requests (`POST /predict {"texts": [text]}`, texts cycling through the SaudiNewsNet articles in
../shared, or the sample article of data/sample when it is absent), and prints for each kind:
requests answered, failed (any status but 200, or no answer), requests per second and the p50
and p99 latency. Every answer is also checked against the same text tagged alone, once per distinct
text: concurrent batching must not change results. Nothing here is a test: it measures and prints.
"""
from __future__ import annotations

import argparse
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEWS = ROOT.parent / "shared" / "corpora" / "saudinewsnet" / "security_articles.jsonl"
sys.path.insert(0, str(ROOT))


def texts(kind: str, n: int) -> list[str]:
    """`n` distinct texts at most: whole articles, or their sentences."""
    from arabic_ner.sentences import split_sentences

    if NEWS.exists():
        articles = [json.loads(line)["text"] for line in NEWS.read_text(encoding="utf-8").splitlines()[:200]]
    else:
        print(f"{NEWS} absent: using data/sample/sample.txt", file=sys.stderr)
        articles = [(ROOT / "data" / "sample" / "sample.txt").read_text(encoding="utf-8")]
    if kind == "article":
        return articles[:n]
    return [a[s:e] for a in articles for s, e in split_sentences(a)][:n]


def post(url: str, text: str) -> tuple[float, int, list | None]:
    body = json.dumps({"texts": [text]}, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            entities = json.loads(response.read())["entities"][0]
            return time.perf_counter() - start, response.status, entities
    except urllib.error.HTTPError as exc:
        return time.perf_counter() - start, exc.code, None
    except OSError:
        return time.perf_counter() - start, 0, None


def key(entities: list[dict]) -> list[tuple]:
    return [(e["start"], e["end"], e["label"]) for e in entities]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--kind", nargs="+", default=["sentence", "article"], choices=["sentence", "article"])
    args = parser.parse_args()
    from bench import check_counts

    from arabic_ner.errors import UserError
    from arabic_ner.words import running_words
    check_counts(requests=args.requests, clients=args.clients)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    server = subprocess.Popen([sys.executable, "-m", "arabic_ner", "serve", str(args.model), "--port", str(port)],
                              cwd=ROOT, stderr=log)  # a file, not a pipe: a full pipe would stall the server
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            if server.poll() is not None:  # it could not start (a wrong model folder): its own one line
                log.seek(0)
                said = log.read().decode("utf-8", "replace").strip().splitlines()
                raise UserError(f"the server stopped at start-up ({said[-1] if said else 'nothing said'})")
            try:
                urllib.request.urlopen(base + "/health", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise UserError(f"the server did not answer {base}/health in 2 minutes")
        for kind in args.kind:
            pool_texts = texts(kind, 100)
            alone = {t: post(base + "/predict", t)[2] for t in pool_texts}  # each text tagged by itself
            jobs = [pool_texts[i % len(pool_texts)] for i in range(args.requests)]
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.clients) as pool:
                answers = list(pool.map(lambda t: post(base + "/predict", t), jobs))
            wall = time.perf_counter() - start
            ok = [a for a in answers if a[1] == 200]
            differ = sum(1 for t, a in zip(jobs, answers) if a[1] == 200 and key(a[2]) != key(alone[t]))
            latencies = sorted(a[0] for a in ok)
            p = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies else None
            words = statistics.mean(map(running_words, jobs))
            print(f"{kind} ({words:.0f} words on average): {len(answers)} requests from {args.clients} clients in "
                  f"{wall:.1f} s: {len(ok)} answered, {len(answers) - len(ok)} failed, {differ} differing from the "
                  f"text tagged alone; {len(ok) / wall:.1f} requests/s; latency p50 {p(0.5):.0f} ms, "
                  f"p99 {p(0.99):.0f} ms" if latencies else f"{kind}: no request answered")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    from arabic_ner.errors import run_cli
    run_cli(main)
