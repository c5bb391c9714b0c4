"""Self-training: a model tags unlabelled articles, its confident sentences become silver data, and
a fresh model trains on the gold and the silver; again with that model, while dev F1 rises.

`selftrain(config)` runs it from a training config with a `silver:` section (config.py):
round 0 is the teacher, trained on the gold as `train.py` would (or a trained model given as
`teacher`); round r tags `silver.articles` with round r-1's best model and trains a fresh model on
`data.train` plus that silver file. Each round is a run folder of its own,
`<output_dir>/<run_name>-round<r>/`; the silver files and `selftrain.json` (every round's dev F1
and data) go to `<output_dir>/<run_name>-selftrain/`, with the teacher's entities on every
article (`silver-round<r>.tagged.jsonl`, written chunk by chunk: a stop while tagging keeps what
was tagged, and `--resume` continues it). The gold files are never written to: silver is a file of
its own, listed beside them in the student's `data.train`.

A sentence becomes silver when the model finds at least one entity in it and every entity it finds
there is among the `silver.confident_share` of its type's entities that the model is surest of
(by score, the mean probability of its words' tags, as predict.py reports it; per type, since the
model is surer of some types than others). Articles named in `silver.keep_out` never become
silver, nor does any article that retells one of them (stories.py): the articles reserved for
measuring generalisation, and the annotated ones, whose gold must not come back with the model's
labels. Nor do the sentences of `data.dev` and `data.test` (and the articles they name): the
model's labels on dev would choose the rounds, and on test be scored.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from arabic_ner.articles import Article, Articles, Skips, read_kept_out, unknown_kept_out
from arabic_ner.config import Config, load_config, to_dict
from arabic_ner.corpus import jsonl_text, read_split
from arabic_ner.errors import UserError
from arabic_ner.files import ResumableLines, check_output_files, make_output_folder, write_atomic, write_files
from arabic_ner.messages import plural
from arabic_ner.metrics import score_model
from arabic_ner.model import ModelSettings
from arabic_ner.model_card import model_version
from arabic_ner.run_folder import BEST, CONFIG, SUMMARY, check_resumable, clear_run_dir, run_lock
from arabic_ner.stories import KeptOut
from arabic_ner.tagging import CHUNK_WORDS, numerics, plan, tag_chunks
from arabic_ner.training import train


class _Listed:
    """Articles already read, to `tagging.tag_chunks` as an input it can read as often as it asks."""

    def __init__(self, articles: list[Article]):
        self.articles = articles

    def read(self, skips: Skips) -> Iterator[Article]:
        return iter(self.articles)


def tag_articles(predictor, articles: list[Article], tagged_file: Path, fingerprint: dict,
                 resume: bool) -> list[tuple[Article, list[dict]]]:
    """Each article with the entities the model finds in it, also written to `tagged_file` as
    `predict.py` writes them, chunk by chunk (tagging.py): a stop keeps the chunks done, and
    `resume` continues from them (an interrupted run's `fingerprint` must be this one's)."""
    listed = _Listed(articles)
    # without `resume`, an interrupted tagging is an error that says so; with it, a tagging never begun starts
    with ResumableLines(tagged_file, fingerprint,
                        resume=resume and ResumableLines.state_of(tagged_file) is not None) as sink:
        outcome = tag_chunks(predictor, listed, plan(listed, CHUNK_WORDS), sink, Skips(), keep=True)
        write_files({}, renames={sink.partial: tagged_file}, removals=(sink.manifest,))
    return list(zip(articles, outcome.results))


def type_thresholds(tagged: list[tuple[Article, list[dict]]], share: float) -> dict[str, float]:
    """For each type, the score its entities must reach to be among the `share` the model is surest
    of: per type, since the model is surer of some types than others (the news model's entity
    scores top out near 0.91 for ARMED_GROUP and 0.87 for SECURITY_UNIT, so one threshold of 0.9
    kept 914 sentences with a group and none with a unit)."""
    scores = defaultdict(list)
    for _, entities in tagged:
        for entity in entities:
            scores[entity["label"]].append(entity["score"])
    return {label: round(float(np.quantile(values, 1 - share)), 4) for label, values in sorted(scores.items())}


def silver_records(tagged: list[tuple[Article, list[dict]]], thresholds: dict[str, float],
                   kept: KeptOut | None = None) -> Iterator[dict]:
    """The confident sentences of the tagged articles as corpus records (`article` names their
    article): those with entities, each at its type's threshold or above; none that is also a
    sentence of a `kept` article, nor one that an entity runs out of (a sentence split inside a
    name, `ع. م.`: its part of the name would be taught as no entity)."""
    for article, entities in tagged:
        for start, end, record in article.sentences():
            inside = [e for e in entities if start <= e["start"] and e["end"] <= end]
            across = any(e["start"] < end and start < e["end"] for e in entities if e not in inside)
            if across or (kept is not None and kept.keeps_out_sentence(record["text"])):
                continue
            if inside and all(e["score"] >= thresholds[e["label"]] for e in inside):
                yield {**record, "entities": [{"start": e["start"] - start, "end": e["end"] - start,
                                               "label": e["label"]} for e in inside]}


def unlabelled(config: Config, log=print) -> tuple[list[Article], KeptOut, int]:
    """The articles of `silver.articles` that may become silver, what is kept out (`silver.keep_out`,
    and the dev and test records), and how many articles it kept out."""
    silver = config.silver
    if not silver.articles:
        raise UserError("silver.articles: name the unlabelled articles to tag (JSONL, .txt files or folders)")
    skips = Skips(say=log)
    articles = list(Articles(silver.articles, text_option=None).read(skips))
    if not articles:
        raise UserError(f"silver.articles: no article to tag ({skips.summary()})")
    kept = read_kept_out(silver.keep_out, {str(a.id): a.text for a in articles})
    if warning := unknown_kept_out(kept, "silver.keep_out"):
        log(warning)
    kept.add_annotated(read_split([*config.data.dev, *config.data.test], config.entity_types, warn=lambda message: None),
                       {str(a.id): a.text for a in articles})
    usable = [a for a in articles if not kept.keeps_out(str(a.id), a.text)]
    if not usable:
        raise UserError(f"silver.articles: all {plural(len(articles), 'article')} are kept out by silver.keep_out "
                        f"or data.dev and data.test (named there, or retelling one that is); nothing to tag")
    return usable, kept, len(articles) - len(usable)


def articles_digest(articles: list[Article]) -> str:
    """SHA-256 of the articles' ids and texts, in order: what a tagging tags."""
    digest = hashlib.sha256()
    for article in articles:
        digest.update(json.dumps([str(article.id), article.text], ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def make_silver(model_dir: Path, config: Config, out: Path, log=print, pool=None, resume: bool = False,
                overwrite: bool = False, round_file: bool = False) -> dict:
    """Tag the usable articles with the model in `model_dir` and write the silver records to `out`
    (whole, or not at all); what was written, counted. The model's entities on every article go
    to `<out stem>.tagged.jsonl`, chunk by chunk: a stop (Ctrl-C, SIGTERM) keeps what was tagged,
    and `resume` continues from there (`overwrite` starts it again). `pool`: what `unlabelled` gave,
    when the caller already asked (each round tags the same articles); `round_file`: `out` is a
    round's, in the self-training's own folder."""
    from arabic_ner.device import choose_device, torch_threads
    from arabic_ner.predictor import Predictor

    if out.suffix != ".jsonl":
        raise UserError(f"{out}: silver data is written as .jsonl")
    if resume and overwrite:
        raise UserError("--resume continues a tagging and --overwrite starts it again: pass one of them")
    tagged_file = _tagged_file(out)
    check_output_files({"silver data": out, "its counts": _stats_file(out), "the tagged articles": tagged_file},
                       inputs=[Path(p) for p in [*config.data.train, *config.data.dev, *config.data.test,
                                                 *config.silver.articles, *config.silver.keep_out]],
                       keep_out_of={"the model folder": model_dir})
    # it may be gold (a copy of train.jsonl named by mistake): --resume replaces only silver this wrote,
    # which its counts file comes with (a round's in the self-training's folder: by a version before it, too)
    if out.exists() and not overwrite and not (resume and (round_file or _stats_file(out).exists())):
        raise UserError(f"{out}: exists" + (f" and no --silver-only made it (no {_stats_file(out).name} beside it)"
                                            if resume else "") + "; name a new file, or pass --overwrite to replace it")
    if overwrite:  # only once the outputs are known good: a refused run removes nothing
        ResumableLines.refuse_if_written_now([tagged_file])  # a live run's tagging is not to remove
        for path in ResumableLines.files_of(tagged_file):
            path.unlink(missing_ok=True)
    articles, kept, kept_out = pool or unlabelled(config, log)
    device = choose_device()  # the GPU where training had one
    with torch_threads(config.train.threads):  # a shared machine's `--train.threads 1` holds while tagging too
        predictor = Predictor.from_folder(model_dir, device, batch_size=config.train.eval_batch_size)
        fingerprint = {"model": model_version(model_dir), "articles": len(articles),
                       "texts": articles_digest(articles),
                       **numerics(predictor, device, config.train.eval_batch_size, CHUNK_WORDS)}
        log(f"silver: tagging {plural(len(articles), 'article')} with {model_dir} -> {tagged_file}")
        tagged = tag_articles(predictor, articles, tagged_file, fingerprint, resume)
    thresholds = type_thresholds(tagged, config.silver.confident_share)
    records = list(silver_records(tagged, thresholds, kept))
    counts = Counter(e["label"] for r in records for e in r["entities"])
    stats = {"made_with": _silver_recipe(fingerprint["model"], config, articles), "file": str(out),
             "articles_tagged": len(articles), "articles_kept_out": kept_out,
             "thresholds": thresholds, "sentences": len(records),
             "entities": {t: counts.get(t, 0) for t in config.entity_types}}
    write_files({out: jsonl_text(records),
                 _stats_file(out): json.dumps(stats, indent=2) + "\n"})
    log(f"silver: {plural(len(records), 'sentence')} from {plural(len(articles), 'article')} "
        f"({kept_out} kept out) -> {out}")
    return stats


def selftrain(config: Config, resume: bool = False, overwrite: bool = False, teacher: Path | None = None,
              log=print) -> dict:
    """Round 0 (the teacher), then up to `silver.rounds` students; the summary, also written to
    `<run_name>-selftrain/selftrain.json`, names the best round's model."""
    if resume and overwrite:
        raise UserError("--resume continues a self-training and --overwrite replaces it: pass one of them")
    if not config.data.dev:
        raise UserError("data.dev: self-training keeps a round while its dev F1 rises; name the dev data")
    if teacher is not None and (round_dir := _round_holding(Path(teacher), config)):
        raise UserError(f"--teacher {teacher}: inside {round_dir}, a round of this self-training, which it trains "
                        f"anew; copy the model elsewhere, or give this self-training another run_name")
    if teacher is not None:
        check_teacher(Path(teacher), config)
    pool = unlabelled(config, log)  # an input problem is said now, not after round 0's training
    for paths in (config.data.train, config.data.dev, config.data.test):  # and before --overwrite removes anything
        read_split(paths, config.entity_types, warn=lambda message: None)  # warnings: the training's reading says them
    folder = Path(config.output_dir) / f"{config.run_name}-selftrain"
    if not (resume or overwrite) and any(folder.glob("silver-round*.jsonl")):
        raise UserError(f"{folder} already holds a self-training; pass --resume to continue it or --overwrite to "
                        f"start it again")
    make_output_folder(folder, "output_dir")
    if overwrite:  # nothing of an earlier self-training may pass for this one's after a stop and --resume
        ResumableLines.refuse_if_written_now([partial.with_name(partial.name[1:].removesuffix(".partial"))
                                              for partial in folder.glob(".silver-round*.tagged.jsonl.partial")])
        _clear(folder, config)
    if resume:
        _check_resumed_rounds(folder, config, teacher)
    if teacher is None:
        run = replace(config, run_name=f"{config.run_name}-round0")
        best, dev_f1 = run.run_dir / BEST, _trained(run, resume, overwrite)["dev_f1"]
    else:
        best, dev_f1 = Path(teacher), _dev_f1(Path(teacher), config)
    rounds = [{"round": 0, "model": str(best), "dev_f1": dev_f1, "silver": None}]
    log(f"round 0: dev F1 {dev_f1:.4f} ({best})")
    chosen = 0
    for r in range(1, config.silver.rounds + 1):
        silver_file = folder / f"silver-round{r}.jsonl"
        if resume and _stats_file(silver_file).exists() and silver_file.exists():
            stats = json.loads(_stats_file(silver_file).read_text(encoding="utf-8"))
            then, now = stats.get("made_with"), _silver_recipe(model_version(best), config, pool[0])
            if not isinstance(then, dict) or not then.keys() >= now.keys():
                raise UserError(f"{silver_file}: made by an earlier version, before what it was made from was "
                                f"recorded (and before dev and test were kept out); start again with --overwrite")
            if then != now:  # its rounds would be reported as this config's
                changed = ", ".join(f"{key}: {then[key]!r} there, {now[key]!r} now" for key in now if then[key] != now[key])
                raise UserError(f"{silver_file}: --resume with another teacher or silver settings than it was made with "
                                f"({changed}); resume with those, or start again with --overwrite")
            log(f"silver: {silver_file}, kept from the interrupted run")
        else:
            stats = make_silver(best, config, silver_file, log, pool, resume=resume, round_file=True)
        if not stats["sentences"]:
            log(f"round {r}: no sentence had all its entities among the most confident ones; stopping")
            rounds.append({"round": r, "model": None, "dev_f1": None, "silver": stats})
            break
        run = replace(config, run_name=f"{config.run_name}-round{r}",
                      data=replace(config.data, train=[*config.data.train, str(silver_file)]))
        summary = _trained(run, resume, overwrite)
        rounds.append({"round": r, "model": str(run.run_dir / BEST), "dev_f1": summary["dev_f1"], "silver": stats})
        log(f"round {r}: dev F1 {summary['dev_f1']:.4f} on gold + {plural(stats['sentences'], 'silver sentence')}")
        if summary["dev_f1"] <= dev_f1:
            log(f"round {r}: no better than round {chosen} ({dev_f1:.4f}); stopping")
            break
        best, dev_f1, chosen = run.run_dir / BEST, summary["dev_f1"], r
    result = {"best_round": chosen, "best_model": str(best), "dev_f1": dev_f1, "rounds": rounds}
    write_atomic(folder / "selftrain.json", json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def _rounds(config: Config) -> list[Path]:
    """The run folders of this self-training's rounds: `<output_dir>/<run_name>-round<r>`."""
    return [run_dir for run_dir in Path(config.output_dir).glob(f"{glob.escape(config.run_name)}-round*")
            if run_dir.name.removeprefix(f"{config.run_name}-round").isdigit()]


def _round_holding(model_dir: Path, config: Config) -> Path | None:
    """The round folder `model_dir` lies in, if any: training that round replaces it."""
    return next((run_dir for run_dir in _rounds(config) if run_dir.resolve() in model_dir.resolve().parents), None)


def _clear(folder: Path, config: Config) -> None:
    """Remove an earlier self-training: its silver files (and taggings a stop left), its summary and
    its rounds' run folders (clear_run_dir: only ever folders train.py wrote); nothing of it while
    one of its rounds trains."""
    with contextlib.ExitStack() as held:
        for run_dir in _rounds(config):  # held until cleared: a live self-training's round (or one that starts
            held.enter_context(run_lock(run_dir))  # meanwhile) is refused, else both runs fail, its work lost
        for path in [*folder.glob("silver-round*"), *folder.glob(".silver-round*"), folder / "selftrain.json"]:
            if path.is_file():
                path.unlink()
        for run_dir in _rounds(config):
            clear_run_dir(run_dir)


def _check_resumed_rounds(folder: Path, config: Config, teacher: Path | None) -> None:
    """On --resume, what would train a round only to be refused after it, said before any training:
    silver made by a teacher that this run would not have (a self-training begun with `--teacher`,
    resumed without it), and a finished round that more epochs would train on although a later
    round's silver was made by it (its teacher would change under that silver), or fewer epochs
    than a finished round's (the round would be kept as it is, trained longer than the command says)."""
    stats_file = _stats_file(folder / "silver-round1.jsonl")
    try:
        then = json.loads(stats_file.read_text(encoding="utf-8"))["made_with"]["teacher"]
    except (OSError, ValueError, KeyError, TypeError):
        then = None  # no silver made yet, or made before it was recorded: the round's own check says that
    round0 = replace(config, run_name=f"{config.run_name}-round0").run_dir / BEST
    if then is not None and teacher is None and not (round0.is_dir() and model_version(round0) == then):
        raise UserError(f"{folder}: --resume of a self-training whose silver was made by the teacher {then}, not "
                        f"by its round 0 ({round0}); pass the same --teacher, or start again with --overwrite")
    for run_dir in sorted(_rounds(config)):
        r = int(run_dir.name.removeprefix(f"{config.run_name}-round"))
        if not (run_dir / SUMMARY).exists():
            continue
        epochs = load_config(run_dir / CONFIG).train.epochs
        if config.train.epochs < epochs:
            raise UserError(f"{run_dir}: finished with {epochs} epochs; --train.epochs {config.train.epochs} would "
                            f"leave it as it is: resume with its own or more, or start again with --overwrite")
        if config.train.epochs > epochs and _stats_file(folder / f"silver-round{r + 1}.jsonl").exists():
            raise UserError(f"{run_dir}: finished with {epochs} epochs, and the silver of round {r + 1} was made "
                            f"by it: --train.epochs {config.train.epochs} would train it on under that silver; "
                            f"resume with --train.epochs {epochs}, or start again with --overwrite")


def check_teacher(model_dir: Path, config: Config) -> None:
    """A model folder trained on the config's tag set, or a one-line error."""
    settings = ModelSettings.load(model_dir)
    if settings.entity_types != list(config.entity_types):
        raise UserError(f"--teacher {model_dir}: trained on {', '.join(settings.entity_types)}, not the config's "
                        f"{', '.join(config.entity_types)}")


def _silver_recipe(teacher: str, config: Config, articles: list[Article]) -> dict:
    """What decides a round's silver data (`teacher`: its model_version): the settings, and the
    articles tagged, by content (a keep-out file that now names one more article, or an article
    file edited, keeps the same paths)."""
    return {"teacher": teacher, **{f"silver.{key}": value for key, value in to_dict(config.silver).items()
                                   if key != "rounds"},  # more rounds may follow on a resume
            "articles tagged (SHA-256 of their ids and texts)": articles_digest(articles)}


def _trained(run: Config, resume: bool, overwrite: bool) -> dict:
    """A round's training summary: on --resume, a finished round's is read, not trained again, if
    it was trained with the settings of now (as train.py's --resume checks them); with more
    `train.epochs`, it trains on as train.py's --resume does (the last round: `_check_resumed_rounds`)."""
    summary = run.run_dir / SUMMARY
    if resume and summary.exists():
        check_resumable(run.run_dir, run)
        if run.train.epochs == load_config(run.run_dir / CONFIG).train.epochs:  # fewer: refused before
            return json.loads(summary.read_text(encoding="utf-8"))
    return train(run, resume=resume, overwrite=overwrite)


def _dev_f1(model_dir: Path, config: Config) -> float:
    """A given teacher's character-exact dev F1, on the config's dev split (what the rounds are
    chosen on)."""
    from arabic_ner.device import choose_device, torch_threads
    from arabic_ner.predictor import Predictor

    records = read_split(config.data.dev, config.entity_types)
    with torch_threads(config.train.threads):
        predictor = Predictor.from_folder(model_dir, choose_device(), batch_size=config.train.eval_batch_size)
        return score_model(predictor, records, config.entity_types).scores["char"]["f1"]


def _tagged_file(silver_file: Path) -> Path:
    """Where the teacher's entities on every article go: `x.jsonl` -> `x.tagged.jsonl`."""
    return silver_file.with_suffix(".tagged.jsonl")


def _stats_file(silver_file: Path) -> Path:
    """Where a silver file's counts are kept, written with it: `x.jsonl` -> `x.counts.json`."""
    return silver_file.with_suffix(".counts.json")
