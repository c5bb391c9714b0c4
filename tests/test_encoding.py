import pytest
from transformers import AutoTokenizer

from arabic_ner.errors import UserError
from arabic_ner.labels import word_tags
from arabic_ner.sentences import to_sentence
from arabic_ner.windows import IGNORE, WindowEncoder, merge_windows
from arabic_ner.labels import LabelSet
from arabic_ner.sentences import split_sentences
from arabic_ner.words import word_spans

LABELS = LabelSet(("ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"))


@pytest.fixture(scope="module")
def tokenizer(tiny_bert):
    return AutoTokenizer.from_pretrained(tiny_bert)


@pytest.mark.parametrize("text, entity, tags", [
    ("هجوم لداعش امس", (6, 10), ["O", "B-ARMED_GROUP", "O"]),  # clitic outside the span: word still inside
    ("قوات الحشد الشعبي", (5, 17), ["O", "B-ARMED_GROUP", "I-ARMED_GROUP"]),
    ("قتل ثلاثة", (4, 6), ["O", "B-ARMED_GROUP"]),  # a span inside a word tags the word
])
def test_word_tags_overlap(text, entity, tags):
    spans = word_spans(text)
    assert word_tags(spans, [{"start": entity[0], "end": entity[1], "label": "ARMED_GROUP"}]) == tags


def test_first_subword_carries_the_tag(tokenizer):
    record = {"id": "x", "text": "قوات المتحاربين", "entities": [{"start": 0, "end": 15, "label": "SECURITY_UNIT"}]}
    sentence = to_sentence(record, "none")
    window, = WindowEncoder(tokenizer, 32, 4, LABELS).encode([sentence])
    pieces = [w for w in window.word_ids if w is not None]
    assert len(pieces) > len(sentence.tokens), "the test needs a word split into several subwords"
    firsts = [j for j, w in enumerate(window.word_ids) if w is not None and window.heads[j]]
    assert [window.labels[j] for j in firsts] == [LABELS.label2id["B-SECURITY_UNIT"], LABELS.label2id["I-SECURITY_UNIT"]]
    rest = [window.labels[j] for j, w in enumerate(window.word_ids) if w is not None and not window.heads[j]]
    assert rest and set(rest) == {IGNORE}
    every, = WindowEncoder(tokenizer, 32, 4, LABELS, label_all_subwords=True).encode([sentence])
    assert IGNORE not in [every.labels[j] for j, w in enumerate(every.word_ids) if w is not None]
    assert every.labels[0] == IGNORE and every.labels[-1] == IGNORE  # [CLS] and [SEP]


def test_long_sentence_is_windowed_and_every_word_tagged_once(tokenizer):
    text = " ".join(["قتل تنظيم داعش خمسة جنود في بغداد"] * 20)
    sentence = to_sentence({"id": "long", "text": text, "entities": []}, "none")
    encoder = WindowEncoder(tokenizer, 24, 6, LABELS)
    windows = encoder.encode([sentence])
    assert len(windows) > 3
    assert all(len(w.input_ids) <= 24 for w in windows)
    assert windows[0].input_ids[0] == tokenizer.cls_token_id and windows[0].input_ids[-1] == tokenizer.sep_token_id
    covered = {w for win in windows for w in win.word_ids if w is not None}
    assert covered == set(range(len(sentence.tokens)))
    for a, b in zip(windows, windows[1:]):  # consecutive windows overlap and start on word boundaries
        assert b.first < a.first + len(a.input_ids) - 2
        assert b.heads[1]
    # Each window "predicts" its own index: every word must take exactly one window's value,
    # and it is the window where the word sits farthest from an edge.
    import numpy as np
    probs = [np.full((len(w.input_ids), len(LABELS.labels)), float(i)) for i, w in enumerate(windows)]
    merged, = merge_windows([sentence], windows, probs, len(LABELS.labels))
    chosen = merged[:, 0].astype(int)
    for word, k in enumerate(chosen):
        win = windows[k]
        positions = [j for j, w in enumerate(win.word_ids) if w == word and win.heads[j]]
        assert positions, f"word {word} took a window that does not hold its first subword"


def test_word_longer_than_a_window_is_cut_not_dropped(tokenizer):
    encoder = WindowEncoder(tokenizer, 8, 1, LABELS)
    word_ids = [0] * 15 + [1, 2]
    cuts = encoder.cuts(word_ids)
    assert cuts[0] == (0, 6) and cuts[-1][1] == 17


def test_stride_too_wide_for_the_window_is_a_user_error(tokenizer):
    # config.validate allows stride < max_length // 2; the special tokens take 2 more here
    with pytest.raises(UserError, match=r"'model.stride' 7 needs 'model.max_length' of at least 15 .* got 16"):
        WindowEncoder(tokenizer, 16, 7, LABELS)
    WindowEncoder(tokenizer, 17, 7, LABELS)  # 15 subwords of content: one step of a window


def test_offsets_survive_splitting_and_normalization():
    text = "قال الجيـــش: قتل ٣ من «داعش» في الموصل.\nوأصيب 12 مدنيا؟ نعم!"
    for start, end in split_sentences(text):
        sentence = to_sentence({"id": "x", "text": text[start:end]}, "arabert_v02")
        for token, (s, e) in zip(sentence.tokens, sentence.spans):
            raw = text[start:end][s:e]
            assert raw.replace("ـ", "").translate(str.maketrans("٣", "3")) == token
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "قال الجيـــش: قتل ٣ من «داعش» في الموصل.", "وأصيب 12 مدنيا؟", "نعم!"]


def test_a_sentence_with_no_subword_has_no_window_and_reads_as_o(tokenizer):
    # XLM-R's tokenizer (e5's) drops control characters: a DOS end-of-file mark on a line of its own
    # was a sentence with no subword, and `merge_windows` failed on its empty window.
    import copy

    import numpy as np
    from tokenizers import normalizers
    dropping = copy.deepcopy(tokenizer)
    dropping.backend_tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    sentences = [to_sentence({"id": i, "text": text, "entities": []}, "none") for i, text in
                 enumerate(["قتل تنظيم داعش", "\x1a", "\x01 \x7f"])]
    assert dropping([s.tokens for s in sentences[1:]], is_split_into_words=True,
                    add_special_tokens=False)["input_ids"] == [[], []]
    encoder = WindowEncoder(dropping, 32, 4, LABELS)
    assert encoder.cuts([]) == []
    windows = encoder.encode(sentences)
    assert [w.sentence for w in windows] == [0]
    probs = [np.full((len(w.input_ids), len(LABELS.labels)), 1 / len(LABELS.labels)) for w in windows]
    merged = merge_windows(sentences, windows, probs, len(LABELS.labels))
    assert [m.shape[0] for m in merged] == [3, 1, 2]
    assert merged[1][:, 0].tolist() == [1.0] and merged[2][:, 0].tolist() == [1.0, 1.0]
