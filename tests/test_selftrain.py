"""Self-training: which articles may become silver, which sentences do, and the rounds."""
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from arabic_ner.articles import Article, read_kept_out
from arabic_ner.config import load_config
from arabic_ner.errors import UserError
from arabic_ner.sentences import split_sentences
from conftest import ROOT, SENTENCES, SHARED, Cleared, refused_while_clearing, run_here, tiny_args

WIRE = "قالت وزارة الداخلية العراقية إن قواتها قتلت عشرين مسلحا من تنظيم داعش في هجوم على مواقعهم قرب الرمادي أمس"
OTHER = "أعلن الجيش اللبناني اعتقال خلية من جبهة النصرة في عرسال بعد اشتباكات استمرت ساعات مع المسلحين"
LONG = ("وأضاف المصدر أن القوات الأمنية نفذت عملية واسعة في المناطق الصحراوية غرب المحافظة بمشاركة طيران الجيش "
        "وأسفرت عن تدمير عدد من المضافات والأنفاق التي كان يستخدمها المسلحون للتنقل بين القرى")


@pytest.mark.parametrize("article_id, text, kept", [
    ("a1", OTHER, True),  # named in the list
    ("b7", "وفي بغداد، " + WIRE + " وفق مصادر أمنية.", True),  # another paper's copy of a1's story
    ("c3", OTHER, False),
    ("d4", "", False),
])
def test_kept_out_are_the_articles_named_and_their_retellings(tmp_path, article_id, text, kept):
    ids = tmp_path / "reserved.txt"
    ids.write_text("# reserved\na1\n\n", encoding="utf-8")
    assert read_kept_out([ids], {"a1": WIRE, "c3": OTHER}).keeps_out(article_id, text) == kept


def test_ids_with_a_comment_and_ids_of_no_article_read(tmp_path):
    """`a1  # reserved` named no article, and ids that match no article read (`.txt` articles are
    named by path) kept nothing out: reserved articles' retellings became silver, said nowhere."""
    from arabic_ner.articles import unknown_kept_out

    ids = tmp_path / "reserved.txt"
    ids.write_text("a1  # reserved\n  # an indented comment\nz9\n", encoding="utf-8")
    kept = read_kept_out([ids], {"a1": WIRE, "c3": OTHER})
    assert kept.ids == {"a1", "z9"} and kept.keeps_out("b7", "وفي بغداد، " + WIRE)
    assert unknown_kept_out(kept, "silver.keep_out").startswith(
        "warning: silver.keep_out: article ids to keep out that match no article read: 1 (first: 'z9')")
    assert unknown_kept_out(read_kept_out([ids], {"a1": WIRE, "z9": OTHER}), "silver.keep_out") is None


def test_annotated_sentences_keep_their_article_and_its_retellings_out(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"id": "g-s1", "article": "g", "text": WIRE, "entities": []}, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    kept = read_kept_out([gold])
    assert kept.keeps_out("g", OTHER) and kept.keeps_out("x", OTHER + " " + WIRE) and not kept.keeps_out("y", OTHER)


def test_keep_out_files_are_read_as_every_corpus_is(tmp_path):
    """An id list saved with a byte-order mark keeps its first article out; a record holding U+2028
    (which json.dumps leaves unescaped) is one record, not two lines."""
    ids = tmp_path / "reserved.txt"
    ids.write_bytes("\ufeffa1\nb2\n".encode("utf-8"))
    assert read_kept_out([ids]).ids == {"a1", "b2"}
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"article": "g", "text": WIRE + "\u2028"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert read_kept_out([gold]).keeps_out("x", OTHER + " " + WIRE)


@pytest.mark.parametrize("name, content, message", [
    ("gold.jsonl", '{"id": "s1", "text": "نص"}\n', r"gold\.jsonl:1: a record to keep out needs `article` and `text`"),
    ("gold.jsonl", "not json\n", r"gold\.jsonl:1: not valid JSON"),
    ("gold.jsonl", '{"article": "a1", "text": 5}\n', r"gold\.jsonl:1: a record to keep out needs .* \(a string\)"),
    # a table's column with gaps: every null-article record was one article named "None"
    ("gold.jsonl", '{"article": null, "text": "نص"}\n', r"gold\.jsonl:1: a record to keep out needs `article`"),
    ("export.json", "[]", r"export\.json: to keep out, give a \.txt of article ids .* or annotated \.jsonl"),
])
def test_a_bad_keep_out_file_is_one_line(tmp_path, name, content, message):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_kept_out([tmp_path / name])
    with pytest.raises(UserError, match=r"missing\.txt: no such file \(the articles to keep out\)"):
        read_kept_out([tmp_path / "missing.txt"])


