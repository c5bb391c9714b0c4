"""Tag articles with a trained model: `python predict.py MODEL_DIR INPUT... [-o OUT.jsonl]`.

INPUT is a .txt file (one article), a folder (its .txt files, recursively), a .jsonl file (one
article per line, text in --text-field, other fields carried to the output) or `-` for stdin.
Each output line is `{"id": ..., "entities": [{"start", "end", "label", "text", "score"}]}` with
offsets into the article exactly as read (`text == article[start:end]`). Optional outputs: CoNLL
(word, tag), Label Studio tasks with the entities as predictions to correct, and an HTML page.
Articles are tagged in chunks of about --chunk-words words, each written as it finishes: `-o`
grows in a hidden `.NAME.partial` beside it (each chunk flushed to disk whole) and gets its name
when complete, together with the other outputs, which are written whole at the end; stdout gets
each chunk as it is done. After any stop (Ctrl-C exit 130, SIGTERM exit 143, a kill, a crash),
the same command with --resume continues after the last complete chunk and writes the same file
an uninterrupted run would. Exit status 1 when an input was
skipped (not UTF-8, binary), 2 when every input was. Under `accelerate launch` or torchrun the processes
share the batches and the main process writes the outputs in input order.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from arabic_ner.errors import Stopped, UserError
from arabic_ner.messages import plural

CHUNK_WORDS = 20_000  # words tagged and written at once: 10-30 s of tagging on 2 CPU cores


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="a model folder written by train.py (run/best or run/last)")
    parser.add_argument("inputs", nargs="+", help=".txt files, folders, .jsonl files or - for stdin")
    parser.add_argument("-o", "--output", type=Path, help="JSONL file to write (default: stdout)")
    parser.add_argument("--conll", type=Path, help="also write word<TAB>tag lines, a blank line between articles")
    parser.add_argument("--labelstudio", type=Path, help="also write Label Studio tasks with the entities as predictions")
    parser.add_argument("--html", type=Path, help="also write a self-contained HTML page of the tagged articles")
    parser.add_argument("--text-field", default="text", help="field holding the text in .jsonl inputs (default: text)")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per forward pass (default: 32)")
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
    if args.batch_size < 1:
        raise UserError(f"--batch-size {args.batch_size}: must be at least 1")
    if args.chunk_words < 1:
        raise UserError(f"--chunk-words {args.chunk_words}: must be at least 1")
    if args.resume and not args.output:
        raise UserError("--resume continues an -o output: add -o with the interrupted run's file")
    if args.force and not args.int8:
        raise UserError("--force goes with --int8 (int8 even where it is slower here); add --int8 or drop --force")

    from arabic_ner.articles import input_files, read_articles
    from arabic_ner.files import ResumableLines, check_output_files

    check_output_files({"-o": args.output, "--conll": args.conll, "--labelstudio": args.labelstudio,
                        "--html": args.html}, [f for item in args.inputs for f in input_files(item)])
    # an interrupted run to continue, or one not to overwrite: said before any work
    interrupted = ResumableLines.interrupted(args.output, args.resume) if args.output else None
    articles, skipped = read_articles(args.inputs, args.text_field)

    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    from arabic_ner.compiled import worth_compiling
    from arabic_ner.device import choose_device
    from arabic_ner.predictor import Predictor
    from arabic_ner.progress import progress_bar

    # As accelerate's Accelerator does (training): without it, processes started by torchrun on a
    # machine with no GPU would each run alone and tag everything.
    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    distributed = state.num_processes > 1
    if distributed and args.resume:
        raise UserError("--resume runs in one process for now; run the interrupted command again without "
                        "torchrun or accelerate launch, with --resume")
    device = choose_device(args.device, args.int8, state)
    texts = [a.text for a in articles]
    words = sum(len(t.split()) for t in texts)
    # each process tags its share: that share has to repay the compiling
    compile = worth_compiling(words // state.num_processes, device, args.int8) if args.compile is None else args.compile
    if compile and state.is_main_process:
        why = "" if args.compile else f"; {words:,} words to tag repay it, --no-compile to skip"
        print(f"compiling the model (about 30 s on 2 CPU cores{why})", file=sys.stderr)
    int8 = args.int8
    if interrupted and args.int8:  # the interrupted run's kernel (or fp32), not a new probe's: the same bytes
        int8 = interrupted["fingerprint"].get("int8 kernel") or False
    predictor = Predictor.from_folder(args.model_dir, device, args.batch_size, int8,
                                      accelerator=state if distributed else None, compile=compile,
                                      warn_if_compile_fails=args.compile is None, force_int8=args.force)
    started = time.time()
    if distributed:
        bar = progress_bar(total=len(texts), unit="article", disable=not state.is_main_process)
        results = []
        for entities in predictor.predict_iter(texts):
            results.append(entities)
            bar.update(1)
        bar.close()
        if state.is_main_process:
            _write_outputs(args, articles, results, predictor.settings.entity_types)
        found, resumed = sum(map(len, results)), 0
    else:
        found, resumed = _tag_in_chunks(args, predictor, articles, _fingerprint(args, device, compile, predictor))
    if state.is_main_process:
        seconds = time.time() - started
        print(f"tagged {plural(len(texts) - resumed, 'article')} ({plural(words, 'word')} in all) "
              f"in {seconds:.1f} s, {plural(found, 'entity', 'entities')}"
              + (f" on {state.num_processes} processes" if distributed else "")
              + (f"; {plural(resumed, 'article')} before it from the interrupted run" if resumed else ""),
              file=sys.stderr)
        for name, reason in skipped:
            print(f"skipped {name}: {reason}", file=sys.stderr)
    if distributed:  # left to interpreter exit, gloo's threads can abort a process (SIGABRT) after the work
        state.wait_for_everyone()
        state.destroy_process_group()
    return 1 if skipped else 0


def _chunks(articles: list, words: int) -> list[tuple[int, int]]:
    """(start, end) of consecutive runs of articles of about `words` words each: a function of the
    input alone, so that a resumed run cuts the same chunks and batches as the interrupted one."""
    spans, start, count = [], 0, 0
    for i, article in enumerate(articles):
        count += len(article.text.split())
        if count >= words:
            spans.append((start, i + 1))
            start, count = i + 1, 0
    if start < len(articles):
        spans.append((start, len(articles)))
    return spans


def _fingerprint(args, device: str, compile: bool, predictor) -> dict:
    """What decides the output's bytes: a resumed run must match the interrupted one on all of it."""
    from arabic_ner.articles import input_files
    from arabic_ner.int8 import int8_layers

    def stamp(path: Path) -> list:
        info = path.stat()
        return [str(path.resolve()), info.st_size, info.st_mtime_ns]

    import torch

    inputs = []
    for item in args.inputs:  # stdin cannot be checked: a resumed run trusts it is the same stream
        inputs += [stamp(f) for f in input_files(item)] if item != "-" else ["-"]
    return {"model": [stamp(f) for f in sorted(args.model_dir.iterdir()) if f.is_file()], "inputs": inputs,
            "text field": args.text_field, "batch size": args.batch_size, "device": device, "compile": compile,
            "int8 kernel": next((layer.kernel for layer in int8_layers(predictor.model)), None),
            "chunk words": args.chunk_words, "threads": torch.get_num_threads(), "torch": torch.__version__}


