"""Choosing the sentences to annotate next."""
import json

import pytest

from arabic_ner.articles import Article
from arabic_ner.select import candidates, choose
from arabic_ner.stories import KeptOut
from conftest import SENTENCES, run_here

WIRE = "قالت وزارة الداخلية العراقية إن قواتها قتلت عشرين مسلحا من تنظيم داعش قرب الرمادي"


def s(article: str, text: str) -> dict:
    return {"id": f"{article}-{len(text)}", "article": article, "text": text}


@pytest.mark.parametrize("margins, per_article, chosen", [
    ([0.5, 0.1, 0.3, 0.2], 9, [1, 3, 2]),  # least sure first; 0 retells 1's sentence
    ([0.5, 0.1, 0.3, 0.2], 1, [1, 2]),  # one per article: 3 is a's second
    ([0.1, 0.5, 0.3, 0.2], 9, [0, 3, 2]),
])
def test_choose_least_sure_first_from_different_articles_and_stories(margins, per_article, chosen):
    sentences = [s("a", WIRE + " أمس"), s("a", WIRE), s("b", "اعتقلت الشرطة خمسة مطلوبين في البصرة بعد مداهمة"),
                 s("a", "وأعلنت الحكومة حالة الطوارئ في المحافظة حتى إشعار آخر")]
    assert choose(sentences, margins, n=3, per_article=per_article) == chosen


def test_formulaic_openers_do_not_make_sentences_one():
    opener = "وقال المتحدث الأمني بشرطة منطقة"
    sentences = [s("a", f"{opener} الرياض إن دورية ضبطت شاحنة محملة بالأسلحة قرب الحدود"),
                 s("b", f"{opener} جازان إن مجهولين أطلقوا النار على نقطة تفتيش ليلا")]
    assert choose(sentences, [0.1, 0.2], n=2, per_article=2) == [0, 1]


def test_candidates_leave_out_kept_articles_their_sentences_and_short_lines():
    # r and x share one sentence and nothing else: x is no retelling of r, but that sentence stays out
    kept = KeptOut({"r"}, [WIRE + ". " + " ".join(f"خبر{i}" for i in range(120)) + "."])
    other = "اعتقلت الشرطة خمسة مطلوبين في البصرة بعد مداهمة."
    filler = " ".join(f"كلمة{i}" for i in range(120)) + "."
    articles = [Article("r", other), Article("x", f"عاجل. {WIRE}. {other} {filler}")]
    assert [c["text"] for c in candidates(articles, kept)] == [other, filler]


