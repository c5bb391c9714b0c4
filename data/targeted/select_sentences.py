"""Choose sentences that name the actors the news corpus lacks, to annotate as more training data.

    python data/targeted/select_sentences.py ../shared/corpora/saudinewsnet OUT.jsonl

On security news outside the corpus the news model misses mostly intelligence services, alliances
and the armed groups and units of countries other than Iraq, which the ISIS-heavy news corpus
rarely names (issue #18). This takes, from SaudiNewsNet security articles in neither the news corpus
nor the reserved set, nor retelling the story of an article in either, the sentences that match
ACTORS, at most PER_ARTICLE from an article (the most matches first) and at most PER_PATTERN per
pattern over all, so that no one name fills the set; then drops a sentence already in the news
corpus or already taken from another paper. Deterministic: the same input gives the same output.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
sys.path.insert(0, str(HERE.parent / "news"))
from arabic_ner.sentences import split_sentences  # noqa: E402
from select_sentences import annotated_texts, open_to_annotation, saudinewsnet_arguments, sentence_record, write_records  # noqa: E402

# What to look for: intelligence services, alliances, and actors and units of Syria, the Kurds,
# Yemen, Libya, Somalia, Nigeria, Egypt, Lebanon, Iran and Turkey.
ACTORS = {
    "intelligence": r"استخبارات|الاستخبارات|مخابرات|المخابرات|أمن الدولة|الأمن الوطني|الأمن العام",
    "alliances": r"حلف|الناتو|التحالف|قوات التحالف",
    "syria": r"النصرة|أحرار الشام|الجيش الحر|جيش الفتح|الجيش السوري|قوات النظام|جيش الإسلام",
    "kurds": r"البيشمركة|البشمركة|وحدات حماية|حزب العمال|الأسايش",
    "yemen": r"الحوثي|الحوثيين|أنصار الله|المقاومة الشعبية|قوات صالح",
    "libya": r"فجر ليبيا|حفتر|الجيش الليبي|درنة",
    "somalia_nigeria": r"الشباب|بوكو حرام|أميصوم",
    "egypt_lebanon": r"أنصار بيت المقدس|ولاية سيناء|الجيش المصري|الإخوان|حزب الله|الجيش اللبناني",
    "iran_turkey": r"الحرس الثوري|الباسيج|فيلق القدس|الجيش التركي|الجندرمة|الشرطة التركية",
}
PATTERNS = {name: re.compile(p) for name, p in ACTORS.items()}
PER_ARTICLE = 3  # sentences from one article at most
PER_PATTERN = 25  # sentences matched first by one pattern at most
MIN_WORDS, MAX_WORDS = 6, 80  # a sentence, not a headline or a whole unpunctuated article


def main() -> None:
    args = saudinewsnet_arguments(__doc__.split("\n")[0])
    # a news corpus article's story retold by another paper: its sentences would be the news test
    # stories' own words in training (14 sentences of the first selection were, until 2026-12-02)
    articles, kept_out = open_to_annotation(args.saudinewsnet, [HERE.parent / "news" / "news.jsonl"])
    taken, per_pattern = [], Counter()
    for article in articles:
        if kept_out(article):
            continue  # a reserved or annotated article, or one retelling its story, stays out of all annotation
        text, found = article["text"], []
        for start, end in split_sentences(text):
            sentence = text[start:end]
            hits = [name for name, p in PATTERNS.items() if p.search(sentence)]
            if hits and MIN_WORDS <= len(sentence.split()) <= MAX_WORDS:
                found.append((-len(hits), start, end, hits[0]))
        for _, start, end, first in sorted(found)[:PER_ARTICLE]:
            if per_pattern[first] < PER_PATTERN:
                per_pattern[first] += 1
                taken.append(sentence_record(article, start, end))
    # the same wire sentence in several papers, or already annotated in the news corpus: once, and not again
    seen = annotated_texts([HERE.parent / "news" / "news.jsonl"])
    chosen = len(taken)
    taken = [r for r in taken if not (r["text"] in seen or seen.add(r["text"]))]
    write_records(taken, args.out)
    print(f"{len(taken)} sentences ({chosen - len(taken)} repeated dropped) from {len({r['article'] for r in taken})} "
          f"articles; first pattern: "
          + ", ".join(f"{k} {v}" for k, v in sorted(per_pattern.items())), file=sys.stderr)


if __name__ == "__main__":
    main()