class FirstWords:
    """A stand-in model: the first word of every sentence is an ARMED_GROUP, scored by `score(text)`."""

    def __init__(self, score=lambda sentence: 1.0):
        import torch

        self.score = score
        self.model = torch.nn.Linear(1, 1)  # what a tagging's fingerprint asks of a model: no int8 layer

    def predict(self, texts):
        return list(self.predict_iter(texts))

    def predict_iter(self, texts):
        for text in texts:
            entities = []
            for start, end in split_sentences(text):
                word = text[start:end].split()[0]
                entities.append({"start": start, "end": start + len(word), "label": "ARMED_GROUP",
                                 "text": word, "score": self.score(text[start:end])})
            yield entities


def tagged_by(model, articles: list[Article]) -> list[tuple[Article, list[dict]]]:
    return list(zip(articles, model.predict_iter(a.text for a in articles)))


def test_silver_sentences_are_the_confident_ones_with_offsets_into_their_own_text():
    from arabic_ner.selftrain import silver_records

    article = Article("a", f"{WIRE}. {OTHER}.")
    tagged = tagged_by(FirstWords(lambda s: 0.95 if "داعش" in s else 0.5), [article])
    silver = list(silver_records(tagged, {"ARMED_GROUP": 0.9}))
    assert [r["id"] for r in silver] == ["a-s1"] and silver[0]["article"] == "a"
    record = silver[0]
    assert record["text"] == WIRE + "."
    assert [record["text"][e["start"]:e["end"]] for e in record["entities"]] == ["قالت"]
    assert len(list(silver_records(tagged, {"ARMED_GROUP": 0.5}))) == 2


@pytest.mark.parametrize("share, thresholds", [
    (1.0, {"A": 0.6, "B": 0.1}),  # every entity
    (0.5, {"A": 0.75, "B": 0.2}),  # each type's median: the model's scale differs by type
])
def test_thresholds_are_per_type(share, thresholds):
    from arabic_ner.selftrain import type_thresholds

    def entities(*pairs):
        return [{"label": label, "score": score} for label, score in pairs]
    tagged = [(None, entities(("A", 0.6), ("B", 0.1))), (None, entities(("A", 0.9), ("B", 0.3), ("B", 0.2)))]
    assert type_thresholds(tagged, share) == thresholds


def test_a_sentence_an_entity_runs_out_of_is_no_silver():
    from arabic_ner.selftrain import silver_records

    class Across(FirstWords):  # one entity over both sentences, as a split inside a name gives
        def predict_iter(self, texts):
            for text in texts:
                yield [{"start": 0, "end": len(text), "label": "ARMED_GROUP", "text": text, "score": 1.0}]

    article = Article("a", f"{WIRE}. {OTHER}.")
    assert list(silver_records(tagged_by(Across(), [article]), {"ARMED_GROUP": 0.5})) == []


def _articles(tmp_path: Path) -> Path:
    rows = [{"id": "r1", "text": WIRE}, {"id": "n2", "text": "وفي بغداد، " + WIRE}, {"id": "ok3", "text": OTHER}]
    path = tmp_path / "articles.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "reserved.txt").write_text("r1\n", encoding="utf-8")
    return path


