"""Which sentences to annotate next: those the model is least sure of, from many stories.

    python -m arabic_ner.select MODEL_DIR ARTICLES... -o tasks.json [--n 200] [--keep-out FILE ...]

Every sentence of the articles (inputs as `predict.py` reads them) is tagged, and ranked by how
sure the model was of it, least sure first (`--by`, predictor.SURENESS): `entropy` (the default,
predictor.DEFAULT_SURENESS: it ordered best in the news simulation, benchmarks/active_learning.py),
1 minus the mean entropy of its words' tag distributions; or `margin`, the gap between the two
likeliest tags' probabilities at its least certain word: one unsure word is enough, so a long
sentence, with more words to be unsure of, tends to rank higher. Going down that list, a sentence is
taken unless its article already gave `--per-article` sentences or it retells one already taken
(the same wire sentence in another paper: half its 4-grams shared, `stories.same_story`), so that the
batch is not many copies of one story. Articles in `--keep-out` (a `.txt` of ids, or annotated
`.jsonl` naming `article`), and any article retelling one, are never offered; nor is a sentence
already annotated there. Output: Label Studio tasks with the model's entities as predictions
(`score`: the sureness) to correct, in the order chosen; `--jsonl` also writes them as corpus records
(with `sureness`).
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from arabic_ner.articles import Article, Articles, Skips, read_kept_out
from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.convert import to_labelstudio
from arabic_ner.corpus import jsonl_text
from arabic_ner.errors import UserError, run_cli
from arabic_ner.files import check_output_files, write_files
from arabic_ner.messages import plural
from arabic_ner.progress import progress_bar
from arabic_ner.stories import KeptOut, four_grams, same_story
from arabic_ner.words import running_words

MIN_WORDS = 6  # shorter "sentences" are mostly datelines, captions and headlines
# Two sentences are one retold when this share of the shorter one's word 4-grams is in the other:
# stricter than the articles' STORY_OVERLAP, since formulaic openers ("وقال المتحدث الأمني بشرطة
# منطقة") alone share a tenth of a short sentence's 4-grams across different incidents.
RETOLD_OVERLAP = 0.5


def candidates(articles: list[Article], kept: KeptOut) -> list[dict]:
    """The sentences that may be offered: `{"id", "article", "text"}`."""
    out = []
    for article in articles:
        if kept.keeps_out(str(article.id), article.text):
            continue
        out += [record for _, _, record in article.sentences()
                if running_words(record["text"]) >= MIN_WORDS and not kept.keeps_out_sentence(record["text"])]
    return out


def choose(sentences: list[dict], sureness: list[float], n: int, per_article: int) -> list[int]:
    """Indices of up to `n` sentences, least sure first, at most `per_article` from one article and
    none retelling one already taken."""
    taken, grams, per = [], [], Counter()
    for i in sorted(range(len(sentences)), key=lambda i: (sureness[i], i)):
        if len(taken) == n:
            break
        mine = four_grams(sentences[i]["text"])
        if per[sentences[i]["article"]] >= per_article or any(same_story(mine, g, RETOLD_OVERLAP) for g in grams):
            continue
        taken.append(i)
        grams.append(mine)
        per[sentences[i]["article"]] += 1
    return taken


def main() -> int:
    from arabic_ner.predictor import DEFAULT_SURENESS, SURENESS  # torch with it: this command loads a model anyway

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("inputs", nargs="+", help="unlabelled articles: JSONL, .txt files or folders, Parquet")
    parser.add_argument("-o", "--output", type=Path, required=True, help="Label Studio tasks (JSON) to import")
    parser.add_argument("--n", type=int, default=200, help="sentences to choose (default: %(default)s)")
    parser.add_argument("--per-article", type=int, default=2, help="from one article at most (default: %(default)s)")
    parser.add_argument("--keep-out", nargs="+", default=[], metavar="FILE",
                        help="article ids (.txt) or annotated corpora (.jsonl) never to offer, with their retellings")
    parser.add_argument("--jsonl", type=Path, help="also the chosen sentences as corpus records, entities predicted")
    parser.add_argument("--by", choices=list(SURENESS), default=DEFAULT_SURENESS,
                        help="how sureness is measured (default: %(default)s): "
                             + "; ".join(f"{k}: {v}" for k, v in SURENESS.items()))
    parser.add_argument("--batch-size", type=int, default=WINDOWS_PER_PASS,
                        help="windows per forward pass (default: %(default)s)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1, ... (default: cuda when present, else cpu)")
    args = parser.parse_args()
    if args.n < 1 or args.per_article < 1:
        raise UserError("--n and --per-article: at least 1")
    check_batch_size(args.batch_size)
    check_output_files({"-o": args.output, "--jsonl": args.jsonl},
                       inputs=[Path(i) for i in args.inputs + args.keep_out],
                       keep_out_of={"the model folder": args.model_dir})

    from arabic_ner.device import choose_device
    from arabic_ner.model import model_version
    from arabic_ner.predictor import Predictor

    device = choose_device(args.device)
    skips = Skips(say=lambda m: print(m, file=sys.stderr))
    articles = list(Articles(args.inputs).read(skips))
    kept = read_kept_out(args.keep_out, {str(a.id): a.text for a in articles})
    sentences = candidates(articles, kept)
    if not sentences:
        raise UserError(f"no sentence to offer among {plural(len(articles), 'article')} (all kept out, or too short)")
    predictor = Predictor.from_folder(args.model_dir, device, batch_size=args.batch_size)
    tagged = []
    with progress_bar(total=len(sentences), unit="sentence", desc="tagging", leave=False) as bar:
        for result in predictor.predict_iter((s["text"] for s in sentences), sureness=args.by):
            tagged.append(result)
            bar.update(1)
    chosen = choose(sentences, [sure for _, sure in tagged], args.n, args.per_article)
    records = [{**sentences[i], "entities": tagged[i][0], "sureness": round(tagged[i][1], 4)} for i in chosen]
    tasks = to_labelstudio(records, "predictions", model_version(args.model_dir))  # as the server names it
    for task, record in zip(tasks, records):
        task["predictions"][0]["score"] = record["sureness"]
    files = {args.output: json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"}
    if args.jsonl:
        files[args.jsonl] = jsonl_text(records)
    write_files(files)
    print(f"{plural(len(records), 'sentence')} chosen of {len(sentences):,} from "
          f"{len({r['article'] for r in records})} articles (sureness by {args.by} {records[0]['sureness']:.3f} to "
          f"{records[-1]['sureness']:.3f}) -> {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_cli(main)
