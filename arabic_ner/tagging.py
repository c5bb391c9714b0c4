"""Tagging a corpus into files: in chunks, each written as it finishes; resumable after any stop;
under several processes, each process tagging its own chunks into its own shard. `predict(job)`
is predict.py's whole work (its command line only parses the options into a `PredictJob`).

Chunks. A first pass over the input (`plan`) cuts the articles into runs of about `chunk_words`
words. The cut is a function of the input alone, so a resumed run cuts the same chunks, tags the
same batches and writes the same bytes as the interrupted one. A chunk is tagged, then written and
flushed whole (`files.ResumableLines`): a stop costs at most the chunk under way. Memory holds one
chunk, however long the input (the whole-file outputs, HTML and the like, aside).

Shards. Under torchrun or `accelerate launch` with N processes, chunk k is process k mod N's. Each
process reads the input through (reading is about 1% of tagging) and tags only its chunks, into
its own shard beside the output (`.out-00000-of-00002.jsonl.partial`, hidden: the shards are
working files); no result passes through another process. When all are done, the main process
merges the shards into `-o` in input order (the plan's chunk sizes say whose lines come next): a
sequential copy, seconds per gigabyte, which needs every shard on one file system, so on several
machines `-o` must be on a shared one. A chunk is tagged in a shard exactly as in one process, so
the merged file equals a one-process run's, byte for byte; a stopped run resumes shard by shard.
"""
from __future__ import annotations

import contextlib
import glob
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path

from arabic_ner.articles import Article, Articles, Skips
from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.errors import Stopped, UserError
from arabic_ner.files import ResumableLines, check_model_folder, check_output_files, write_files
from arabic_ner.messages import plural
from arabic_ner.model_card import model_version
from arabic_ner.progress import progress_bar
from arabic_ner.words import running_words

PARQUET_ROWS = 10_000  # records per Parquet row group written
CHUNK_WORDS = 20_000  # words tagged and written at once: 10-30 s of tagging on 2 CPU cores
LARGE = 100_000  # articles from which the whole-file outputs' memory is worth a note


def entities_type():
    """The Arrow type of an output record's `entities` (Parquet output, Ray): typed, not inferred,
    since a batch may hold no entity at all."""
    import pyarrow as pa

    entity = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string()),
                        ("score", pa.float64())])
    return pa.list_(entity)


@dataclass
class Plan:
    """The chunks of an input, from a first pass over it."""

    chunks: list[int]  # articles in each chunk, in input order
    words: int  # in all the articles

    @property
    def articles(self) -> int:
        return sum(self.chunks)

    def own(self, rank: int, processes: int) -> list[int]:
        """The sizes of the chunks process `rank` of `processes` tags."""
        return self.chunks[rank::processes]


def plan(articles: Articles, chunk_words: int) -> Plan:
    """Chunks of about `chunk_words` words (whole articles); nothing at all to tag is an error."""
    skips, chunks, size, count, words = Skips(), [], 0, 0, 0
    for article in articles.read(skips):
        n = running_words(article.text)
        size, count, words = size + 1, count + n, words + n
        if count >= chunk_words:
            chunks.append(size)
            size = count = 0
    if size:
        chunks.append(size)
    if not chunks:
        raise UserError(f"nothing to tag: {skips.summary()}")
    return Plan(chunks, words)


def cut(articles: Iterable[Article], sizes: list[int]) -> Iterator[list[Article]]:
    """`articles` in consecutive chunks of `sizes`, read to the end (a bad record after the last
    article is skipped, and said, like any other); articles more or fewer than planned mean the
    input changed since: an error, not an output silently short or long."""
    stream = iter(articles)
    for size in sizes:
        chunk = list(islice(stream, size))
        if len(chunk) < size:
            raise UserError(f"the inputs changed while being tagged ({sum(sizes):,} articles planned, fewer read); "
                            f"run again")
        yield chunk
    if next(stream, None) is not None:
        raise UserError(f"the inputs changed while being tagged ({sum(sizes):,} articles planned, more read); "
                        f"run again")


