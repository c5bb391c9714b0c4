"""Choose the articles and paragraphs of the news corpus, and cut them into sentences to annotate.

    python data/news/select_sentences.py ../shared/corpora/saudinewsnet/security_articles.jsonl OUT.jsonl

Deterministic: the same input gives the same output. CASUALTY is the rarest type, so most
articles are those that mention people killed or wounded most often (a count of harm words); a
seeded random sample of the other articles keeps the real mix of topics and of sentences with no
entity. From each article the leading paragraphs are taken whole, up to a sentence budget, since
news leads carry the who-did-what-to-whom; a paragraph is never cut, and articles whose first
paragraph alone exceeds the budget (text without paragraph breaks) are passed over.

SaudiNewsNet holds the same wire story from several papers, so every record also gets `story`:
the first article id of its group of near-duplicates (articles whose chosen sentences retell one
story by `arabic_ner.stories.same_story`, joined transitively). Splits keep a story together.

It also holds what the later selections of more sentences (data/targeted, data/casualty,
data/forces, data/leads and the next batches by their rules, data/leads2 and data/casualty2)
share: which articles are still open to annotation, and the loop that picks single sentences
from them.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import defaultdict
from collections.abc import Callable
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from arabic_ner.articles import read_kept_out  # noqa: E402
from arabic_ner.sentences import split_sentences  # noqa: E402
from arabic_ner.stories import four_grams, same_story  # noqa: E402

# Matched anywhere in a word, so it also counts words that are no harm: `حتف` inside `احتفال`
# ("celebration") and `احتفاظ` ("keeping"). The annotators decide what is a casualty;
# the list stays as it is, since the shipped selections were made with it and reproduce from it.
HARM = re.compile(r"مقتل|قتل|قتلى|قتيل|إصاب|اصاب|جرح|جريح|مصرع|مصاب|استشهاد|شهيد|شهداء|ضحايا|حتف")
CASUALTY_RICH = 58  # articles taken by harm-word count, most first
OTHERS = 17  # articles drawn at random from the rest
SENTENCE_BUDGET = 10  # leading sentences per article, whole paragraphs only
MIN_SENTENCES = 5  # leading paragraphs must reach this many sentences
SEED = 2026


def paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of every non-blank line of `text`: SaudiNewsNet puts one paragraph per line."""
    spans, pos = [], 0
    for line in text.split("\n"):
        if line.strip():
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


def lead(article: dict) -> list[dict]:
    """Sentence records of the article's leading whole paragraphs, within SENTENCE_BUDGET."""
    text, records = article["text"], []
    for p, (start, end) in enumerate(paragraphs(text), 1):
        sentences = [(start + s, start + e) for s, e in split_sentences(text[start:end])]
        if records and len(records) + len(sentences) > SENTENCE_BUDGET:
            break
        if len(sentences) > SENTENCE_BUDGET:
            return []
        records += [{"id": f"{article['id']}-p{p:02d}-s{k}", "article": article["id"], "story": "", "paragraph": p,
                     "text": text[s:e], "entities": []} for k, (s, e) in enumerate(sentences, 1)]
    return records if len(records) >= MIN_SENTENCES else []


def select(articles: list[dict]) -> list[dict]:
    usable = {a["id"]: lead(a) for a in articles}
    usable = {k: v for k, v in usable.items() if v}
    ranked = sorted(usable, key=lambda k: -sum(len(HARM.findall(r["text"])) for r in usable[k]))
    rich = ranked[:CASUALTY_RICH]
    others = random.Random(SEED).sample(sorted(set(usable) - set(rich)), OTHERS)
    return [r for k in sorted(rich + others) for r in usable[k]]


def mark_stories(records: list[dict]) -> None:
    """Set `story` on each record: articles that retell the same wire story share one."""
    text = defaultdict(list)
    for r in records:
        text[r["article"]].append(r["text"])
    grams = {a: four_grams(" ".join(t)) for a, t in text.items()}
    story = {a: a for a in grams}

    def root(a: str) -> str:
        while story[a] != a:
            a = story[a]
        return a

    for a, b in combinations(sorted(grams), 2):
        if same_story(grams[a], grams[b]):
            story[max(root(a), root(b))] = min(root(a), root(b))
    for r in records:
        r["story"] = root(r["article"])


