"""Tagging a corpus into files: in chunks, each written as it finishes; resumable after any stop;
under several processes, each process tagging its own chunks into its own shard.

Chunks. A first pass over the input (`plan`) cuts the articles into runs of about `chunk_words`
words. The cut is a function of the input alone, so a resumed run cuts the same chunks, tags the
same batches and writes the same bytes as the interrupted one. A chunk is tagged, then written and
flushed whole (`files.ResumableLines`): a stop costs at most the chunk under way. Memory holds one
chunk, however long the input.

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

import json
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
    skips: Skips  # inputs and records that will be skipped

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
    return Plan(chunks, words, skips)


def cut(articles: Iterable[Article], sizes: list[int]) -> Iterator[list[Article]]:
    """`articles` in consecutive chunks of `sizes`; read to the end (a bad record after the last
    article is skipped, and said, like any other)."""
    stream = iter(articles)
    for size in sizes:
        chunk = list(islice(stream, size))
        if not chunk:
            return
        yield chunk
    for _ in stream:  # none, unless the input grew since it was planned: not tagged
        pass


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
    `keep`: also return every article's entities (the whole-file outputs need them all)."""
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
            sink.close()
    return Outcome(found, resumed, results)


def merged_lines(partials: list[Path], chunks: list[int]) -> Iterator[bytes]:
    """The shards' lines in input order: chunk k's from shard k mod len(partials)."""
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


def write_parquet(lines: Callable[[], Iterable[bytes]]) -> Callable[[Path], None]:
    """A `files.write_files` writer of the output records as Parquet, PARQUET_ROWS to a row group.
    A first pass settles each column's type over all records (a column null in the first rows and
    text later is text); `entities` is typed explicitly (no record may have any)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def batches() -> Iterator[list[dict]]:
        rows = (json.loads(line) for line in lines())
        while batch := list(islice(rows, PARQUET_ROWS)):
            yield batch

    def write(path: Path) -> None:
        try:
            schemas = [pa.Table.from_pylist([{k: v for k, v in r.items() if k != "entities"} for r in batch]).schema
                       for batch in batches()]
            schema = pa.unify_schemas(schemas, promote_options="permissive").append(
                pa.field("entities", entities_type()))
            with pq.ParquetWriter(path, schema) as writer:
                for batch in batches():
                    writer.write_table(pa.Table.from_pylist(batch, schema=schema))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise UserError(f"cannot write Parquet: a field's type differs between records ({str(exc)[:200]}); "
                            f"write JSONL instead") from None
    return write
