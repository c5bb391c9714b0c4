"""Cross-validation: `python eval/crossval.py CONFIG [--folds 5] [--seeds 3] [--dotted.key value ...]`.

Cuts the corpus into K folds of whole groups (paragraphs by default; see arabic_ner/split.py),
then for every fold and seed trains a fresh model on K-2 folds, selects on the next fold and
scores the held-out fold (strict IOB2 entity F1). Reports per-type and overall F1 as
mean ± standard deviation over all runs, and saves every run's numbers.
Output: models/<run_name>-cv/{runs.jsonl, crossval.json}; model weights are deleted after
scoring unless --keep-models.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from arabic_ner.errors import UserError, run_cli  # noqa: E402


def crossval(config, corpus: Path, folds: int, seeds: int, group_by: str, keep_models: bool, log=print) -> dict:
    from arabic_ner.corpus import read_jsonl, write_jsonl
    from arabic_ner.split import assign_groups
    from arabic_ner.training import train

    records = read_jsonl(corpus, config.entity_types)
    bins = assign_groups(records, group_by, [1 / folds] * folds, seed=13, where=str(corpus))
    fold_records = [[r for r in records if str(r[group_by]) in set(keys)] for keys in bins]
    if any(not f for f in fold_records):
        raise UserError(f"{corpus}: too few {group_by} groups for {folds} folds")
    out = Path(config.output_dir) / f"{config.run_name}-cv"
    out.mkdir(parents=True, exist_ok=True)
    runs_file = out / "runs.jsonl"
    runs_file.write_text("", encoding="utf-8")
    runs = []
    for k in range(folds):
        dev_k = (k + 1) % folds
        train_records = [r for i, f in enumerate(fold_records) if i not in (k, dev_k) for r in f]
        for s in range(seeds):
            name = f"fold{k}-seed{s}"
            data_dir = out / name / "data"
            data_dir.mkdir(parents=True, exist_ok=True)
            for split, part in (("train", train_records), ("dev", fold_records[dev_k]), ("test", fold_records[k])):
                write_jsonl(data_dir / f"{split}.jsonl", part)
            run_config = replace(
                config, run_name=name, output_dir=str(out),
                data=replace(config.data, train=str(data_dir / "train.jsonl"), dev=str(data_dir / "dev.jsonl"),
                             test=str(data_dir / "test.jsonl")),
                train=replace(config.train, seed=config.train.seed + s))
            log(f"[{len(runs) + 1}/{folds * seeds}] {name}: train {len(train_records)}, dev {len(fold_records[dev_k])}, "
                f"test {len(fold_records[k])} sentences")
            summary = train(run_config, overwrite=True)
            run = {"fold": k, "seed": run_config.train.seed, "best_epoch": summary["best_epoch"],
                   "dev_f1": summary["dev_f1"], "test": summary["test"]}
            runs.append(run)
            with runs_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(run) + "\n")
            if not keep_models:
                for folder in ("best", "last"):
                    shutil.rmtree(out / name / folder, ignore_errors=True)
    result = {"corpus": str(corpus), "folds": folds, "seeds": seeds, "group_by": group_by, "runs": len(runs),
              "f1": _mean_std([r["test"]["f1"] for r in runs]),
              "per_type": {t: _mean_std([r["test"]["per_type"][t]["f1"] for r in runs]) for t in config.entity_types}}
    (out / "crossval.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return result


def _mean_std(values: list[float]) -> dict:
    return {"mean": round(statistics.mean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "values": values}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="training config (YAML)")
    parser.add_argument("--corpus", type=Path, default=Path("data/article/article.jsonl"),
                        help="the whole annotated corpus (default: %(default)s)")
    parser.add_argument("--folds", type=int, default=5, help="K (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per fold (default: %(default)s)")
    parser.add_argument("--group-by", default="paragraph", help="record field kept within one fold")
    parser.add_argument("--keep-models", action="store_true", help="keep each run's best/ and last/")
    args, overrides = parser.parse_known_args()
    if args.folds < 3:
        raise UserError(f"--folds {args.folds}: at least 3 (one to test, one to select on, the rest to train)")
    if args.seeds < 1:
        raise UserError(f"--seeds {args.seeds}: at least 1")

    from arabic_ner.config import load_config

    config = load_config(args.config, overrides)
    result = crossval(config, args.corpus, args.folds, args.seeds, args.group_by, args.keep_models,
                      log=lambda m: print(m, file=sys.stderr))
    print(f"strict F1 over {result['runs']} runs: {result['f1']['mean']:.4f} ± {result['f1']['std']:.4f}")
    for t, v in result["per_type"].items():
        print(f"  {t}: {v['mean']:.4f} ± {v['std']:.4f}")
    print(f"wrote {Path(config.output_dir) / (config.run_name + '-cv')}/crossval.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
