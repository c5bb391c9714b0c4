"""Whether two articles tell the same story, and which articles a training set must leave out.

SaudiNewsNet carries the same wire story from several papers, reworded a little or not at all. An
article kept out of training (one reserved for measuring generalisation, or one already annotated
as gold) is only kept out if its retellings are too: a model that trained on another paper's copy
has in effect seen it. Two texts retell one story when STORY_OVERLAP of the shorter one's word
4-grams are in the other; the news corpus's story groups (data/news/select_sentences.py) and the
keep-out checks of the shipped data and of self-training all use this one test.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from arabic_ner.sentences import split_sentences

STORY_OVERLAP = 0.1  # share of the shorter text's word 4-grams found in the other


def four_grams(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i:i + 4]) for i in range(len(words) - 3)}


def same_story(a: set, b: set, overlap: float = STORY_OVERLAP) -> bool:
    """Whether two texts, by their `four_grams`, retell one story (`overlap` of the shorter's shared)."""
    return len(a & b) / max(1, min(len(a), len(b))) >= overlap


class KeptOut:
    """Articles to leave out by id, with every article that retells one of them.

    `ids`: the articles named; `texts`: what is known of their words (a whole article, or the
    annotated sentences of one), against which other articles are compared
    (`articles.read_kept_out` builds one from the files a user names)."""

    def __init__(self, ids: Iterable[str], texts: Iterable[str] = (), unknown: Iterable[str] = ()):
        self.ids = {str(i) for i in ids}
        self.unknown = sorted(unknown)  # ids named with no text known: their retellings cannot be found
        texts = list(texts)
        self.grams = [g for g in map(four_grams, texts) if g]
        # a sentence that another article shares without retelling the story (a site's boilerplate,
        # a quoted statement): kept out on its own
        self.sentences = {" ".join(text[s:e].split()) for text in texts for s, e in split_sentences(text)}

    def add_annotated(self, records: Iterable[dict], articles: dict[str, str] | None = None) -> None:
        """Keep out these annotated records' sentences too, and, where they name their `article`,
        that article with its retellings, as a keep-out corpus's records are: compared by the whole
        article where `articles` (id -> text) holds it (its annotated sentences may be half of it),
        else by those sentences."""
        by_article = defaultdict(list)
        for record in records:
            text = record["text"]
            self.sentences |= {" ".join(text.split()), *(" ".join(text[s:e].split()) for s, e in split_sentences(text))}
            if record.get("article") is not None:
                by_article[str(record["article"])].append(text)
        for article_id, texts in by_article.items():
            whole = (articles or {}).get(article_id)
            self.ids.add(article_id)
            if whole is not None:
                self.sentences |= {" ".join(whole[s:e].split()) for s, e in split_sentences(whole)}
            if grams := four_grams(whole if whole is not None else " ".join(texts)):
                self.grams.append(grams)

    def keeps_out(self, article_id: str, text: str) -> bool:
        """Whether the article is one named or retells one."""
        if str(article_id) in self.ids:
            return True
        mine = four_grams(text)
        return any(same_story(mine, g) for g in self.grams)

    def keeps_out_sentence(self, sentence: str) -> bool:
        """Whether the sentence is one of a kept-out article's (spacing aside)."""
        return " ".join(sentence.split()) in self.sentences