def _tag_in_chunks(args, predictor, articles, fingerprint: dict) -> tuple[int, int]:
    """Tag and write chunk by chunk (see the module's note); (entities found, articles resumed)."""
    from arabic_ner.files import ResumableLines, write_files
    from arabic_ner.progress import progress_bar

    keep = bool(args.conll or args.labelstudio or args.html)  # whole-file outputs: every result kept
    sink = ResumableLines(args.output, fingerprint, args.resume) if args.output else None
    resumed = sink.records if sink else 0
    results = [json.loads(line)["entities"] for line in sink.done()] if keep and resumed else []
    spans = _chunks(articles, args.chunk_words)
    if resumed and resumed not in {end for _, end in spans}:
        raise UserError(f"{args.output}: --resume: the interrupted run wrote {resumed:,} articles, which ends no "
                        f"chunk of these inputs: they changed; delete {sink.partial} and {sink.manifest} to start over")
    found = 0
    bar = progress_bar(total=len(articles), initial=resumed, unit="article")
    try:
        for start, end in spans:
            if end <= resumed:
                continue
            chunk, tagged = articles[start:end], []
            for entities in predictor.predict_iter([a.text for a in chunk]):
                tagged.append(entities)
                bar.update(1)
            lines = [_jsonl_line(a, e) for a, e in zip(chunk, tagged)]
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
            print(f"\ninterrupted: {sink.records:,} of {plural(len(articles), 'article')} kept in {sink.partial}; "
                  f"the same command with --resume continues", file=sys.stderr)
        raise
    finally:
        bar.close()
        if sink:
            sink.close()
    others = _other_outputs(args, articles, results, predictor.settings.entity_types) if keep else {}
    if sink:
        sink.finish(others)  # its file closed above: finish renames it
    else:
        write_files(others)
    return found, resumed


def _write_outputs(args, articles, results, entity_types) -> None:
    """Every output file, or none of them (several processes: the main one writes all at the end)."""
    from arabic_ner.files import write_files

    lines = "".join(_jsonl_line(a, e) for a, e in zip(articles, results))
    files = _other_outputs(args, articles, results, entity_types)
    if args.output:
        files[args.output] = lines
    write_files(files)
    if not args.output:
        sys.stdout.write(lines)


def _jsonl_line(article, entities: list[dict]) -> str:
    """One line of the JSONL output: the same bytes whether written at once, in chunks or resumed."""
    return json.dumps(article.output(entities), ensure_ascii=False) + "\n"


def _other_outputs(args, articles, results, entity_types) -> dict:
    """The whole-file outputs asked for (CoNLL, Label Studio, HTML): path -> content."""
    from arabic_ner.conll import to_conll
    from arabic_ner.convert import to_labelstudio
    from arabic_ner.render import render_html

    records = [{"id": str(a.id), "text": a.text, "entities": e} for a, e in zip(articles, results)]
    files = {}
    if args.conll:
        files[args.conll] = to_conll(records)
    if args.labelstudio:
        files[args.labelstudio] = json.dumps(to_labelstudio(records, "predictions", args.model_dir.name),
                                             ensure_ascii=False, indent=1)
    if args.html:
        files[args.html] = render_html(records, entity_types, title=f"{args.model_dir}")
    return files
