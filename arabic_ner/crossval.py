"""Cross-validation: K folds of whole groups (paragraphs by default; see split.py); for every fold
and seed, a fresh model trained on K-2 folds, selected on the next fold and scored on the held-out
one (the scoring of metrics.score_model). Records that are only ever trained on (more gold from
elsewhere, silver data) join every fold's training set through `also_train`. Per-type and overall
F1 as mean ± standard deviation over all runs, character-exact (`f1`, `per_type`) and over words
(`words`); every run's numbers in `<output_dir>/<run_name>-cv/runs.jsonl`, the summary in
`crossval.json`. A stop (Ctrl-C, SIGTERM) leaves the run under way resumable: `resume=True` keeps
the finished runs and continues it.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from dataclasses import replace
from pathlib import Path

from arabic_ner.comparison import mean_std, read_plan, read_runs, run_f1
from arabic_ner.config import SEED_LIMIT, Config, changed_settings, load_config, saved_defaults, to_dict
from arabic_ner.corpus import jsonl_text, read_jsonl, read_split, write_jsonl
from arabic_ner.errors import UserError
from arabic_ner.files import file_digest, is_beside, make_output_folder, write_atomic
from arabic_ner.messages import plural
from arabic_ner.run_folder import BEST, CONFIG, LAST, clear_run_dir, read_epochs, run_lock
from arabic_ner.split import SPLITS, assign_groups, members
from arabic_ner.training import train

NOT_READ = {"silver"}  # config sections a cross-validation never reads: not in its plan, no bar to --resume
TRIES = 3  # training seeds a run may take when it collapses: its own, then its own + 1000, + 2000


def crossval(config: Config, corpus: Path, folds: int, seeds: int, group_by: str, keep_models: bool, log=print,
             resume: bool = False, overwrite: bool = False, also_train: list[Path] = (), rescore: bool = False) -> dict:
    """Train and score every (fold, seed); `resume` keeps the runs already in runs.jsonl and continues
    the one that was cut (a Ctrl-C or SIGTERM saves its last/), `overwrite` starts them all again.
    `also_train`: files added to every fold's training data, never selected on or scored; `{fold}`
    in a path stands for the fold's number (data made for each fold, such as silver data from that
    fold's own model). `rescore` (with `resume` and `keep_models`): the finished runs are scored again
    from their kept best/ on their fold's test split, with the code of today (after a change to
    decoding, say), as their training would score them now; their dev scores stay those of training."""
    if resume and overwrite:
        raise UserError("--resume continues a cross-validation and --overwrite replaces it: pass one of them")
    if rescore and not (resume and keep_models):
        raise UserError("--rescore scores the kept models of a cross-validation's finished runs again: pass --resume "
                        "and --keep-models too (without it, the models would be deleted after scoring)")
    # every seed a run may train with: seed + s for seed s of each fold, + 1000 per retry of a collapse
    if (highest := config.train.seed + seeds - 1 + 1000 * (TRIES - 1)) >= SEED_LIMIT:
        raise UserError(f"train.seed {config.train.seed} with --seeds {seeds}: a run may train with seed {highest} "
                        f"(+1000 for each retry of a collapsed run), past numpy's {SEED_LIMIT - 1}; "
                        f"use a smaller train.seed")
    records = read_jsonl(corpus, config.entity_types)
    bins = assign_groups(records, group_by, [1 / folds] * folds, seed=13, where=str(corpus))
    fold_records = [members(records, group_by, keys) for keys in bins]
    if any(not f for f in fold_records):
        raise UserError(f"{corpus}: too few {group_by} groups for {folds} folds")
    out = Path(config.output_dir) / f"{config.run_name}-cv"

    # a bad or missing file is an error now, not at its fold's training; and sentences of the corpus
    # would be trained on in the very fold that tests them
    corpus_texts, extra_counts = {r["text"] for r in records}, []
    for k in range(folds):
        extra_counts.append(0)
        for path in fold_files(also_train, k):
            added = read_split([path], config.entity_types)
            shared = sum(r["text"] in corpus_texts for r in added)
            if shared:
                raise UserError(f"{path}: {plural(shared, 'sentence')} of it also in {corpus}; --also-train takes "
                                f"data outside the corpus")
            extra_counts[k] += len(added)
    plan = {"corpus": str(corpus), "folds": folds, "seeds": seeds, "group_by": group_by,
            "fold_digest": fold_digest(fold_records),
            "also_train": [str(p) for p in also_train],
            # what they hold, as for the corpus: a resume after an edit would mix runs of two data sets
            "also_train_digest": _files_digest([path for k in range(folds) for path in fold_files(also_train, k)]),
            "config": {key: value for key, value in to_dict(config).items() if key not in NOT_READ}}
    _check_cross_validation_folder(out)
    runs_before = sorted(out.glob("fold*-seed*")) if overwrite else []
    with contextlib.ExitStack() as held:
        for folder in runs_before:  # nothing removed that another cross-validation trains, or starts to
            held.enter_context(run_lock(folder))
        done = _runs_so_far(out, plan, resume, overwrite, log, rescore)
        for folder in runs_before:  # started again: a run of before must not be continued by a later --resume
            clear_run_dir(folder)
    if overwrite:
        (out / "crossval.json").unlink(missing_ok=True)  # it summarized the runs of before
    if rescore:
        _rescore(done, out, fold_records, config, log)
    make_output_folder(out, "output_dir")
    write_atomic(out / "plan.json", json.dumps(plan, indent=2, ensure_ascii=False) + "\n")
    runs_file = out / "runs.jsonl"
    write_atomic(runs_file, jsonl_text(done.values()))
    runs = []
    for k in range(folds):
        dev_k = (k + 1) % folds
        train_records = [r for i, f in enumerate(fold_records) if i not in (k, dev_k) for r in f]
        data_dir = out / "data" / f"fold{k}"
        make_output_folder(data_dir, "output_dir")
        for split, part in (("train", train_records), ("dev", fold_records[dev_k]), ("test", fold_records[k])):
            write_jsonl(data_dir / f"{split}.jsonl", part)
        for s in range(seeds):
            name = f"fold{k}-seed{s}"
            run_config = replace(
                config, run_name=name, output_dir=str(out),
                data=replace(config.data, train=[str(data_dir / "train.jsonl"), *fold_files(also_train, k)],
                             dev=[str(data_dir / "dev.jsonl")],
                             test=[str(data_dir / "test.jsonl")]),
                train=replace(config.train, seed=config.train.seed + s))
            run = done.get(name)
            if run is None or retried(run):
                log(f"[{len(runs) + 1}/{folds * seeds}] {name}: train {len(train_records)}"
                    + (f" + {extra_counts[k]} from --also-train" if also_train else "") + ", "
                    f"dev {len(fold_records[dev_k])}, test {len(fold_records[k])} sentences")
                run = {**_train_run(run_config, name, k, run, resume, log), "kept_model": keep_models}
                with runs_file.open("a", encoding="utf-8") as f:  # one whole line per finished run
                    f.write(jsonl_text([run]))
            # the models of runs recorded as not keeping theirs (a removal a stop cut short, too); those
            # an earlier --keep-models kept, or a version that did not record it, stay
            if run.get("kept_model") is False:
                for folder in (BEST, LAST):
                    shutil.rmtree(run_config.run_dir / folder, ignore_errors=True)
            runs.append(run)
    collapsed = sum(bool(r.get("collapsed")) for r in runs)
    if collapsed:
        log(f"{plural(collapsed, 'run')} collapsed (dev F1 0 at every epoch) and trained again with another seed: "
            f"{', '.join(r['name'] + ' (seeds ' + ', '.join(map(str, r['collapsed'])) + ')' for r in runs if r.get('collapsed'))}")
    not_learned = [r["name"] for r in runs if not r.get("learned", True)]
    if not_learned:
        log(f"warning: {plural(len(not_learned), 'run')} collapsed with every one of its {TRIES} seeds and count with "
            f"F1 0: {', '.join(not_learned)}")
    result = {"corpus": str(corpus), "folds": folds, "seeds": seeds, "group_by": group_by, "runs": len(runs),
              "collapsed": collapsed, "not_learned": len(not_learned),
              "f1": mean_std([run_f1(r) for r in runs]),
              "per_type": {t: mean_std([run_f1(r, t) for r in runs]) for t in config.entity_types},
              "words": {"f1": mean_std([run_f1(r, level="words") for r in runs]),
                        "per_type": {t: mean_std([run_f1(r, t, "words") for r in runs]) for t in config.entity_types}},
              **dev_by_epoch([_dev_curve(out / r["name"]) for r in runs])}
    write_atomic(out / "crossval.json", json.dumps(result, indent=2) + "\n")
    return result


def retried(run: dict) -> bool:
    """Whether a finished run is trained again: it collapsed (`training.collapsed`), with tries left."""
    return not run.get("learned", True) and len(run.get("collapsed", [])) + 1 < TRIES


def _train_run(run_config: Config, name: str, fold: int, before: dict | None, resume: bool, log) -> dict:
    """One (fold, seed) trained; a run that collapses is trained again from scratch with the next
    seed of its own (+1000, +2000: none that another run of the plan uses), up to TRIES seeds in
    all, the same rule for every recipe. `seed` stays the planned one, the key that pairs runs
    across recipes (`eval/compare.py`); `trained_seed` is the one kept, `collapsed` those given up,
    `learned` false where the tries ran out."""
    planned = run_config.train.seed
    tries = [planned + 1000 * i for i in range(TRIES)]
    if before:
        given_up = [*before.get("collapsed", []), before.get("trained_seed", planned)]
    else:  # a run cut by a stop during a retry continues that retry, not its planned seed again
        cut = _seed_under_way(run_config.run_dir) if resume else None
        given_up = tries[:tries.index(cut)] if cut in tries else []
    continuing = resume and not before  # a run cut by a stop continues from its last/ (train starts afresh without one)
    while True:
        seed = tries[len(given_up)]
        if given_up:
            log(f"{name}: collapsed with seed {given_up[-1]} (dev F1 0 at every epoch); "
                + (f"continuing seed {seed}" if continuing else f"trained again with seed {seed}"))
        summary = train(replace(run_config, train=replace(run_config.train, seed=seed)),
                        resume=continuing, overwrite=not continuing)
        continuing = False  # each next seed starts afresh
        run = {"name": name, "fold": fold, "seed": planned, "trained_seed": seed, "best_epoch": summary["best_epoch"],
               "dev_f1": summary["dev_f1"], "test": summary["test"], "learned": not summary["collapsed"],
               "collapsed": given_up}
        if not retried(run):
            return run
        given_up = [*given_up, seed]


def _seed_under_way(run_dir: Path) -> int | None:
    """The seed a run cut by a stop was training, from the config.yaml its training wrote (None when
    it wrote none, or one this version cannot read: the planned seed is then trained)."""
    try:
        return load_config(run_dir / CONFIG).train.seed if (run_dir / CONFIG).is_file() else None
    except UserError:
        return None


def fold_digest(fold_records: list[list[dict]]) -> str:
    """What the folds hold, as 16 hex digits: two cross-validations whose runs pair have the same
    (the same corpus path with other records in it does not)."""
    ids = [[str(r.get("id")) + "\t" + r["text"] for r in fold] for fold in fold_records]
    return hashlib.sha256(json.dumps(ids, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def _files_digest(paths: list[str]) -> str:
    """What the files hold, in order, as 16 hex digits."""
    return hashlib.sha256(" ".join(map(file_digest, paths)).encode("ascii")).hexdigest()[:16]


def dev_by_epoch(curves: list[list[float]]) -> dict:
    """Dev F1 at each epoch, mean ± std over the runs, for the epochs every run reached; and the
    epoch where the mean peaks: the `train.epochs` for a final model trained with no dev data to
    select on (lever 1 of #18). A run's own best epoch overfits its dev fold; the mean curve does not.
    An estimate all the same: the final model sees more sentences an epoch (all the gold, not K-2
    folds), and early stops (`train.patience`) cut the curve at the shortest run."""
    reached = min((len(c) for c in curves), default=0)
    if not reached:
        return {}
    by_epoch = [{"epoch": e + 1, **mean_std([c[e] for c in curves])} for e in range(reached)]
    return {"dev_f1_by_epoch": by_epoch, "epochs": max(by_epoch, key=lambda row: row["mean"])["epoch"]}


def _dev_curve(run_dir: Path) -> list[float]:
    """A run's dev F1 (character-exact) per epoch, from its metrics.jsonl; empty when it has none."""
    epochs = [epoch["dev"] for epoch in read_epochs(run_dir)]
    # a run trained before character-exact scores has none to give
    return [dev["char"]["f1"] for dev in epochs] if all(dev and "char" in dev for dev in epochs) else []


def _rescore(done: dict[str, dict], out: Path, fold_records: list[list[dict]], config: Config, log) -> None:
    from arabic_ner.device import choose_device
    from arabic_ner.metrics import score_model
    from arabic_ner.predictor import Predictor

    missing = [name for name in done if not (out / name / BEST).is_dir()]
    if missing:
        raise UserError(f"{out}: no best/ kept for {', '.join(missing)}; --rescore needs the models of a "
                        f"cross-validation run with --keep-models")
    device = choose_device()
    for name, run in done.items():
        predictor = Predictor.from_folder(out / name / BEST, device, batch_size=config.train.eval_batch_size)
        before = run["test"].get("char", {}).get("f1")
        run["test"] = score_model(predictor, fold_records[run["fold"]], config.entity_types).scores
        log(f"{name}: test F1 {'n/a' if before is None else f'{before:.4f}'} -> {run['test']['char']['f1']:.4f} "
            f"(character-exact), scored again")


def fold_files(also_train: list, fold: int) -> list[str]:
    """The `--also-train` files of one fold: `{fold}` in a path is the fold's number."""
    return [str(path).replace("{fold}", str(fold)) for path in also_train]


def _check_cross_validation_folder(out: Path) -> None:
    """A run writes plan.json, runs.jsonl, crossval.json and data/ into `out`, and --overwrite removes
    its runs: only where `out` is absent, empty or a cross-validation's (plan.json, the first file
    each writes, or runs.jsonl: `_runs_so_far` says what to do without its plan). A folder of the
    user's under that name had its plan.json and runs.jsonl replaced."""
    if not out.is_dir():
        return  # absent, or a file: make_output_folder says so in one line
    if (out / "plan.json").is_file():
        read_plan(out / "plan.json")  # one line if it is not a cross-validation's
    # a killed run's hidden lock (or one a version before 2026-12-06 left) alone is no user's file
    elif not (out / "runs.jsonl").is_file() and not all(is_beside(path) for path in out.iterdir()):
        raise UserError(f"{out}: holds files but no plan.json, so no cross-validation wrote it; give another "
                        f"--run_name or --output_dir")


def _runs_so_far(out: Path, plan: dict, resume: bool, overwrite: bool, log, rescore: bool = False) -> dict[str, dict]:
    """The finished runs to keep, by name: those of runs.jsonl on --resume (when the plan is the same,
    or the same with more seeds), none on --overwrite; a folder that already holds runs needs one of the two.
    Their test scores are checked now, not after the training still to do (unless `rescore` replaces them)."""
    runs_file, plan_file = out / "runs.jsonl", out / "plan.json"
    if overwrite or not (runs_file.is_file() and runs_file.stat().st_size or plan_file.exists()):
        return {}
    if not resume:
        raise UserError(f"{out} already holds a cross-validation; pass --resume to continue it or --overwrite "
                        f"to start it again")
    if not plan_file.is_file():
        raise UserError(f"{plan_file}: missing beside {runs_file}; pass --overwrite to start again")
    before = read_plan(plan_file)  # a damaged file is named with its line; the runs are kept for a fix
    # a setting added to the code since counts as what ran before it (config.saved_defaults)
    # (a plan written before folds were fingerprinted is taken at its word)
    defaults = {"also_train": [], "fold_digest": plan.get("fold_digest"),
                "also_train_digest": plan.get("also_train_digest"), "config": saved_defaults()}
    changed = [(key, then, now) for key, (then, now) in changed_settings(before, plan, defaults).items()
               if not any(key.startswith(f"config.{section}.") for section in NOT_READ)
               # more seeds add runs to the same plan: seed s of a fold is the same run either way
               and not (key == "seeds" and now > (then or 0))
               and key != "config.output_dir"  # a folder moved elsewhere (docs/cv/) holds the same runs
               # the same corpus by another path: the folds' records decide, as compare.py pairs them
               and not (key == "corpus" and before.get("fold_digest") is not None
                        and before.get("fold_digest") == plan.get("fold_digest"))
               and key not in {f"config.data.{split}" for split in SPLITS}]  # each fold's own
    if changed:
        raise UserError(f"{out}: --resume with other settings than the cross-validation it continues ("
                        + ", ".join(f"{key}: {then!r} there, {now!r} now" for key, then, now in changed)
                        + "); resume with those of its plan.json, or pass --overwrite to start again")
    types = None if rescore else plan["config"]["entity_types"]  # the settings first: they say why, if both
    runs = read_runs(runs_file, types, plan["folds"], log) if runs_file.is_file() else []
    return {run["name"]: run for run in runs}
