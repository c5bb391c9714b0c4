"""Tag articles with a trained model: `python predict.py MODEL_DIR INPUT... [-o OUT.jsonl]`.

INPUT is a .txt file (one article), a folder (its .txt files, recursively), a .jsonl, .parquet or
.arrow file (one article per record, text in --text-field, other fields carried to the output) or
`-` for stdin. Each output record is `{"id": ..., "entities": [{"start", "end", "label", "text",
"score"}]}` with offsets into the article exactly as read (`text == article[start:end]`): JSONL,
or Parquet for an -o ending in .parquet. Optional outputs: CoNLL (word, tag), Label Studio tasks
with the entities as predictions to correct, and an HTML page; these are written whole at the end.

Inputs are read lazily and tagged in chunks of about --chunk-words words, each written as it
finishes (arabic_ner/tagging.py): `-o` grows in a hidden `.NAME.partial` beside it, each chunk
flushed to disk whole, and gets its name when complete; stdout gets each chunk as it is done.
After any stop (Ctrl-C exit 130, SIGTERM exit 143, a kill, a crash), the same command with
--resume continues after the last complete chunk and writes the same file an uninterrupted run
would. A record or input that cannot be read (not UTF-8, not JSON, no text field) is said with its
file and line and skipped: exit status 1 at the end; 2 when there is nothing at all to tag. Under
torchrun or `accelerate launch`, each process tags every n-th chunk into its own shard and the
main process merges them into -o in input order at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.errors import Stopped, UserError
from arabic_ner.messages import plural
from arabic_ner.tagging import CHUNK_WORDS

LARGE = 100_000  # articles from which the whole-file outputs' memory is worth a note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by train.py (run/best or run/last)")
    parser.add_argument("inputs", nargs="+", help=".txt files, folders, .jsonl, .parquet or .arrow files, or - for stdin")
    parser.add_argument("-o", "--output", type=Path, help="JSONL file to write, or Parquet if it ends in .parquet "
                                                          "(default: JSONL on stdout)")
    parser.add_argument("--conll", type=Path, help="also write word<TAB>tag lines, a blank line between articles")
    parser.add_argument("--labelstudio", type=Path, help="also write Label Studio tasks with the entities as predictions")
    parser.add_argument("--html", type=Path, help="also write a self-contained HTML page of the tagged articles")
    parser.add_argument("--text-field", default="text", help="field holding the text in .jsonl, .parquet and .arrow inputs (default: text)")
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: cuda when present and not --int8, else cpu)")
    parser.add_argument("--int8", action="store_true",
                        help="int8 matrix multiplies in the Linear layers, CPU only: 1.1-2x faster where this CPU has "
                             "a fast int8 kernel, which a start-up check (0.2-0.7 s) finds; else fp32, said on stderr")
    parser.add_argument("--force", action="store_true", help="with --int8: int8 even where the start-up check finds it slower")
    parser.add_argument("--resume", action="store_true",
                        help="continue an interrupted run's -o output after its last complete chunk")
    parser.add_argument("--chunk-words", type=int, default=CHUNK_WORDS,
                        help=f"words per chunk written at once (default: {CHUNK_WORDS:,}, a few seconds to a minute "
                             f"of tagging): what a stop can cost; --resume needs the interrupted run's value")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the model first: ~30 s more start-up, then 10-20%% faster (default: "
                             "on for fp32 on the CPU from 400,000 words of input per process, where it pays off)")
    args = parser.parse_args()
    if not args.model_dir.is_dir():
        raise UserError(f"{args.model_dir}: no such model folder")
    check_batch_size(args.batch_size)
    if args.chunk_words < 1:
        raise UserError(f"--chunk-words {args.chunk_words}: must be at least 1")
    if args.resume and not args.output:
        raise UserError("--resume continues an -o output: add -o with the interrupted run's file")
    if args.force and not args.int8:
        raise UserError("--force goes with --int8 (int8 even where it is slower here); add --int8 or drop --force")

    from arabic_ner.articles import Articles, Skips
    from arabic_ner.files import ResumableLines, check_output_files
    from arabic_ner.model import ModelSettings

    ModelSettings.load(args.model_dir)  # a wrong folder is said first, not after reading the inputs
    articles = Articles(args.inputs, args.text_field)
    check_output_files({"-o": args.output, "--conll": args.conll, "--labelstudio": args.labelstudio,
                        "--html": args.html}, [f for files in articles.files.values() for f in files],
                       keep_out_of={"the model folder": args.model_dir})

    from accelerate import PartialState
    from accelerate.utils import gather_object, parse_flag_from_env

    from arabic_ner import tagging
    from arabic_ner.compiled import worth_compiling
    from arabic_ner.device import choose_device
    from arabic_ner.predictor import Predictor
    from arabic_ner.progress import say

    # As accelerate's Accelerator does (training): without it, processes started by torchrun on a
    # machine with no GPU would each run alone and tag everything.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    processes, rank = state.num_processes, state.process_index
    if processes > 1 and not args.output:
        raise UserError("several processes each write their share beside the -o file: add -o")
    # an interrupted run to continue, or one not to overwrite: said before any work
    sinks = [tagging.shard_path(args.output, r, processes) for r in range(processes)] if processes > 1 else \
        [args.output] if args.output else []
    if args.output and (elsewhere := tagging.other_layouts(args.output, processes)):
        raise UserError(f"{elsewhere[0]}: an interrupted run of {args.output} with another number of processes left "
                        f"records; resume it with as many as it had, or delete {plural(len(elsewhere), 'such file')} "
                        f"and the .partial files beside them to start over")
    interrupted = ResumableLines.interrupted(sinks, args.resume) if sinks else None
    if processes > 1:  # no process may start writing before every one has looked
        state.wait_for_everyone()
    plan = tagging.plan(articles, args.chunk_words)
    keep = bool(args.conll or args.labelstudio or args.html)  # whole-file outputs: every result kept
    if keep and plan.articles > LARGE and state.is_main_process:
        print(f"note: --conll, --labelstudio and --html are written whole at the end: all {plan.articles:,} "
              f"articles and their entities are held in memory then; -o alone is written as it goes", file=sys.stderr)

    device = choose_device(args.device, args.int8, state)
    # each process tags its share: that share has to repay the compiling
    compile = worth_compiling(plan.words // processes, device, args.int8) if args.compile is None else args.compile
    if compile and state.is_main_process:
        why = "" if args.compile else f"; {plan.words:,} words to tag repay it, --no-compile to skip"
        print(f"compiling the model (about 30 s on 2 CPU cores{why})", file=sys.stderr)
    int8 = args.int8
    if interrupted and args.int8:  # the interrupted run's kernel (or fp32), not a new probe's: the same bytes
        int8 = interrupted["fingerprint"].get("int8 kernel") or False
    predictor = Predictor.from_folder(args.model_dir, device, args.batch_size, int8,
                                      accelerator=state if processes > 1 else None, compile=compile,
                                      warn_if_compile_fails=args.compile is None, force_int8=args.force,
                                      share_batches=False)
    started = time.time()
    mine = sinks[rank] if sinks else None
    # a shard its process had not written to yet starts afresh in a resumed run
    sink = ResumableLines(mine, _fingerprint(args, articles, device, compile, predictor, processes),
                          resume=ResumableLines.state_of(mine) is not None) if mine else None
    skips = Skips(say if state.is_main_process else None)  # every process reads all: the main one says
    # the sink's lock holds until the output has its name: no second run takes the records over before
    # (under several processes the others' locks go as they end; the main one's shard keeps the output's)
    with sink or contextlib.nullcontext():
        outcome = tagging.tag_chunks(predictor, articles, plan, sink, skips, keep and processes == 1, rank, processes)
        found, resumed = outcome.found, outcome.resumed
        if processes > 1:
            found, resumed = (sum(part) for part in zip(*gather_object([(found, resumed)])))
            # every shard is complete; the group goes before the merge, which may outlast its timeouts
            state.wait_for_everyone()
            state.destroy_process_group()
        if state.is_main_process:
            try:
                _finish(args, articles, plan, sinks, outcome.results if processes == 1 else None, predictor)
            except Stopped:
                if any(ResumableLines.state_of(path) for path in sinks):  # stopped before the output took its name
                    print(f"\nevery article is tagged; the same command with --resume writes {args.output}",
                          file=sys.stderr)
                raise
            seconds = time.time() - started
            print(f"tagged {plural(plan.articles - resumed, 'article')} ({plural(plan.words, 'word')} in all) "
                  f"in {seconds:.1f} s, {plural(found, 'entity', 'entities')}"
                  + (f" on {processes} processes" if processes > 1 else "")
                  + (f"; {plural(resumed, 'article')} before it from the interrupted run" if resumed else ""),
                  file=sys.stderr)
            if skips.count > len(skips.shown):
                print(f"skipped {plural(skips.count, 'input or record', 'inputs or records')} in all, "
                      f"the first {len(skips.shown)} said above", file=sys.stderr)
    # The main process says skips; another's exit status 1 would make torchrun stop the main one mid-merge.
    code = 1 if skips.count and state.is_main_process else 0
    if processes > 1:
        # gloo's threads outlive destroy_process_group here (gloo_tcp_loop and two pt_gloo_runloop were
        # alive at exit, the group still referenced), and a process whose C++ teardown meets them may
        # abort after its work ("terminate called without an active exception", SIGABRT: rank 1, in
        # two fresh-clone CI runs), which torchrun reports as the command failing. Every output is
        # closed and named by now: the processes end without that teardown.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _finish(args, articles, plan, sinks: list[Path], results: list | None, predictor) -> None:
    """The outputs under their names, all together (`files.write_files`): `-o` from the one
    process's partial file (renamed, or converted to Parquet) or merged from every process's shard;
    the whole-file outputs from `results`, or from `-o`'s records."""
    from arabic_ner.articles import Skips
    from arabic_ner.files import ResumableLines, write_files
    from arabic_ner.tagging import check_shards, merged_lines, write_lines, write_parquet

    if len(sinks) > 1:
        check_shards(sinks, plan)
    partials, manifests = zip(*map(ResumableLines.files_of, sinks)) if sinks else ((), ())

    def lines():  # the records in input order: one process's partial file, or every process's shard
        return merged_lines(list(partials), plan.chunks)

    files = {}
    if args.conll or args.labelstudio or args.html:
        if results is None:
            results = [json.loads(line)["entities"] for line in lines()]
        files = _other_outputs(args, list(articles.read(Skips())), results, predictor.settings.entity_types)
    # the manifests go first: a partial file without one is nothing, a manifest without its file an error
    if not args.output:
        write_files(files)
    elif args.output.suffix == ".parquet":
        records_at = partials[0] if len(partials) == 1 else f"{', '.join(map(str, partials))} (shards)"
        write_files({args.output: write_parquet(lines, records_at), **files}, removals=(*manifests, *partials))
    elif len(partials) == 1:
        write_files(files, renames={partials[0]: args.output}, removals=manifests)
    else:
        write_files({args.output: write_lines(lines), **files}, removals=(*manifests, *partials))


