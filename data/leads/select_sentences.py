"""Choose the leading paragraphs of more casualty-rich articles, to annotate as more training data.

    python data/leads/select_sentences.py ../shared/corpora/saudinewsnet OUT.jsonl

The targeted, casualty and security-force sentences (`../targeted`, `../casualty`, `../forces`) are
single sentences picked by their words; the stories the news model is scored on are articles'
leading paragraphs, sentence after sentence, most of them casualty-rich. This takes more of the
same, by the news corpus's own rule (`../news/select_sentences.py`: an article's leading whole
paragraphs up to its sentence budget, the articles with the most harm words first), from the
SaudiNewsNet security articles in none of the annotated sets nor the reserved set, nor retelling the
story of an article in any of them, until TOTAL sentences; articles of the selection that retell
one story share its `story`, and a sentence already annotated or already taken is dropped.
Deterministic. The next batch by the same rule (`../leads2`): `--after data/leads/train.jsonl`.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "news"))
from select_sentences import (HARM, annotated_texts, lead, mark_stories, open_to_annotation,  # noqa: E402
                              saudinewsnet_arguments, write_records)

ANNOTATED = [HERE.parent / name for name in ("news/news.jsonl", "targeted/train.jsonl", "casualty/train.jsonl",
                                             "forces/train.jsonl")]
TOTAL = 180  # sentences, about: whole leads are taken, so the last one may pass it by a few


def main() -> None:
    args = saudinewsnet_arguments(__doc__.split("\n")[0], after=True)
    annotated = ANNOTATED + [path.resolve() for path in args.after]
    articles, kept_out = open_to_annotation(args.saudinewsnet, annotated)
    seen = annotated_texts(annotated)
    leads = []
    for article in articles:
        if not kept_out(article) and (records := lead(article)):
            leads.append(records)  # an article whose first paragraph overflows the budget has none
    leads.sort(key=lambda records: -sum(len(HARM.findall(r["text"])) for r in records))  # stable: ties by id
    taken = []
    for records in leads:
        if len(taken) >= TOTAL:
            break
        fresh = [r for r in records if r["text"] not in seen]
        seen.update(r["text"] for r in fresh)  # the same wire sentence in another paper: once
        taken += fresh
    mark_stories(taken)
    write_records(taken, args.out)
    print(f"{len(taken)} sentences from {len({r['article'] for r in taken})} articles, "
          f"{len({r['story'] for r in taken})} stories -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
