"""Choose sentences that report people killed or wounded, to annotate as more training data.

    python data/casualty/select_sentences.py ../shared/corpora/saudinewsnet OUT.jsonl

CASUALTY is the type the news model finds worst on stories it never saw: character-exact F1 0.72
against 0.90 (ARMED_GROUP) and 0.79 (SECURITY_UNIT) in the cross-validation of levers 3 and 4
(issue #18, `docs/cv/news-targeted-swap-cv`), and the targeted sentences (`../targeted`) add only
27 casualty mentions. This takes, from SaudiNewsNet security articles in neither the news corpus,
the targeted sentences nor the reserved set, nor retelling the story of an article in any of them,
the sentences that use a harm word (the news corpus's list), at most PER_ARTICLE from an article
(the most harm words first), from articles in a seeded random order until TOTAL; then drops a
sentence already annotated or already taken from another paper. Deterministic.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent / "news"))
from arabic_ner.sentences import split_sentences  # noqa: E402
from select_sentences import HARM, open_to_annotation, saudinewsnet_arguments, sentence_record, write_records  # noqa: E402

ANNOTATED = [HERE.parent / "news" / "news.jsonl", HERE.parent / "targeted" / "train.jsonl"]
TOTAL = 180  # sentences: 60 for each of three annotators
PER_ARTICLE = 2  # sentences from one article at most, so that no one story fills the set
MIN_WORDS, MAX_WORDS = 6, 80  # a sentence, not a headline or a whole unpunctuated article
SEED = 2026


def main() -> None:
    args = saudinewsnet_arguments(__doc__.split("\n")[0])
    articles, kept_out = open_to_annotation(args.saudinewsnet, ANNOTATED)
    seen = {json.loads(line)["text"] for path in ANNOTATED for line in path.read_text(encoding="utf-8").splitlines()}
    random.Random(SEED).shuffle(articles)
    taken = []
    for article in articles:
        if len(taken) >= TOTAL:
            break
        if kept_out(article):
            continue  # a reserved or annotated article, or one retelling its story, stays out of all annotation
        text, found = article["text"], []
        for start, end in split_sentences(text):
            sentence = text[start:end]
            harm = len(HARM.findall(sentence))
            if harm and MIN_WORDS <= len(sentence.split()) <= MAX_WORDS and sentence not in seen:
                found.append((-harm, start, end))
        for _, start, end in sorted(found)[:PER_ARTICLE]:
            seen.add(text[start:end])  # the same wire sentence in another paper: once
            taken.append(sentence_record(article, start, end))
    taken = taken[:TOTAL]
    write_records(taken, args.out)
    print(f"{len(taken)} sentences from {len({r['article'] for r in taken})} articles -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