def test_make_silver_leaves_out_the_kept_out_articles_and_writes_a_whole_file(tmp_path, monkeypatch):
    import arabic_ner.predictor as predictor
    from arabic_ner.selftrain import make_silver

    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: FirstWords()))
    config = load_config(None, ["--silver.articles", str(_articles(tmp_path)),
                                "--silver.keep_out", str(tmp_path / "reserved.txt")])
    stats = make_silver(tmp_path / "model", config, tmp_path / "silver.jsonl", log=lambda m: None)
    lines = [json.loads(line) for line in (tmp_path / "silver.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["article"] for r in lines} == {"ok3"}
    assert stats["articles_tagged"] == 1 and stats["articles_kept_out"] == 2 and stats["sentences"] == 1
    (tmp_path / "reserved.txt").write_text("r1\nok3\n", encoding="utf-8")
    with pytest.raises(UserError, match=r"^silver.articles: all 3 articles are kept out by silver.keep_out"):
        make_silver(tmp_path / "model", config, tmp_path / "silver2.jsonl", log=lambda m: None)


def test_a_stopped_silver_tagging_keeps_its_chunks_and_resumes(tmp_path, monkeypatch):
    """Ctrl-C or SIGTERM while the teacher tags the articles: the chunks done are kept, a run
    without --resume says so, and --resume tags only the rest, to the same silver."""
    import arabic_ner.predictor as predictor
    import arabic_ner.selftrain as selftrain
    from arabic_ner.errors import Stopped

    rows = [{"id": f"a{k}", "text": f"{WIRE} {k}. {OTHER} {k}."} for k in range(6)]
    articles = tmp_path / "articles.jsonl"
    articles.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tagged_texts = []

    class StopsAfter(FirstWords):
        def __init__(self, after):
            super().__init__()
            self.after = after

        def predict_iter(self, texts):
            texts = list(texts)
            for text, entities in zip(texts, super().predict_iter(texts)):
                if len(tagged_texts) == self.after:
                    raise Stopped()
                tagged_texts.append(text)
                yield entities

    monkeypatch.setattr(selftrain, "CHUNK_WORDS", 1)  # an article a chunk
    config = load_config(None, ["--silver.articles", str(articles), "--silver.confident_share", "1"])
    out = tmp_path / "silver.jsonl"
    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: StopsAfter(4)))
    with pytest.raises(Stopped):
        selftrain.make_silver(tmp_path / "model", config, out, log=lambda m: None)
    assert not out.exists() and len(tagged_texts) == 4
    with pytest.raises(UserError, match=r"silver.tagged.jsonl: an interrupted run left 4 records in .* add --resume"):
        selftrain.make_silver(tmp_path / "model", config, out, log=lambda m: None)
    with pytest.raises(UserError, match="pass one of them"):
        selftrain.make_silver(tmp_path / "model", config, out, log=lambda m: None, resume=True, overwrite=True)
    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: StopsAfter(-1)))
    stats = selftrain.make_silver(tmp_path / "model", config, out, log=lambda m: None, resume=True)
    assert len(tagged_texts) == 6 and stats["sentences"] == 12  # each article tagged once in all
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles.jsonl", "silver.counts.json", "silver.jsonl",
                                                          "silver.tagged.jsonl"]
    tagged = [json.loads(line) for line in (tmp_path / "silver.tagged.jsonl").read_text().splitlines()]
    assert [t["id"] for t in tagged] == [r["id"] for r in rows] and all(t["entities"] for t in tagged)
    whole = tmp_path / "whole.jsonl"
    selftrain.make_silver(tmp_path / "model", config, whole, log=lambda m: None)
    assert whole.read_text(encoding="utf-8") == out.read_text(encoding="utf-8")
    # --overwrite: an interrupted tagging is started again, from the first article
    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: StopsAfter(14)))
    with pytest.raises(Stopped):
        selftrain.make_silver(tmp_path / "model", config, tmp_path / "again.jsonl", log=lambda m: None)
    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: StopsAfter(-1)))
    tagged_texts.clear()
    selftrain.make_silver(tmp_path / "model", config, tmp_path / "again.jsonl", log=lambda m: None, overwrite=True)
    assert len(tagged_texts) == 6 and (tmp_path / "again.jsonl").read_text(encoding="utf-8") == \
        out.read_text(encoding="utf-8")


def test_resume_remakes_a_rounds_silver_without_counts_but_never_a_file_of_the_users(tmp_path, monkeypatch):
    """--resume replaces only silver this wrote: a file named by --silver-only needs its counts file
    beside it (it may be gold); a round's file in the self-training's own folder is its own, even
    from a version that wrote no counts."""
    import arabic_ner.predictor as predictor
    from arabic_ner.selftrain import make_silver

    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: FirstWords()))
    config = load_config(None, ["--silver.articles", str(_articles(tmp_path)),
                                "--silver.keep_out", str(tmp_path / "reserved.txt")])
    out = tmp_path / "silver-round1.jsonl"
    out.write_text('{"id": "gold", "text": "نص", "entities": []}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"silver-round1.jsonl: exists and no --silver-only made it \(no "
                                        r"silver-round1.counts.json beside it\)"):
        make_silver(tmp_path / "model", config, out, log=lambda m: None, resume=True)
    assert "gold" in out.read_text(encoding="utf-8")
    stats = make_silver(tmp_path / "model", config, out, log=lambda m: None, resume=True, round_file=True)
    assert stats["sentences"] == 1 and {json.loads(line)["article"] for line in out.read_text().splitlines()} == {"ok3"}


