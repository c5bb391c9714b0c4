"""Which sentences to annotate next: those the model is least sure of, from many stories.

    python -m arabic_ner select MODEL_DIR ARTICLES... -o tasks.json [--n 200] [--keep-out FILE ...]

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

import json
import sys
from collections import Counter
from pathlib import Path

from arabic_ner.articles import Article, Articles, Skips, read_kept_out, unknown_kept_out
from arabic_ner.config import WINDOWS_PER_PASS, check_batch_size
from arabic_ner.convert import to_labelstudio
from arabic_ner.corpus import jsonl_text
from arabic_ner.errors import UserError, moved_command
from arabic_ner.files import check_output_files, write_files
from arabic_ner.messages import plural
from arabic_ner.model_card import model_version
from arabic_ner.progress import progress_bar
from arabic_ner.stories import KeptOut, four_grams, same_story
from arabic_ner.words import running_words

MIN_WORDS = 6  # shorter "sentences" are mostly datelines, captions and headlines
# Two sentences are one retold when this share of the shorter one's word 4-grams is in the other:
# stricter than the articles' STORY_OVERLAP, since formulaic openers ("وقال المتحدث الأمني بشرطة
# منطقة") alone share a tenth of a short sentence's 4-grams across different incidents.
RETOLD_OVERLAP = 0.5
SENTENCES = 200  # chosen for one round of annotation
PER_ARTICLE = 2  # sentences from one article at most, so that a batch covers many stories


def select_sentences(model_dir: Path, inputs: list[str], output: Path, n: int = SENTENCES,
                     per_article: int = PER_ARTICLE, keep_out: list[str] = (), jsonl: Path | None = None,
                     by: str | None = None, batch_size: int = WINDOWS_PER_PASS, device: str | None = None) -> str:
    """Tag every sentence of `inputs`, choose `n` to annotate next, write them to `output` as Label
    Studio tasks (and to `jsonl` as corpus records); a line saying what was chosen."""
    if n < 1 or per_article < 1:
        raise UserError("--n and --per-article: at least 1")
    check_batch_size(batch_size)
    check_output_files({"-o": output, "--jsonl": jsonl}, inputs=[Path(i) for i in [*inputs, *keep_out]],
                       keep_out_of={"the model folder": model_dir})

    from arabic_ner.device import choose_device  # torch with them: only once the options are known good
    from arabic_ner.predictor import DEFAULT_SURENESS, Predictor

    by = by or DEFAULT_SURENESS
    device = choose_device(device)
    skips = Skips(say=lambda m: print(m, file=sys.stderr))
    articles = list(Articles(inputs, text_option=None).read(skips))
    kept = read_kept_out(keep_out, {str(a.id): a.text for a in articles})
    if warning := unknown_kept_out(kept, "--keep-out"):
        print(warning, file=sys.stderr)
    sentences = candidates(articles, kept)
    if not sentences:
        raise UserError(f"no sentence to offer among {plural(len(articles), 'article')} (all kept out, or too short)")
    predictor = Predictor.from_folder(model_dir, device, batch_size=batch_size)
    tagged = []
    with progress_bar(total=len(sentences), unit="sentence", desc="tagging", leave=False) as bar:
        for result in predictor.predict_iter((s["text"] for s in sentences), sureness=by):
            tagged.append(result)
            bar.update(1)
    chosen = choose(sentences, [sure for _, sure in tagged], n, per_article)
    records = [{**sentences[i], "entities": tagged[i][0], "sureness": round(tagged[i][1], 4)} for i in chosen]
    tasks = to_labelstudio(records, "predictions", model_version(model_dir))  # as the server names it
    for task, record in zip(tasks, records):
        task["predictions"][0]["score"] = record["sureness"]
    files = {output: json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"}
    if jsonl:
        files[jsonl] = jsonl_text(records)
    write_files(files)
    return (f"{plural(len(records), 'sentence')} chosen of {len(sentences):,} from "
            f"{len({r['article'] for r in records})} articles (sureness by {by} {records[0]['sureness']:.3f} to "
            f"{records[-1]['sureness']:.3f}) -> {output}")


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


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("select")