def _fingerprint(args, articles, device: str, compile: bool, predictor, processes: int) -> dict:
    """What decides the output's bytes: a resumed run must match the interrupted one on all of it."""
    from arabic_ner.tagging import numerics

    def stamp(path: Path) -> list:
        info = path.stat()
        return [str(path.resolve()), info.st_size, info.st_mtime_ns]

    inputs = []
    for item in args.inputs:  # stdin, one article read whole, by its content
        inputs += [stamp(f) for f in articles.files[item]] if item != "-" else [["-", articles.stdin_digest()]]
    return {"model": [stamp(f) for f in sorted(args.model_dir.iterdir()) if f.is_file()], "inputs": inputs,
            "text field": args.text_field,
            **numerics(predictor, device, args.batch_size, args.chunk_words, compile, processes)}


def _other_outputs(args, articles, results, entity_types) -> dict:
    """The whole-file outputs asked for (CoNLL, Label Studio, HTML): path -> content."""
    from arabic_ner.conll import to_conll
    from arabic_ner.convert import to_labelstudio
    from arabic_ner.model import model_version
    from arabic_ner.render import render_html

    records = [{"id": str(a.id), "text": a.text, "entities": e} for a, e in zip(articles, results)]
    files = {}
    if args.conll:
        files[args.conll] = to_conll(records)
    if args.labelstudio:
        files[args.labelstudio] = json.dumps(to_labelstudio(records, "predictions", model_version(args.model_dir)),
                                             ensure_ascii=False, indent=1)  # as the server names it
    if args.html:
        files[args.html] = render_html(records, entity_types, title=f"{args.model_dir}")
    return files
