"""Tagging a corpus into files: in chunks, each written as it finishes; resumable after any stop;
under several processes, each process tagging its own chunks into its own shard.

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

import glob
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import accumulate, islice
from pathlib import Path

from arabic_ner.articles import Article, Articles, Skips
from arabic_ner.errors import Stopped, UserError
from arabic_ner.files import ResumableLines
from arabic_ner.messages import plural
from arabic_ner.progress import progress_bar

PARQUET_ROWS = 10_000  # records per Parquet row group written
CHUNK_WORDS = 20_000  # words tagged and written at once: 10-30 s of tagging on 2 CPU cores


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
        n = len(article.text.split())
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