def test_make_silver_keeps_the_reserved_articles_and_their_stories_out():
    """The self-training config's silver, from ../shared's SaudiNewsNet articles, holds none of the
    articles reserved for measuring generalisation, none that retells one, and none annotated."""
    from arabic_ner.selftrain import silver_records, unlabelled

    folder = SHARED / "corpora" / "saudinewsnet"
    if not (folder / "reserved_for_evaluation.txt").exists():
        pytest.skip(f"{folder} absent: the self-training keep-out check needs ../shared")
    config = load_config(ROOT / "configs" / "news-selftrain.yaml", ["--silver.articles",
                                                                     str(folder / "security_articles.jsonl")])
    # every annotated SaudiNewsNet file is in the config's list (the article's is Al-Mada's, and
    # news/train.jsonl is part of news.jsonl), so a batch added to data/ and not to it fails here
    gold = ["data/news/news.jsonl", *(f"data/{path.parent.name}/train.jsonl"
                                      for path in (ROOT / "data").glob("*/train.jsonl")
                                      if path.parent.name not in ("article", "news"))]
    reserved_file = "../shared/corpora/saudinewsnet/reserved_for_evaluation.txt"
    assert sorted(config.silver.keep_out) == sorted([reserved_file, *gold]) and len(gold) >= 7
    config.silver.keep_out = [str(folder / "reserved_for_evaluation.txt") if k == reserved_file else k
                              for k in config.silver.keep_out]  # ../shared as the tests find it
    usable, kept, kept_out = unlabelled(config, log=lambda m: None)
    texts = {a["id"]: a["text"] for a in map(json.loads, (folder / "security_articles.jsonl")
                                             .read_text(encoding="utf-8").splitlines())}
    reserved = (folder / "reserved_for_evaluation.txt").read_text(encoding="utf-8").split()
    annotated = {json.loads(line)["article"] for name in gold
                 for line in (ROOT / name).read_text(encoding="utf-8").splitlines()}
    assert len(usable) + kept_out == len(texts) and kept_out >= len(reserved) + len(annotated)
    ids = {str(a.id) for a in usable}
    assert not ids & (set(reserved) | annotated)
    # no sentence of a reserved article comes back as silver, even when every other sentence does:
    # an article that shares one without retelling the story (a site's boilerplate) keeps the rest
    reserved_sentences = {texts[r][s:e] for r in reserved for s, e in split_sentences(texts[r])}
    silver = list(silver_records(tagged_by(FirstWords(), usable), {"ARMED_GROUP": 0.0}, kept=kept))
    assert silver and not {r["text"] for r in silver} & reserved_sentences


