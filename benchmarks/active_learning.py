"""Does choosing sentences by the model's sureness pay, and by which measure? Learning curves on
the news corpus, simulated.

    python benchmarks/active_learning.py CONFIG [--start 50] [--step 50] [--rounds 4] [--seeds 3]
                                         [--folds 0 1 2] [--strategies random margin entropy] [--updates 200]
                                         [--dotted.key value ...]

The news corpus (data/news/news.jsonl) is cut into 5 folds of whole stories, as cross-validation
cuts it (eval/crossval.py --group-by story). Seed i tests on fold `--folds[i]` (cycling through
them), so that the curves are not one fold's: the other four folds are the pool of "unlabelled"
sentences whose gold labels are revealed when a sentence is chosen. For each seed, every strategy
starts from the same `--start` sentences drawn at random from the pool, and the same model
trained on them; each round trains a fresh model
(CONFIG, e.g. configs/news.yaml) on the sentences chosen so far, scores it on the test fold
(character-exact strict F1), and adds `--step` sentences: at random, or by
`arabic_ner.select.choose` on the model's sureness by `margin` or by `entropy`
(predictor.SURENESS; least sure first, at most 2 an article, no retold sentence twice), as
`python -m arabic_ner select --by` chooses them. Prints F1 at each round for each strategy (with
its mean number of sentences: a batch may fall short of `--step`), mean ± standard deviation over
the seeds, then each strategy's gain over random selection paired within a seed (same fold, same
start, same round), and writes every run to `--out` (default
/tmp/active_learning.jsonl). Each run trains for as many epochs as make about `--updates`
optimizer updates and keeps its last epoch, with no dev data to select on, so that the strategies
differ only by the sentences they chose (and no run spends half its time scoring dev): 50
sentences for configs/news.yaml's 12 epochs are 84 updates, after which the model still tags
nothing (test F1 0.000). A run of 300 updates of configs/news.yaml takes about 3 minutes on 2 CPU
cores in bf16 (README's table, 21 runs: 62 minutes); a GPU makes it minutes. Nothing here is a
test: it measures and prints.
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import check_counts  # noqa: E402

from arabic_ner.config import load_config  # noqa: E402
from arabic_ner.corpus import jsonl_text, read_jsonl, write_jsonl  # noqa: E402
from arabic_ner.errors import UserError, run_cli  # noqa: E402
from arabic_ner.files import check_output_files  # noqa: E402
from arabic_ner.select import choose  # noqa: E402
from arabic_ner.split import assign_groups, members  # noqa: E402
from arabic_ner.training import train  # noqa: E402

FOLDS = 5
SPLIT_SEED = 13  # crossval.py's: the same folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", help="training config, e.g. configs/news.yaml")
    parser.add_argument("--start", type=int, default=50)
    parser.add_argument("--step", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="sizes scored: start, start+step, ... (rounds of them)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2], choices=range(FOLDS),
                        help="seed i tests on fold folds[i mod len(folds)]; the other folds are the pool")
    parser.add_argument("--updates", type=int, default=200,
                        help="optimizer updates a run trains for, about: more epochs on fewer sentences")
    parser.add_argument("--strategies", nargs="+", default=["random", "margin", "entropy"],
                        choices=["random", "margin", "entropy"])
    parser.add_argument("--out", type=Path, default=Path("/tmp/active_learning.jsonl"))
    args, overrides = parser.parse_known_args()
    config = load_config(args.config, overrides)
    records = read_jsonl(ROOT / "data" / "news" / "news.jsonl", config.entity_types)
    bins = assign_groups(records, "story", [1 / FOLDS] * FOLDS, seed=SPLIT_SEED)
    folds = [members(records, "story", keys) for keys in bins]
    # checked before --out is rewritten: a bad value must not cost the results of before
    check_counts(step=args.step, rounds=args.rounds, seeds=args.seeds, updates=args.updates)
    smallest = min(len(records) - len(folds[fold]) for fold in args.folds)
    if not 1 <= args.start <= smallest:
        raise UserError(f"--start {args.start}: must be 1-{smallest} (the smallest pool of --folds)")
    check_output_files({"--out": args.out})

    from arabic_ner.predictor import Predictor

    work = Path(tempfile.mkdtemp(prefix="al-"))
    pool: list[dict] = []  # the seed's: the folds it does not test on
    strategies = list(dict.fromkeys(args.strategies))
    # strategy -> round -> seed -> (sentences, test F1): a batch may fall short of --step (at most 2
    # sentences an article), so rounds, not sentence counts, pair a strategy's run with random's
    curves: dict[str, dict[int, dict[int, tuple[int, float]]]] = {s: {} for s in strategies}

    def trained(name: str, chosen: list[int], seed: int) -> tuple[Path, float, int]:
        write_jsonl(work / f"{name}.jsonl", [pool[i] for i in chosen])
        batches = math.ceil(len(chosen) / (config.train.batch_size * config.train.grad_accum))  # updates an epoch, about (a long sentence is two windows)
        run = replace(config, run_name=name, output_dir=str(work),
                      data=replace(config.data, train=[str(work / f"{name}.jsonl")], dev=[],
                                   test=[str(work / "test.jsonl")]),
                      train=replace(config.train, seed=config.train.seed + seed,
                                    epochs=math.ceil(args.updates / batches)))
        summary = train(run, overwrite=True)
        print(f"{name}: test F1 {summary['test']['char']['f1']:.4f}", file=sys.stderr)
        return run.run_dir, summary["test"]["char"]["f1"], summary["best_epoch"]

    def next_batch(strategy: str, run_dir: Path, chosen: list[int], rng: random.Random) -> list[int]:
        rest = [i for i in range(len(pool)) if i not in set(chosen)]
        if strategy == "random":
            return rng.sample(rest, min(args.step, len(rest)))
        predictor = Predictor.from_folder(run_dir / "best")
        sureness = [s for _, s in predictor.predict_iter((pool[i]["text"] for i in rest), sureness=strategy)]
        return [rest[k] for k in choose([pool[i] for i in rest], sureness, args.step, per_article=2)]

    try:
        with args.out.open("w", encoding="utf-8") as log:
            def note(strategy: str, seed: int, r: int, n: int, f1: float, best_epoch: int) -> None:
                curves[strategy].setdefault(r, {})[seed] = (n, f1)
                log.write(jsonl_text([{"strategy": strategy, "seed": seed, "fold": fold, "round": r, "sentences": n,
                                       "test_f1": f1, "best_epoch": best_epoch}]))
                log.flush()

            for seed in range(args.seeds):
                fold = args.folds[seed % len(args.folds)]
                pool = [r for k, f in enumerate(folds) if k != fold for r in f]
                write_jsonl(work / "test.jsonl", folds[fold])
                print(f"seed {seed}: pool {len(pool)} sentences, test {len(folds[fold])} (fold {fold})", file=sys.stderr)
                start = random.Random(seed).sample(range(len(pool)), args.start)
                # round 0 is the same for every strategy: one model, and each strategy's first batch from it
                first_dir, f1, epoch = trained(f"start-s{seed}", start, seed)
                firsts = {}
                for strategy in strategies:
                    note(strategy, seed, 0, len(start), f1, epoch)
                    rng = random.Random(1000 + seed)
                    firsts[strategy] = (rng, next_batch(strategy, first_dir, start, rng) if args.rounds > 1 else [])
                shutil.rmtree(first_dir)  # about 0.9 GB a run with e5-small
                for strategy in strategies:
                    rng, batch = firsts[strategy]
                    chosen = start + batch
                    for r in range(1, args.rounds):
                        run_dir, f1, epoch = trained(f"{strategy}-s{seed}-n{len(chosen)}", chosen, seed)
                        note(strategy, seed, r, len(chosen), f1, epoch)
                        if r < args.rounds - 1:
                            chosen = chosen + next_batch(strategy, run_dir, chosen, rng)
                        shutil.rmtree(run_dir)
    finally:  # a stop too: a run folder is about 0.9 GB with e5-small
        shutil.rmtree(work, ignore_errors=True)
    print("| round | " + " | ".join(f"{s}: sentences, test F1 (mean ± std, seeds)" for s in strategies) + " |")
    print("|---:|" + "---|" * len(strategies))
    for r in range(args.rounds):
        cells = []
        for strategy in strategies:
            runs = list(curves[strategy].get(r, {}).values())
            f1s = [f1 for _, f1 in runs]
            cells.append(f"{statistics.mean(n for n, _ in runs):.0f}, {statistics.mean(f1s):.3f} ± "
                         f"{statistics.stdev(f1s) if len(f1s) > 1 else 0:.3f} ({len(f1s)})" if runs else "–")
        print(f"| {r} | " + " | ".join(cells) + " |")

    if "random" in strategies and len(strategies) > 1:
        print("\nGain over random selection, paired within a seed (same fold, same start): mean ± std (seeds won)")
        for r in range(1, args.rounds):
            cells = []
            for strategy in (s for s in strategies if s != "random"):
                mine, theirs = curves[strategy].get(r, {}), curves["random"].get(r, {})
                gains = [mine[seed][1] - theirs[seed][1] for seed in sorted(mine.keys() & theirs.keys())]
                cells.append(f"{strategy} {statistics.mean(gains):+.3f} ± "
                             f"{statistics.stdev(gains) if len(gains) > 1 else 0:.3f} "
                             f"({sum(g > 0 for g in gains)}/{len(gains)})" if gains else f"{strategy} –")
            print(f"  round {r}: " + "; ".join(cells))


if __name__ == "__main__":
    run_cli(main)