def numerics(predictor, device: str, batch_size: int, chunk_words: int, compile: bool = False,
             processes: int = 1) -> dict:
    """What decides a tagging's bytes besides the model and the inputs: a resumed tagging must
    match the interrupted one on all of it (another device or kernel would mix two numerics in one
    output; another chunking would not end where the interrupted run's chunks ended)."""
    import torch

    from arabic_ner.int8 import int8_layers

    return {"batch size": batch_size, "device": device, "compile": compile,
            "int8 kernel": next((layer.kernel for layer in int8_layers(predictor.model)), None),
            "chunk words": chunk_words, "processes": processes, "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def shard_path(output: Path, rank: int, processes: int) -> Path:
    """Process `rank`'s shard of `output`: `out.jsonl` -> `out-00001-of-00004.jsonl`."""
    return output.with_name(f"{output.stem}-{rank:05d}-of-{processes:05d}.jsonl")


def jsonl_line(article: Article, entities: list[dict]) -> str:
    """One line of the JSONL output: the same bytes whether written at once, in chunks or resumed.
    (`default=str`: a Parquet input's dates and times are written as their text.)"""
    return json.dumps(article.output(entities), ensure_ascii=False, default=str) + "\n"


@dataclass
class Outcome:
    found: int  # entities this process found
    resumed: int  # articles of this process's chunks kept from the interrupted run
    results: list[list[dict]]  # every article's entities, when `keep` asked for them


def tag_chunks(predictor, articles: Articles, plan: Plan, sink: ResumableLines | None, skips: Skips,
               keep: bool = False, rank: int = 0, processes: int = 1) -> Outcome:
    """Tag this process's chunks and write each as it is done: to `sink`, or stdout without one.
    `keep`: also return every article's entities (the whole-file outputs need them all). The caller
    closes `sink`, once the output has its name."""
    own = plan.own(rank, processes)
    resumed = sink.records if sink else 0
    if resumed and resumed not in set(accumulate(own)):
        raise UserError(f"{sink.path}: --resume: the interrupted run wrote {resumed:,} articles, which ends no "
                        f"chunk of these inputs: they changed; delete {sink.partial} and {sink.manifest} to start over")
    results = [json.loads(line)["entities"] for line in sink.done()] if keep and resumed else []
    found = passed = 0  # passed: articles of this process's chunks met so far
    bar = progress_bar(total=sum(own), initial=resumed, unit="article", disable=rank != 0)
    try:
        for k, chunk in enumerate(cut(articles.read(skips), plan.chunks)):
            if k % processes != rank:
                continue
            passed += len(chunk)
            if passed <= resumed:
                continue
            tagged = []
            for entities in predictor.predict_iter(a.text for a in chunk):
                tagged.append(entities)
                bar.update(1)
            lines = [jsonl_line(a, e) for a, e in zip(chunk, tagged)]
            if sink:
                sink.append(lines)
            else:
                sys.stdout.write("".join(lines))
                sys.stdout.flush()
            found += sum(map(len, tagged))
            if keep:
                results += tagged
    except Stopped:
        bar.close()
        if sink and sink.records:
            print(f"\ninterrupted: {sink.records:,} of {plural(sum(own), 'article')} kept in {sink.partial}; "
                  f"the same command with --resume continues", file=sys.stderr)
        raise
    finally:
        bar.close()
    if sink:
        sink.written()
    return Outcome(found, resumed, results)


def check_shards(shards: list[Path], plan: Plan) -> None:
    """Every process's shard holds all of its chunks (a process with no chunk, none), seen from here."""
    for rank, shard in enumerate(shards):
        state = ResumableLines.state_of(shard)
        if (state["records"] if state else 0) != sum(plan.own(rank, len(shards))):
            raise UserError(f"{ResumableLines.files_of(shard)[0]}: missing or incomplete, so the shards cannot be "
                            f"merged; on several machines -o must be on a file system they share")


def other_layouts(output: Path, processes: int) -> list[Path]:
    """Manifests an interrupted run of `output` with another number of processes left: its work
    resumes only with its own number (each process's chunks are every n-th)."""
    mine = {ResumableLines.files_of(p)[1] for p in
            ([shard_path(output, r, processes) for r in range(processes)] if processes > 1 else [output])}
    # the names `shard_path` gives, exactly: not another output's (`news-2024.jsonl` beside `news.jsonl`),
    # and the stem read as text, not as a pattern (`run[1].jsonl`)
    shard = re.compile(rf"\.{re.escape(output.stem)}-\d{{5}}-of-\d{{5}}\.jsonl\.partial\.json")
    shards = [m for m in output.parent.glob(f".{glob.escape(output.stem)}-*") if shard.fullmatch(m.name)]
    found = [m for m in [*shards, ResumableLines.files_of(output)[1]] if m.exists() and m not in mine]
    outputs = {m: m.with_name(m.name[1:-len(".partial.json")]) for m in found}  # `.NAME.partial.json` is NAME's
    # a live run's is no interrupted one, and one with no record is nothing to keep
    ResumableLines.refuse_if_written_now(list(outputs.values()))
    return sorted(m for m, path in outputs.items() if ResumableLines.state_of(path) is not None)


def merged_lines(partials: list[Path], chunks: list[int]) -> Iterator[bytes]:
    """The shards' lines in input order: chunk k's from shard k mod len(partials) (one partial: its
    lines, each chunk checked whole)."""
    files = [open(p, "rb") for p in partials]  # noqa: SIM115 (all open at once; closed below)
    try:
        for k, size in enumerate(chunks):
            shard = files[k % len(files)]
            for _ in range(size):
                line = shard.readline()  # splits at b"\n" only: JSON leaves U+2028 raw in strings
                if not line.endswith(b"\n"):
                    raise UserError(f"{partials[k % len(files)]}: shorter than its chunks; rerun with --resume")
                yield line
    finally:
        for file in files:
            file.close()


def write_lines(lines: Callable[[], Iterable[bytes]]) -> Callable[[Path], None]:
    """A `files.write_files` writer of a JSONL output larger than memory."""
    def write(path: Path) -> None:
        with open(path, "wb") as file:
            file.writelines(lines())
    return write


def write_parquet(lines: Callable[[], Iterable[bytes]], records_at: Path) -> Callable[[Path], None]:
    """A `files.write_files` writer of the output records as Parquet, PARQUET_ROWS to a row group.
    A first pass settles each column's type over all records: a column null in the first rows and
    text later is text, and one whose values differ in kind (ids that are numbers in some records
    and text in others) is written as text. `entities` is typed explicitly (a batch may have none).
    Should Arrow still refuse, the message names `records_at`, where the records are complete."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def batches() -> Iterator[list[dict]]:
        rows = (json.loads(line) for line in lines())
        while batch := list(islice(rows, PARQUET_ROWS)):
            yield batch

    def write(path: Path) -> None:
        kinds: dict[str, set] = {}
        for batch in batches():
            for row in batch:
                for key, value in row.items():
                    kinds.setdefault(key, set()).add(type(value))
        as_text = {k for k, types in kinds.items() if len(types - {type(None)}) > 1 and k != "entities"}

        def table(batch: list[dict], schema=None):
            rows = [{k: (json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else str(v))
                     if k in as_text and v is not None else v for k, v in row.items() if k != "entities" or schema}
                    for row in batch]
            return pa.Table.from_pylist(rows, schema=schema)

        try:
            schema = pa.unify_schemas([table(batch).schema for batch in batches()], promote_options="permissive")
            schema = schema.append(pa.field("entities", entities_type()))
            with pq.ParquetWriter(path, schema) as writer:
                for batch in batches():
                    writer.write_table(table(batch, schema))
        except pa.ArrowException as exc:  # ArrowInvalid, ArrowTypeError, ArrowNotImplementedError (a field always {})
            raise UserError(f"cannot write Parquet ({str(exc)[:200]}); the tagged records are complete in "
                            f"{records_at} (JSONL): rename it to keep them") from None
    return write


@dataclass
class PredictJob:
    """What `predict.py` is asked (its options, under the same names)."""

    model_dir: Path
    inputs: list[str]  # .txt files, folders, .jsonl, .parquet or .arrow files, or - for stdin
    output: Path | None = None  # -o: JSONL, or Parquet for a .parquet name; None: JSONL on stdout
    conll: Path | None = None
    labelstudio: Path | None = None
    html: Path | None = None
    text_field: str = "text"
    batch_size: int = WINDOWS_PER_PASS
    device: str | None = None
    int8: bool = False
    force: bool = False  # with int8: int8 even where the start-up check finds it slower
    resume: bool = False
    chunk_words: int = CHUNK_WORDS
    compile: bool | None = None  # None: where it pays off (compiled.worth_compiling)

    def __post_init__(self) -> None:  # a notebook's strings, as the command line's Paths
        for name in ("model_dir", "output", "conll", "labelstudio", "html"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)))


def predict(job: PredictJob) -> int:
    """Tag every article of `job.inputs` into the outputs asked for, resumably, on this process or
    its share of several (torchrun, `accelerate launch`); says what it did on stderr. The exit
    status: 1 where an input or record was skipped, else 0; bad options and inputs are UserErrors."""
    check_model_folder(job.model_dir)
    check_batch_size(job.batch_size)
    if job.chunk_words < 1:
        raise UserError(f"--chunk-words {job.chunk_words}: must be at least 1")
    if job.resume and not job.output:
        raise UserError("--resume continues an -o output: add -o with the interrupted run's file")
    if job.force and not job.int8:
        raise UserError("--force goes with --int8 (int8 even where it is slower here); add --int8 or drop --force")

    from arabic_ner.model import ModelSettings  # torch and transformers: loaded once the options are checked

    ModelSettings.load(job.model_dir)  # a wrong folder is said first, not after reading the inputs
    articles = Articles(job.inputs, job.text_field)
    check_output_files({"-o": job.output, "--conll": job.conll, "--labelstudio": job.labelstudio,
                        "--html": job.html}, [f for files in articles.files.values() for f in files],
                       keep_out_of={"the model folder": job.model_dir})

    from accelerate import PartialState
    from accelerate.utils import gather_object, parse_flag_from_env

    from arabic_ner.compiled import worth_compiling
    from arabic_ner.device import choose_device
    from arabic_ner.predictor import Predictor
    from arabic_ner.progress import say

    # As accelerate's Accelerator does (training): without it, processes started by torchrun on a
    # machine with no GPU would each run alone and tag everything.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    processes, rank = state.num_processes, state.process_index
    if processes > 1 and not job.output:
        raise UserError("several processes each write their share beside the -o file: add -o")
    # an interrupted run to continue, or one not to overwrite: said before any work
    sinks = [shard_path(job.output, r, processes) for r in range(processes)] if processes > 1 else \
        [job.output] if job.output else []
    if job.output and (elsewhere := other_layouts(job.output, processes)):
        raise UserError(f"{elsewhere[0]}: an interrupted run of {job.output} with another number of processes left "
                        f"records; resume it with as many as it had, or delete {plural(len(elsewhere), 'such file')} "
                        f"and the .partial files beside them to start over")
    interrupted = ResumableLines.interrupted(sinks, job.resume) if sinks else None
    if processes > 1:  # no process may start writing before every one has looked
        state.wait_for_everyone()
    work = plan(articles, job.chunk_words)  # the input's chunks, articles and words
    keep = bool(job.conll or job.labelstudio or job.html)  # whole-file outputs: every result kept
    if keep and work.articles > LARGE and state.is_main_process:
        print(f"note: --conll, --labelstudio and --html are written whole at the end: all {work.articles:,} "
              f"articles and their entities are held in memory then; -o alone is written as it goes", file=sys.stderr)

    device = choose_device(job.device, job.int8, state)
    # each process tags its share: that share has to repay the compiling
    compile = worth_compiling(work.words // processes, device, job.int8) if job.compile is None else job.compile
    if compile and state.is_main_process:
        why = "" if job.compile else f"; {work.words:,} words to tag repay it, --no-compile to skip"
        print(f"compiling the model (about 30 s on 2 CPU cores{why})", file=sys.stderr)
    int8 = job.int8
    if interrupted and job.int8:  # the interrupted run's kernel (or fp32), not a new probe's: the same bytes
        int8 = interrupted["fingerprint"].get("int8 kernel") or False
    predictor = Predictor.from_folder(job.model_dir, device, job.batch_size, int8,
                                      accelerator=state if processes > 1 else None, compile=compile,
                                      warn_if_compile_fails=job.compile is None, force_int8=job.force,
                                      share_batches=False)
    started = time.time()
    mine = sinks[rank] if sinks else None
    # a shard its process had not written to yet starts afresh in a resumed run
    sink = ResumableLines(mine, _fingerprint(job, articles, device, compile, predictor, processes),
                          resume=ResumableLines.state_of(mine) is not None) if mine else None
    skips = Skips(say if state.is_main_process else None)  # every process reads all: the main one says
    # the sink's lock holds until the output has its name: no second run takes the records over before
    # (under several processes the others' locks go as they end; the main one's shard keeps the output's)
    with sink or contextlib.nullcontext():
        outcome = tag_chunks(predictor, articles, work, sink, skips, keep and processes == 1, rank, processes)
        found, resumed = outcome.found, outcome.resumed
        if processes > 1:
            found, resumed = (sum(part) for part in zip(*gather_object([(found, resumed)])))
            # every shard is complete; the group goes before the merge, which may outlast its timeouts
            state.wait_for_everyone()
            state.destroy_process_group()
        if state.is_main_process:
            try:
                _finish(job, articles, work, sinks, outcome.results if processes == 1 else None, predictor)
            except Stopped:
                if any(ResumableLines.state_of(path) for path in sinks):  # stopped before the output took its name
                    print(f"\nevery article is tagged; the same command with --resume writes {job.output}",
                          file=sys.stderr)
                raise
            seconds = time.time() - started
            print(f"tagged {plural(work.articles - resumed, 'article')} ({plural(work.words, 'word')} in all) "
                  f"in {seconds:.1f} s, {plural(found, 'entity', 'entities')}"
                  + (f" on {processes} processes" if processes > 1 else "")
                  + (f"; {plural(resumed, 'article')} before it from the interrupted run" if resumed else ""),
                  file=sys.stderr)
            if skips.count > len(skips.shown):
                print(f"skipped {plural(skips.count, 'input or record', 'inputs or records')} in all, "
                      f"the first {len(skips.shown)} said above", file=sys.stderr)
    # The main process says skips; another's exit status 1 would make torchrun stop the main one mid-merge.
    return 1 if skips.count and state.is_main_process else 0


def _finish(job: PredictJob, articles, plan: Plan, sinks: list[Path], results: list | None, predictor) -> None:
    """The outputs under their names, all together (`files.write_files`): `-o` from the one
    process's partial file (renamed, or converted to Parquet) or merged from every process's shard;
    the whole-file outputs from `results`, or from `-o`'s records."""

    if len(sinks) > 1:
        check_shards(sinks, plan)
    partials, manifests = zip(*map(ResumableLines.files_of, sinks)) if sinks else ((), ())

    def lines():  # the records in input order: one process's partial file, or every process's shard
        return merged_lines(list(partials), plan.chunks)

    files = {}
    if job.conll or job.labelstudio or job.html:
        if results is None:
            results = [json.loads(line)["entities"] for line in lines()]
        files = _other_outputs(job, list(articles.read(Skips())), results, predictor.settings.entity_types)
    # the manifests go first: a partial file without one is nothing, a manifest without its file an error
    if not job.output:
        write_files(files)
    elif job.output.suffix == ".parquet":
        records_at = partials[0] if len(partials) == 1 else f"{', '.join(map(str, partials))} (shards)"
        write_files({job.output: write_parquet(lines, records_at), **files}, removals=(*manifests, *partials))
    elif len(partials) == 1:
        write_files(files, renames={partials[0]: job.output}, removals=manifests)
    else:
        write_files({job.output: write_lines(lines), **files}, removals=(*manifests, *partials))


def _fingerprint(job: PredictJob, articles, device: str, compile: bool, predictor, processes: int) -> dict:
    """What decides the output's bytes: a resumed run must match the interrupted one on all of it."""
    def stamp(path: Path) -> list:
        info = path.stat()
        return [str(path.resolve()), info.st_size, info.st_mtime_ns]

    inputs = []
    for item in job.inputs:  # stdin, one article read whole, by its content
        inputs += [stamp(f) for f in articles.files[item]] if item != "-" else [["-", articles.stdin_digest()]]
    return {"model": [stamp(f) for f in sorted(job.model_dir.iterdir()) if f.is_file()], "inputs": inputs,
            "text field": job.text_field,
            **numerics(predictor, device, job.batch_size, job.chunk_words, compile, processes)}


def _other_outputs(job: PredictJob, articles, results, entity_types) -> dict:
    """The whole-file outputs asked for (CoNLL, Label Studio, HTML): path -> content."""
    from arabic_ner.conll import to_conll
    from arabic_ner.convert import to_labelstudio
    from arabic_ner.render import render_html

    records = [{"id": str(a.id), "text": a.text, "entities": e} for a, e in zip(articles, results)]
    files = {}
    if job.conll:
        files[job.conll] = to_conll(records)
    if job.labelstudio:
        files[job.labelstudio] = json.dumps(to_labelstudio(records, "predictions", model_version(job.model_dir)),
                                             ensure_ascii=False, indent=1)  # as the server names it
    if job.html:
        files[job.html] = render_html(records, entity_types, title=f"{job.model_dir}")
    return files