def test_selftrain_rounds_keep_the_gold_files_as_they_are_and_resume(trained, tiny_bert, corpus_dir, tmp_path):
    teacher = trained[0].run_dir / "best"  # trained on the tiny corpus: it tags its sentences
    gold = corpus_dir / "train.jsonl"
    before = hashlib.sha256(gold.read_bytes()).hexdigest()
    articles = _articles(tmp_path)
    with articles.open("a", encoding="utf-8") as f:  # what the tiny model learns to tag
        f.write(json.dumps({"id": "ok4", "text": ". ".join(text for text, _ in SENTENCES)}, ensure_ascii=False) + "\n")
    args = ["selftrain.py", "configs/news-selftrain.yaml",
            *tiny_args(tiny_bert, corpus_dir, tmp_path, **{"run_name": "st", "train.epochs": "2"}),
            "--teacher", str(teacher), "--silver.articles", str(articles), "--silver.keep_out", str(tmp_path / "reserved.txt"),
            "--silver.confident_share", "1", "--silver.rounds", "1"]
    result = run_here(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    assert [r["round"] for r in summary["rounds"]] == [0, 1]
    silver = tmp_path / "st-selftrain" / "silver-round1.jsonl"
    student = load_config(tmp_path / "st-round1" / "config.yaml")
    assert student.data.train == [str(gold), str(silver)]
    assert json.loads((tmp_path / "st-selftrain" / "selftrain.json").read_text()) == summary
    assert hashlib.sha256(gold.read_bytes()).hexdigest() == before
    assert {json.loads(line)["article"] for line in silver.read_text(encoding="utf-8").splitlines()} <= {"ok3", "ok4"}

    again = run_here(*args)
    assert again.returncode == 2 and "already holds a self-training; pass --resume" in again.stderr
    resumed = run_here(*args, "--resume")
    assert resumed.returncode == 0 and json.loads(resumed.stdout) == summary
    assert "kept from the interrupted run" in resumed.stderr and "epoch 1" not in resumed.stderr
    # a resume with other settings than the rounds were made with would report them as this config's
    for flags, error in ((["--silver.confident_share", "0.2"], "silver-round1.jsonl: --resume with another teacher or "
                                                                "silver settings than it was made with (silver.confident_share: 1.0 there, 0.2 now)"),
                         (["--train.lr", "1e-4"], "st-round1: --resume with other settings than the run started with (train.lr")):
        changed = run_here(*args, *flags, "--resume")
        assert changed.returncode == 2 and error in changed.stderr, changed.stderr[-2000:]
    # the keep-out list now names one more article: its silver, made before, is not taken as this one's
    reserved = tmp_path / "reserved.txt"
    reserved.write_text("r1\nok3\n", encoding="utf-8")
    changed = run_here(*args, "--resume")
    assert changed.returncode == 2 and "articles tagged (SHA-256 of their ids and texts): '" in changed.stderr
    reserved.write_text("r1\n", encoding="utf-8")
    # silver of the version before the articles were recorded: no resume that cannot be followed
    counts = tmp_path / "st-selftrain" / "silver-round1.counts.json"
    recorded = counts.read_text(encoding="utf-8")
    stats = json.loads(recorded)
    del stats["made_with"]["articles tagged (SHA-256 of their ids and texts)"]
    counts.write_text(json.dumps(stats), encoding="utf-8")
    changed = run_here(*args, "--resume")
    assert changed.returncode == 2 and "made by an earlier version, before what it was made from was recorded" in \
        changed.stderr and "resume with those" not in changed.stderr
    counts.write_text(recorded, encoding="utf-8")
    # without the first run's --teacher: said before a round 0 is trained as teacher
    untaught = [a for a in args if a not in ("--teacher", str(teacher))]
    changed = run_here(*untaught, "--resume")
    assert changed.returncode == 2 and "--resume of a self-training whose silver was made by the teacher" in \
        changed.stderr and not (tmp_path / "st-round0").exists()
    # more epochs on --resume train the finished round on, as train.py --resume does
    longer = run_here(*args, "--train.epochs", "3", "--resume")
    assert longer.returncode == 0 and "epoch 3" in longer.stderr and "epoch 2:" not in longer.stderr, \
        longer.stderr[-2000:]
    # --overwrite starts again: a tagging that a stop left behind, and rounds of an earlier run that
    # a stop and --resume would otherwise take for this one's, are gone
    (tmp_path / "st-selftrain" / "silver-round2.jsonl").write_text("")
    (tmp_path / "st-selftrain" / "silver-round2.counts.json").write_text("{}")
    shutil.copytree(tmp_path / "st-round1", tmp_path / "st-round2")
    partial = tmp_path / "st-selftrain" / ".silver-round1.tagged.jsonl.partial"
    partial.write_text('{"id": "ok3", "entities": []}\n')
    partial.with_name(partial.name + ".json").write_text('{"fingerprint": {}, "records": 1, "bytes": 30}')
    redone = run_here(*args, "--overwrite")
    assert redone.returncode == 0, redone.stderr[-2000:]
    assert not partial.exists() and not partial.with_name(partial.name + ".json").exists()
    assert not (tmp_path / "st-round2").exists() and not (tmp_path / "st-selftrain" / "silver-round2.jsonl").exists()
    assert teacher.is_dir()


def test_selftrain_needs_articles(tmp_path):
    result = run_here("selftrain.py", "configs/news.yaml")
    assert result.returncode == 2 and result.stderr.strip().endswith(
        "error: silver.articles: name the unlabelled articles to tag (JSONL, .txt files or folders)")
    result = run_here("selftrain.py", "configs/news-selftrain.yaml", "--data.dev", "")
    assert result.returncode == 2 and result.stderr.strip().endswith(
        "error: data.dev: self-training keeps a round while its dev F1 rises; name the dev data")


def test_a_round_without_silver_stops_the_rounds(tiny_bert, corpus_dir, tmp_path, monkeypatch):
    import arabic_ner.predictor as predictor
    from arabic_ner.selftrain import selftrain

    class Nothing(FirstWords):  # a model that finds no entity: no sentence can be silver
        def predict_iter(self, texts):
            return ([] for _ in texts)

    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: Nothing()))
    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **{
        "train.epochs": "1", "silver.articles": str(_articles(tmp_path)), "silver.rounds": "3"}))
    messages = []
    result = selftrain(config, log=messages.append)  # round 0 trained here
    assert [r["round"] for r in result["rounds"]] == [0, 1] and result["best_round"] == 0
    assert "round 1: no sentence had all its entities among the most confident ones; stopping" in messages


