"""Choose sentences that report people killed or wounded, to annotate as more training data.

    python data/casualty/select_sentences.py ../shared/corpora/saudinewsnet OUT.jsonl

CASUALTY is the type the news model finds worst on stories it never saw: character-exact F1 0.72
against 0.90 (ARMED_GROUP) and 0.79 (SECURITY_UNIT) in the cross-validation of levers 3 and 4
(issue #18, `docs/cv/news-targeted-swap-cv`), and the targeted sentences (`../targeted`) add only
27 casualty mentions. This takes, from SaudiNewsNet security articles in neither the news corpus,
the targeted sentences nor the reserved set, nor retelling the story of an article in any of them,
the sentences that use a harm word (the news corpus's list), at most PER_ARTICLE from an article
(the most harm words first), from articles in a seeded random order until TOTAL; a sentence
already annotated, or already taken from another paper, is skipped. Deterministic. The next batch by
the same rule (`../casualty2`, the 93 harm sentences left): `--after data/casualty/train.jsonl
data/forces/train.jsonl data/leads/train.jsonl data/leads2/train.jsonl`.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "news"))
from select_sentences import HARM, pick_sentences_command  # noqa: E402

ANNOTATED = [HERE.parent / "news" / "news.jsonl", HERE.parent / "targeted" / "train.jsonl"]
TOTAL = 180  # sentences: 60 for each of three annotators
PER_ARTICLE = 2  # sentences from one article at most, so that no one story fills the set
SEED = 2026


def harm_first(sentence: str) -> tuple[int] | None:
    """Sentences with a harm word, the most harm words first."""
    harm = len(HARM.findall(sentence))
    return (-harm,) if harm else None


if __name__ == "__main__":
    pick_sentences_command(__doc__.split("\n")[0], ANNOTATED, rank=harm_first, total=TOTAL, per_article=PER_ARTICLE,
                           seed=SEED)
