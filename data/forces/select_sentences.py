"""Choose sentences that name security forces, to annotate as more training data.

    python data/forces/select_sentences.py ../shared/corpora/saudinewsnet OUT.jsonl

After the targeted and casualty sentences (`../targeted`, `../casualty`), SECURITY_UNIT and
CASUALTY are still the types the news model finds hardest on stories it never saw: character-exact
F1 0.79 and 0.72 against 0.88 for ARMED_GROUP (issue #18, `docs/cv/news-targeted-casualty-cv`).
SECURITY_UNIT is also the type whose spans the spec bounds most finely (a unit's name with its
country and branch, not the verb or the number around it). This takes, from SaudiNewsNet security
articles in none of the annotated sets nor the reserved set, nor retelling the story of an article
in any of them, the sentences that name a force (FORCES), ranked by how many of the three kinds of
cue they hold (a force, an armed group, a harm word) and then by how many cues, at most
PER_ARTICLE from an article, from articles in a seeded random order until TOTAL; a sentence
already annotated, or already taken from another paper, is skipped. Deterministic.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "news"))
from select_sentences import HARM, pick_sentences_command  # noqa: E402

ANNOTATED = [HERE.parent / name for name in ("news/news.jsonl", "targeted/train.jsonl", "casualty/train.jsonl")]
# Cues, not labels: the annotators decide what each mention is. Some cues often name no force
# (`الأمن` in `مجلس الأمن`, `وحدة` "unity"): 28 of the 180 sentences have no entity.
FORCES = re.compile(r"قوات|شرطة|جيش|الأمن|حرس|لواء|فرقة|كتيبة|وحدة|وحدات|مديرية|الحشد|جنود|البحرية|خفر السواحل|الدفاع المدني|مكافحة الإرهاب")
GROUPS = re.compile(r"داعش|الدولة الإسلامية|القاعدة|تنظيم|ميليشيا|مليشيا|مسلح|جماعة|جبهة|الحوثي")
TOTAL = 180  # sentences: 60 for each of three annotators
PER_ARTICLE = 2  # sentences from one article at most, so that no one story fills the set
SEED = 2027  # not the casualty selection's 2026, so that the article order differs


def richest_first(sentence: str) -> tuple[int, int] | None:
    """Sentences that name a force, those with the most kinds of cue (a force, an armed group, a
    harm word) first, then the most cues."""
    if not FORCES.search(sentence):
        return None
    counts = [len(pattern.findall(sentence)) for pattern in (FORCES, GROUPS, HARM)]
    return -sum(1 for n in counts if n), -sum(counts)


if __name__ == "__main__":
    pick_sentences_command(__doc__.split("\n")[0], ANNOTATED, rank=richest_first, total=TOTAL, per_article=PER_ARTICLE,
                           seed=SEED)