def test_silver_only_writes_one_models_silver_and_trains_nothing(trained, tmp_path):
    teacher = trained[0].run_dir / "best"
    articles = _articles(tmp_path)
    out = tmp_path / "fold0.jsonl"
    args = [sys.executable, "selftrain.py", "configs/news-selftrain.yaml", "--output_dir", str(tmp_path),
            "--silver.articles", str(articles), "--silver.keep_out", str(tmp_path / "reserved.txt"),
            "--silver.confident_share", "1"]
    result = subprocess.run([*args, "--teacher", str(teacher), "--silver-only", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["articles_kept_out"] == 2 and out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["articles.jsonl", "fold0.counts.json", "fold0.jsonl",
                                                          "fold0.tagged.jsonl", "reserved.txt"]
    result = subprocess.run([*args, "--silver-only", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip() == \
        "error: --silver-only needs --teacher, the model that tags the articles"


@pytest.mark.parametrize("target, options, message", [
    ("articles.jsonl", [], "is also an input"),  # the unlabelled articles
    ("reserved.txt", [], "silver data is written as .jsonl"),
    ("silver.json", [], "silver data is written as .jsonl"),
    ("gold.jsonl", [], "gold.jsonl: exists; name a new file, or pass --overwrite to replace it"),  # was replaced
    ("gold.jsonl", ["--resume"], "gold.jsonl: exists and no --silver-only made it (no gold.counts.json beside it); "
                                 "name a new file, or pass --overwrite to replace it"),  # replaced, by --resume
])
def test_silver_only_never_writes_over_an_input(trained, tmp_path, target, options, message):
    teacher = trained[0].run_dir / "best"
    articles = _articles(tmp_path)
    (tmp_path / "gold.jsonl").write_text('{"id": "g1", "text": "نص", "entities": []}\n', encoding="utf-8")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = run_here("selftrain.py", "configs/news-selftrain.yaml", "--teacher", str(teacher),
                      "--silver.articles", str(articles), "--silver.keep_out", str(tmp_path / "reserved.txt"),
                      "--silver-only", str(tmp_path / target), *options)
    assert result.returncode == 2 and message in result.stderr and result.stderr.count("\n") == 1
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_teacher_of_another_tag_set_is_refused(trained, tmp_path):
    from arabic_ner.selftrain import selftrain

    config = load_config(None, ["--entity_types", "[PER, LOC]", "--silver.articles", str(_articles(tmp_path)),
                                "--output_dir", str(tmp_path)])
    with pytest.raises(UserError, match=r"--teacher .*: trained on ARMED_GROUP, SECURITY_UNIT, CASUALTY, not the "
                                        r"config's PER, LOC"):
        selftrain(config, teacher=trained[0].run_dir / "best", log=lambda m: None)
    assert not (tmp_path / "run-selftrain").exists()


def test_a_teacher_inside_a_round_of_the_same_self_training_is_refused(tmp_path):
    """Round 1's training replaced it with the student, and selftrain.json named it with the teacher's F1."""
    from arabic_ner.selftrain import selftrain

    teacher = tmp_path / "st-round1" / "best"
    teacher.mkdir(parents=True)
    config = load_config(None, ["--run_name", "st", "--output_dir", str(tmp_path), "--silver.articles",
                                str(_articles(tmp_path))])
    with pytest.raises(UserError, match=rf"--teacher {teacher}: inside {tmp_path / 'st-round1'}, a round of this "
                                        r"self-training, which it trains anew"):
        selftrain(config, teacher=teacher, overwrite=True, log=lambda m: None)
    assert teacher.is_dir()


def test_overwrite_removes_nothing_when_the_gold_cannot_be_read(tmp_path):
    """A typo in data.train with --overwrite removed every round and silver file of before, then failed."""
    from arabic_ner.selftrain import selftrain

    earlier = tmp_path / "st-selftrain" / "silver-round1.jsonl"
    earlier.parent.mkdir()
    earlier.write_text("{}\n")
    config = load_config(None, ["--run_name", "st", "--output_dir", str(tmp_path), "--silver.articles",
                                str(_articles(tmp_path)), "--data.train", str(tmp_path / "typo.jsonl")])
    with pytest.raises(UserError, match="typo.jsonl"):
        selftrain(config, overwrite=True, log=lambda m: None)
    assert earlier.read_text() == "{}\n"


def test_dev_and_test_sentences_and_their_articles_never_become_silver(tmp_path):
    """Only `silver.keep_out` was kept out: the teacher's labels on dev sentences chose the rounds,
    and on test sentences were scored, unless the keep-out list happened to name them."""
    from arabic_ner.selftrain import silver_records, unlabelled

    annotated = "خبر عن هجوم في الموصل قتل فيه جنديان"
    rows = [{"id": "a", "text": f"{WIRE}. {OTHER}."}, {"id": "b", "text": f"{annotated}. {LONG}."},
            {"id": "c", "text": f"وفي تقرير آخر، {LONG}."}]  # c retells the part of b that is not annotated
    articles = tmp_path / "articles.jsonl"
    articles.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) + '{"body": "x"}\n',
                        encoding="utf-8")
    dev, test = tmp_path / "dev.jsonl", tmp_path / "test.jsonl"
    dev.write_text(json.dumps({"id": "d1", "text": OTHER + ".", "entities": []}, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    test.write_text(json.dumps({"id": "t1", "article": "b", "text": annotated + ".", "entities": []},
                               ensure_ascii=False) + "\n", encoding="utf-8")
    config = load_config(None, ["--silver.articles", str(articles), "--data.dev", str(dev), "--data.test", str(test)])
    said = []
    usable, kept, kept_out = unlabelled(config, log=said.append)
    # selftrain has no --text-field to set: the skip does not send the user looking for one
    assert [a.id for a in usable] == ["a"] and kept_out == 2 and said == [f"skipped {articles}:4: no string field 'text'"]
    silver = list(silver_records(tagged_by(FirstWords(), usable), {"ARMED_GROUP": 0.0}, kept=kept))
    assert [r["text"] for r in silver] == [WIRE + "."]


def test_tagging_for_silver_keeps_to_train_threads(tmp_path, monkeypatch):
    """`--train.threads 1` on a shared machine held for training only: the teacher tagged on every core."""
    import torch

    import arabic_ner.predictor as predictor
    from arabic_ner.selftrain import make_silver

    seen = []

    class CountsThreads(FirstWords):
        def predict_iter(self, texts):
            seen.append(torch.get_num_threads())
            return super().predict_iter(texts)

    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: CountsThreads()))
    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    config = load_config(None, ["--silver.articles", str(_articles(tmp_path)), "--train.threads", str(threads)])
    make_silver(tmp_path / "model", config, tmp_path / "silver.jsonl", log=lambda m: None)
    assert seen and set(seen) == {threads} and torch.get_num_threads() == before


def test_overwrite_refuses_while_another_run_tags(tmp_path, monkeypatch):
    """`--overwrite` removed a live run's partial tagging: both runs failed, and left files neither
    --resume nor --overwrite accepted."""
    import arabic_ner.predictor as predictor
    from arabic_ner.files import ResumableLines
    from arabic_ner.selftrain import make_silver

    monkeypatch.setattr(predictor.Predictor, "from_folder", classmethod(lambda cls, *a, **k: FirstWords()))
    config = load_config(None, ["--silver.articles", str(_articles(tmp_path))])
    out = tmp_path / "silver.jsonl"
    with ResumableLines(tmp_path / "silver.tagged.jsonl", {"run": "the other"}) as live:
        with pytest.raises(UserError, match="another run is writing it now"):
            make_silver(tmp_path / "model", config, out, log=lambda m: None, overwrite=True)
        assert live.partial.exists()


def test_resume_refuses_before_any_training_what_it_would_refuse_after(tiny_bert, corpus_dir, tmp_path):
    """A self-training begun with --teacher and resumed without it trained a whole round 0 before
    refusing; more --train.epochs trained a finished round 0 on, then refused its own round 1's silver
    (made by the round 0 of before), leaving no way on but --overwrite."""
    from dataclasses import replace

    from arabic_ner.config import dump_yaml
    from arabic_ner.model_card import model_version
    from arabic_ner.run_folder import RUN_MARK
    from arabic_ner.selftrain import selftrain

    config = load_config(None, tiny_args(tiny_bert, corpus_dir, tmp_path, **{
        "run_name": "st", "train.epochs": "2", "silver.articles": str(_articles(tmp_path)), "silver.rounds": "2"}))
    round0 = tmp_path / "st-round0"
    (round0 / "best").mkdir(parents=True)
    (round0 / "best" / "model.safetensors").write_bytes(b"weights")
    (round0 / "config.yaml").write_text(RUN_MARK + dump_yaml(replace(config, run_name="st-round0")), encoding="utf-8")
    (round0 / "metrics.json").write_text("{}\n", encoding="utf-8")
    stats = tmp_path / "st-selftrain" / "silver-round1.counts.json"
    stats.parent.mkdir()
    (tmp_path / "st-selftrain" / "silver-round1.jsonl").write_text("", encoding="utf-8")
    stats.write_text(json.dumps({"made_with": {"teacher": "fit/best-84074fdd"}}), encoding="utf-8")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(UserError, match=r"st-selftrain: --resume of a self-training whose silver was made by the "
                                        r"teacher fit/best-84074fdd, not by its round 0 .*; pass the same --teacher"):
        selftrain(config, resume=True, log=lambda m: None)
    stats.write_text(json.dumps({"made_with": {"teacher": model_version(round0 / "best")}}), encoding="utf-8")
    longer = replace(config, train=replace(config.train, epochs=5))
    with pytest.raises(UserError, match=r"st-round0: finished with 2 epochs, and the silver of round 1 was made by "
                                        r"it: --train.epochs 5 would train it on under that silver; resume with "
                                        r"--train.epochs 2"):
        selftrain(longer, resume=True, log=lambda m: None)
    shorter = replace(config, train=replace(config.train, epochs=1))  # was kept as it was, without a word
    with pytest.raises(UserError, match=r"st-round0: finished with 2 epochs; --train.epochs 1 would leave it as it "
                                        r"is: resume with its own or more"):
        selftrain(shorter, resume=True, log=lambda m: None)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # nothing trained, nothing written


def test_overwrite_refuses_while_another_self_training_tags_any_round(tmp_path):
    """The guard looked at this run's rounds only: a live run tagging round 3 lost its tagging to
    an --overwrite with --silver.rounds 1."""
    from arabic_ner.files import ResumableLines
    from arabic_ner.selftrain import selftrain

    folder = tmp_path / "st-selftrain"
    folder.mkdir()
    config = load_config(None, ["--run_name", "st", "--output_dir", str(tmp_path), "--silver.rounds", "1",
                                "--silver.articles", str(_articles(tmp_path))])
    with ResumableLines(folder / "silver-round3.tagged.jsonl", {"run": "the other"}) as live:
        with pytest.raises(UserError, match="silver-round3.tagged.jsonl: another run is writing it now"):
            selftrain(config, overwrite=True, log=lambda m: None)
        assert live.partial.exists()


def test_overwrite_refuses_while_a_round_trains(tmp_path, monkeypatch):
    """A self-training's --overwrite removed the round folder another self-training was training in."""
    from arabic_ner.run_folder import RUN_MARK, run_lock
    from arabic_ner.selftrain import selftrain

    round1 = tmp_path / "st-round1"
    (round1 / "last").mkdir(parents=True)
    (round1 / "config.yaml").write_text(RUN_MARK + "run_name: st-round1\n", encoding="utf-8")
    (round1 / "metrics.jsonl").write_text("", encoding="utf-8")
    config = load_config(None, ["--run_name", "st", "--output_dir", str(tmp_path), "--silver.articles",
                                str(_articles(tmp_path))])
    silver = tmp_path / "st-selftrain" / "silver-round1.jsonl"
    silver.parent.mkdir()
    silver.write_text("", encoding="utf-8")  # the live run's data.train: it was removed before the refusal
    with run_lock(round1):
        with pytest.raises(UserError, match=r"st-round1: another training runs in it now"):
            selftrain(config, overwrite=True, log=lambda m: None)
    assert (round1 / "last").is_dir() and silver.exists()
    # a round that starts to train between that check and the clearing is refused until it is done
    import arabic_ner.selftrain as st

    monkeypatch.setattr(st, "clear_run_dir", refused_while_clearing)
    with pytest.raises(Cleared):
        selftrain(config, overwrite=True, log=lambda m: None)