def write_records(records: list[dict], out: Path) -> None:
    with out.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def open_to_annotation(saudinewsnet: Path, annotated: list[Path]) -> tuple[list[dict], Callable[[dict], bool]]:
    """SaudiNewsNet's security articles in `saudinewsnet`, sorted by id, and a test of whether one
    is kept out of further annotation: reserved for evaluation, already `annotated`, or retelling
    the story of either. For the selections of more sentences after the news corpus (data/targeted,
    data/casualty, data/forces, data/leads, data/leads2, data/casualty2)."""
    articles = [json.loads(line) for line in (saudinewsnet / "security_articles.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = {a["id"]: a["text"] for a in articles}
    reserved = read_kept_out([saudinewsnet / "reserved_for_evaluation.txt"], texts)
    done = read_kept_out(annotated, texts)
    return (sorted(articles, key=lambda a: a["id"]),
            lambda a: reserved.keeps_out(a["id"], a["text"]) or done.keeps_out(a["id"], a["text"]))


def annotated_texts(annotated: list[Path]) -> set[str]:
    """Every sentence text of the `annotated` files: a sentence is annotated once, whichever paper
    printed it."""
    return {json.loads(line)["text"] for path in annotated for line in path.read_text(encoding="utf-8").splitlines()}


def sentence_record(article: dict, start: int, end: int) -> dict:
    """The record to annotate for `article`'s sentence at start..end, named by its offset; each
    such article is its own story, none retelling another that was kept out."""
    text = article["text"]
    return {"id": f"{article['id']}-c{start}", "article": article["id"], "story": article["id"],
            "paragraph": text.count("\n", 0, start) + 1, "text": text[start:end], "entities": []}


def pick_sentences(saudinewsnet: Path, annotated: list[Path], rank: Callable[[str], tuple | None], total: int,
                   per_article: int, seed: int, words: tuple[int, int] = (6, 80)) -> list[dict]:
    """Records of `total` sentences to annotate, for the selections of single sentences (data/casualty,
    data/forces, data/casualty2): from the articles open to annotation, in a seeded random order,
    each article's sentences of `words` (min, max) words that `rank` keeps (a sort key, lowest
    first; None drops one), at most `per_article` from an article; a sentence already annotated, or already taken
    from another paper, is skipped. The word bounds keep out headlines and whole unpunctuated
    articles."""
    articles, kept_out = open_to_annotation(saudinewsnet, annotated)
    seen = annotated_texts(annotated)
    random.Random(seed).shuffle(articles)
    taken = []
    for article in articles:
        if len(taken) >= total:
            break
        if kept_out(article):
            continue  # a reserved or annotated article, or one retelling its story, stays out of all annotation
        text, found = article["text"], []
        for start, end in split_sentences(text):
            sentence = text[start:end]
            key = rank(sentence)
            if key is not None and words[0] <= len(sentence.split()) <= words[1] and sentence not in seen:
                found.append((key, start, end))
        for _, start, end in sorted(found)[:per_article]:
            seen.add(text[start:end])  # the same wire sentence in another paper: once
            taken.append(sentence_record(article, start, end))
    return taken[:total]


def pick_sentences_command(description: str, annotated: list[Path], rank: Callable[[str], tuple | None], total: int,
                           per_article: int, seed: int) -> None:
    """The command line of a selection of single sentences: `pick_sentences` from the SaudiNewsNet
    folder it is given, written to its OUT.jsonl; `--after` names the files of batches annotated
    since, whose articles and sentences are left out too (the next batch by the same rule)."""
    args = saudinewsnet_arguments(description, after=True)
    annotated = annotated + [path.resolve() for path in args.after]
    taken = pick_sentences(args.saudinewsnet, annotated, rank=rank, total=total, per_article=per_article, seed=seed)
    write_records(taken, args.out)
    print(f"{len(taken)} sentences from {len({r['article'] for r in taken})} articles -> {args.out}", file=sys.stderr)


def saudinewsnet_arguments(description: str, after: bool = False) -> argparse.Namespace:
    """The command line of a selection from SaudiNewsNet: its folder and the JSONL file to write;
    with `after`, the annotated files of the batches the same rule chose before, left out too."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("saudinewsnet", type=Path, help="the folder with security_articles.jsonl and reserved_for_evaluation.txt")
    parser.add_argument("out", type=Path)
    if after:
        parser.add_argument("--after", type=Path, nargs="+", default=[], metavar="FILE",
                            help="annotated files of earlier batches by this rule: their articles and stories are left out too")
    return parser.parse_args()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("articles", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    articles = [json.loads(line) for line in args.articles.read_text(encoding="utf-8").splitlines()]
    records = select(articles)
    mark_stories(records)
    write_records(records, args.out)
    print(f"{len(records)} sentences from {len({r['article'] for r in records})} articles, "
          f"{len({r['story'] for r in records})} stories -> {args.out}")


if __name__ == "__main__":
    main()