@pytest.mark.parametrize("by", ["margin", "entropy"])
def test_select_writes_label_studio_tasks_with_predictions(trained, tmp_path, by):
    from arabic_ner.convert import from_labelstudio

    config, _ = trained
    articles = tmp_path / "articles.jsonl"
    articles.write_text("".join(json.dumps({"id": f"a{i}", "text": ". ".join(t for t, _ in SENTENCES[i:] + SENTENCES[:i])},
                                           ensure_ascii=False) + "\n" for i in range(4)), encoding="utf-8")
    out = tmp_path / "tasks.json"
    result = run_here("-m", "arabic_ner", "select", str(config.run_dir / "best"), str(articles), "-o", str(out), "--n",
                      "3", "--jsonl", str(tmp_path / "chosen.jsonl"), "--by", by)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"(sureness by {by} " in result.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert len(tasks) == 3 and scores == sorted(scores)
    texts = [t["data"]["text"] for t in tasks]
    assert len(set(texts)) == 3  # each sentence of the corpus once, though every article repeats them all
    records = from_labelstudio(out.read_text(encoding="utf-8"), "tasks.json", predictions=True)
    chosen = [json.loads(line) for line in (tmp_path / "chosen.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["entities"] for r in records] == [[{k: e[k] for k in ("start", "end", "label")} for e in c["entities"]]
                                                for c in chosen]
    assert [c["sureness"] for c in chosen] == scores
    from arabic_ner.model_card import model_version  # as the server names the model, not "best" for every one
    assert {t["predictions"][0]["model_version"] for t in tasks} == {model_version(config.run_dir / "best")}


def test_sureness_by_margin_and_by_entropy(trained):
    """Both measures in [0, 1], lower less sure, beside the same entities; a text without words is
    sure (1.0); a word's entropy is 0 for a sure distribution and 1 for a uniform one."""
    import numpy as np

    from arabic_ner.inference import word_tags_of
    from arabic_ner.predictor import Predictor
    from arabic_ner.errors import UserError

    config, _ = trained
    predictor = Predictor.from_folder(config.run_dir / "best")
    texts = [". ".join(t for t, _ in SENTENCES[:2])] + [t for t, _ in SENTENCES[2:]] + ["", "   "]
    # each text's words, as the predictor reads them (the first text is two sentences)
    words = []
    for text in texts[:-2]:
        sentences = list(predictor.sentences(text))
        windows = predictor.encoder.encode(sentences)
        tagged = word_tags_of(sentences, windows, predictor._window_probs(windows), predictor.model.config.id2label)
        words.append(([m for t in tagged for m in t.margins], [h for t in tagged for h in t.entropies]))
    expected = {"margin": [min(m) for m, _ in words], "entropy": [1 - sum(h) / len(h) for _, h in words]}
    for by in ("margin", "entropy"):
        results = list(predictor.predict_iter(texts, sureness=by))
        assert [entities for entities, _ in results] == predictor.predict(texts)
        assert [s for _, s in results[:-2]] == pytest.approx(expected[by], abs=1e-5)  # batched otherwise: float32
        assert all(0.0 <= sure <= 1.0 for _, sure in results) and [s for _, s in results[-2:]] == [1.0, 1.0]
    assert expected["margin"] != pytest.approx(expected["entropy"], abs=1e-3)
    with pytest.raises(UserError, match="sureness 'loss': one of margin, entropy"):
        list(predictor.predict_iter(texts, sureness="loss"))

    # the entropy of each word's distribution, over log(labels): 0 when sure, 1 when uniform
    sentence = next(predictor.sentences(SENTENCES[0][0]))
    windows = predictor.encoder.encode([sentence])
    labels = predictor.model.config.id2label
    n = len(sentence.tokens)
    for probs, expected in ((np.full(len(labels), 1 / len(labels)), 1.0), (np.eye(len(labels))[0], 0.0)):
        fake = [np.tile(probs, (len(w.input_ids), 1)) for w in windows]
        tagged = word_tags_of([sentence], windows, fake, labels)[0]
        assert tagged.entropies == pytest.approx([expected] * n, abs=1e-6)


def test_select_with_nothing_to_offer_is_one_line(trained, tmp_path):
    config, _ = trained
    (tmp_path / "a.txt").write_text("قصير جدا", encoding="utf-8")
    result = run_here("-m", "arabic_ner", "select", str(config.run_dir / "best"), str(tmp_path / "a.txt"), "-o",
                      str(tmp_path / "t.json"))
    assert result.returncode == 2 and result.stderr.strip() == \
        "error: no sentence to offer among 1 article (all kept out, or too short)"
    assert not (tmp_path / "t.json").exists()


def test_select_never_writes_over_a_keep_out_file(trained, tmp_path):
    config, _ = trained
    (tmp_path / "a.txt").write_text(". ".join(t for t, _ in SENTENCES), encoding="utf-8")
    (tmp_path / "reserved.txt").write_text("x1\n", encoding="utf-8")
    result = run_here("-m", "arabic_ner", "select", str(config.run_dir / "best"), str(tmp_path / "a.txt"), "-o",
                      str(tmp_path / "reserved.txt"), "--keep-out", str(tmp_path / "reserved.txt"))
    assert result.returncode == 2 and "is also an input" in result.stderr
    assert (tmp_path / "reserved.txt").read_text(encoding="utf-8") == "x1\n"
