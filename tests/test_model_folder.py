"""Damaged model folders: every way of loading one ends in one line naming the folder and the file."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from arabic_ner.errors import UserError
from arabic_ner.labels import LabelSet
from arabic_ner.model import load_encoder, load_trained
from conftest import run_here, tiny_args


def truncate(name, keep):
    def damage(folder):
        path = folder / name
        data = path.read_bytes()
        path.write_bytes(data[:keep if keep else len(data) // 2])
    return damage


def write(name, content):
    def damage(folder):
        (folder / name).write_bytes(content.encode() if isinstance(content, str) else content)
    return damage


def remove(name):
    return lambda folder: (folder / name).unlink()


def edit(name, change):
    """Rewrite a JSON file with `change(data)` applied."""
    def damage(folder):
        path = folder / name
        path.write_text(json.dumps(change(json.loads(path.read_text(encoding="utf-8")))), encoding="utf-8")
    return damage


def without(*keys):
    return lambda data: {k: v for k, v in data.items() if k not in keys}


def with_(**values):
    return lambda data: {**data, **values}


def five_labels(config):
    labels = ["O", "B-A", "I-A", "B-B", "I-B"]
    return {**config, "id2label": dict(enumerate(labels)), "label2id": {label: i for i, label in enumerate(labels)}}


def five_label_head(folder):
    tensors = load_file(folder / "model.safetensors")
    tensors["classifier.weight"], tensors["classifier.bias"] = torch.zeros(5, 32), torch.zeros(5)
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})


MISMATCH = r"classifier\.weight has shape \[7, 32\].*expects \[5, 32\]"
SETTINGS = "arabic_ner.json"

TRAINED_DAMAGE = [
    ("weights cut at 1000 bytes", truncate("model.safetensors", 1000), "model.safetensors"),
    ("weights cut in half", truncate("model.safetensors", 0), "model.safetensors"),
    ("weights empty", write("model.safetensors", ""), "model.safetensors"),
    ("weights missing", remove("model.safetensors"), "model.safetensors"),
    ("weights of a 5-label head", five_label_head, r"classifier\.weight has shape \[5, 32\].*expects \[7, 32\]"),
    ("config.json labels edited", edit("config.json", five_labels), MISMATCH),
    ("config.json num_labels edited", edit("config.json", lambda c: {**without("id2label", "label2id")(c),
                                                                     "num_labels": 5}), MISMATCH),
    ("config.json a layer fewer", edit("config.json", with_(num_hidden_layers=1)), "config.json"),
    ("config.json not JSON", write("config.json", "{oops"), "config.json"),
    ("config.json empty", write("config.json", ""), "config.json"),
    ("config.json a list", write("config.json", "[]"), "config.json"),
    ("config.json missing", remove("config.json"), "config.json"),
    ("config.json id2label a number", edit("config.json", with_(id2label=5)), "config.json"),
    ("config.json hidden_size a string", edit("config.json", with_(hidden_size="x")), "config.json"),
    ("config.json unknown model_type", edit("config.json", with_(model_type="nope")), "config.json"),
    ("tokenizer.json without added_tokens", edit("tokenizer.json", without("added_tokens")), "tokenizer.json"),
    ("tokenizer.json not JSON", write("tokenizer.json", "not json {"), "tokenizer.json"),
    ("tokenizer.json empty", write("tokenizer.json", ""), "tokenizer.json"),
    ("tokenizer.json a list", write("tokenizer.json", "[]"), "tokenizer.json"),
    ("tokenizer.json no model", edit("tokenizer.json", without("model")), "tokenizer.json"),
    ("tokenizer.json missing", remove("tokenizer.json"), "tokenizer.json"),
    ("tokenizer.json not UTF-8", write("tokenizer.json", b"\xff\xfe{}"), "tokenizer.json"),
    ("tokenizer_config.json not JSON", write("tokenizer_config.json", "{"), "tokenizer_config.json"),
    ("settings entity_types a number", edit(SETTINGS, with_(entity_types=5)), "entity_types"),
    ("settings entity_types empty", edit(SETTINGS, with_(entity_types=[])), "entity_types"),
    ("settings entity_types holds a number", edit(SETTINGS, with_(entity_types=["ARMED_GROUP", 3])), "entity_types"),
    ("settings entity_types a name with a space", edit(SETTINGS, with_(entity_types=["ARMED GROUP", "B", "C"])),
     "letters, digits and _"),
    ("settings entity_types repeated", edit(SETTINGS, with_(entity_types=["A", "A", "B"])), "entity_types"),
    ("settings entity_types other names", edit(SETTINGS, with_(entity_types=["A", "B", "C"])), "entity types"),
    ("settings normalization unknown", edit(SETTINGS, with_(normalization="nfkc")), "normalization"),
    ("settings max_length a string", edit(SETTINGS, with_(max_length="x")), "max_length"),
    ("settings max_length true", edit(SETTINGS, with_(max_length=True)), "max_length"),
    ("settings max_length too small", edit(SETTINGS, with_(max_length=4)), "max_length"),
    ("settings stride half the window", edit(SETTINGS, with_(stride=8)), "stride"),
    ("settings stride negative", edit(SETTINGS, with_(stride=-1)), "stride"),
    ("settings stride a float", edit(SETTINGS, with_(stride=4.0)), "stride"),
    ("settings proclitics_in_spans a string", edit(SETTINGS, with_(proclitics_in_spans="yes")), "proclitics_in_spans"),
    ("settings extra key", edit(SETTINGS, with_(lowercase=True)), "lowercase"),
    ("settings missing key", edit(SETTINGS, without("stride")), "stride"),
    ("settings a list", write(SETTINGS, "[]"), SETTINGS),
    ("settings not JSON", write(SETTINGS, "{"), SETTINGS),
    ("settings empty", write(SETTINGS, ""), SETTINGS),
    ("settings not UTF-8", write(SETTINGS, b'{"entity_types": ["\xff"]}'), SETTINGS),
    ("settings missing", remove(SETTINGS), SETTINGS),
    # loaded, then failing at the first text or the first long one: values the model cannot be built
    # on, a tokenizer of another model, a window past the position table
    ("config.json hidden_act unknown", edit("config.json", with_(hidden_act="bogus")),
     "config.json: the model it describes cannot be built"),
    ("config.json pad_token_id past the vocabulary", edit("config.json", with_(pad_token_id=9999)),
     "config.json: the model it describes cannot be built"),
    ("config.json num_attention_heads 0", edit("config.json", with_(num_attention_heads=0)),  # was ZeroDivisionError
     "config.json: the model it describes cannot be built"),
    ("tokenizer.json of a larger vocabulary", edit("tokenizer.json", lambda t: {**t, "model": {
        **t["model"], "vocab": {**t["model"]["vocab"], **{f"zz{i}": len(t["model"]["vocab"]) + i for i in range(500)}}}}),
     "tokenizer.json: .* tokens, but the model's embeddings have .* rows"),
    ("tokenizer.json without its unknown token", edit("tokenizer.json", lambda t: {**t, "model": {
        **t["model"], "vocab": {k: v for k, v in t["model"]["vocab"].items() if k != t["model"]["unk_token"]}}}),
     "tokenizer.json: not a tokenizer .*Missing"),
    ("settings max_length past the position table", edit(SETTINGS, with_(max_length=100_000)),
     "'max_length' is 100000, but the model reads at most"),
]

ENCODER_DAMAGE = [
    ("weights cut in half", truncate("model.safetensors", 0), "model.safetensors"),
    ("weights missing", remove("model.safetensors"), "model.safetensors"),
    ("weights of a smaller encoder", edit("config.json", with_(num_hidden_layers=3)), "config.json"),
    ("config.json hidden_size edited", edit("config.json", with_(hidden_size=64)),
     r"has shape \[\d+, 32\].*expects \[\d+, 64\]"),
    ("config.json not JSON", write("config.json", "{oops"), "config.json"),
    ("config.json missing", remove("config.json"), "config.json"),
    ("tokenizer.json without added_tokens", edit("tokenizer.json", without("added_tokens")), "tokenizer.json"),
    ("tokenizer.json not JSON", write("tokenizer.json", "not json {"), "tokenizer.json"),
    ("tokenizer.json empty", write("tokenizer.json", ""), "tokenizer.json"),
]


def damaged_copy(source: Path, damage, tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    damage(folder)
    return folder


def assert_one_line_naming(error: pytest.ExceptionInfo, folder: Path, pattern: str) -> None:
    message = str(error.value)
    assert "\n" not in message and str(folder) in message, message
    assert re.search(pattern, message), message


@pytest.mark.parametrize("case, damage, names", TRAINED_DAMAGE, ids=[c[0] for c in TRAINED_DAMAGE])
def test_damaged_trained_folder_is_one_line(trained, tmp_path, case, damage, names):
    config, _ = trained
    folder = damaged_copy(config.run_dir / "best", damage, tmp_path)
    with pytest.raises(UserError) as error:
        load_trained(folder)
    assert_one_line_naming(error, folder, names)


def test_a_folder_written_before_proclitics_in_spans_loads_as_leaving_them_out(trained, tmp_path):
    config, _ = trained
    folder = damaged_copy(config.run_dir / "best", edit(SETTINGS, without("proclitics_in_spans")), tmp_path)
    assert "proclitics_in_spans" not in json.loads((folder / SETTINGS).read_text())
    assert load_trained(folder)[2].proclitics_in_spans is False


@pytest.mark.parametrize("case, damage, names", ENCODER_DAMAGE, ids=[c[0] for c in ENCODER_DAMAGE])
def test_damaged_encoder_folder_is_one_line(tiny_bert, tmp_path, case, damage, names):
    folder = damaged_copy(tiny_bert, damage, tmp_path)
    with pytest.raises(UserError) as error:
        load_encoder(str(folder), LabelSet(("ARMED_GROUP",)), 0.1, 0.0)
    assert_one_line_naming(error, folder, names)


def test_intact_folders_still_load(trained, tiny_bert):
    config, _ = trained
    model, tokenizer, settings = load_trained(config.run_dir / "best")
    assert model.config.num_labels == 7 and settings.max_length == 16 and tokenizer.is_fast
    model, _ = load_encoder(str(tiny_bert), LabelSet(("ARMED_GROUP",)), 0.1, 0.0)
    assert model.config.num_labels == 3


def test_a_trained_folder_fine_tunes_on_a_grown_tag_set(trained):
    """Growing the tag set by annotation starts from the last model: its 7-label head is replaced by
    a new one, its encoder's weights are kept."""
    import torch

    config, _ = trained
    old, _, _ = load_trained(config.run_dir / "best")
    model, _ = load_encoder(str(config.run_dir / "best"), LabelSet(("ARMED_GROUP", "SECURITY_UNIT", "CASUALTY",
                                                                    "LOCATION")), 0.1, 0.0)
    assert model.config.num_labels == 9 and model.classifier.weight.shape[0] == 9
    assert torch.equal(model.bert.embeddings.word_embeddings.weight, old.bert.embeddings.word_embeddings.weight)


def assert_one_error_line(result: subprocess.CompletedProcess, names: str) -> None:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and names in lines[0], result.stderr[-3000:]


def test_predict_on_damaged_folder(trained, tmp_path):
    config, _ = trained
    folder = damaged_copy(config.run_dir / "best", truncate("model.safetensors", 1000), tmp_path)
    result = run_here("predict.py", str(folder), "-", input="داعش")
    assert_one_error_line(result, f"{folder}/model.safetensors")


def test_evaluate_on_damaged_folder(trained, corpus_dir, tmp_path):
    config, _ = trained
    folder = damaged_copy(config.run_dir / "best", edit("config.json", five_labels), tmp_path)
    result = run_here("eval/evaluate.py", str(folder), str(corpus_dir / "test.jsonl"), "--out", str(tmp_path / "eval"))
    assert_one_error_line(result, "classifier.weight has shape [7, 32]")
    assert not (tmp_path / "eval").exists()


def test_train_on_damaged_encoder(tiny_bert, corpus_dir, tmp_path):
    folder = damaged_copy(tiny_bert, edit("tokenizer.json", without("added_tokens")), tmp_path)
    result = run_here("train.py", "configs/quickstart.yaml", *tiny_args(folder, corpus_dir, tmp_path / "runs"))
    assert_one_error_line(result, f"{folder}/tokenizer.json")


@pytest.mark.parametrize("path", ["/no/such/dir", "./nope", "nope/a/b", "~/x"])
def test_a_missing_folder_does_not_blame_the_hub(path, monkeypatch):
    """It once said the hub was unreachable and suggested `hf download /no/such/dir`."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match=f"cannot load model '{re.escape(path)}': no such folder$"):
        load_encoder(path, LabelSet(("ARMED_GROUP",)), 0.1, 0.0)


@pytest.mark.parametrize("command", [["predict.py"], ["-m", "arabic_ner", "ray-predict"], ["-m", "arabic_ner", "serve"]])
def test_a_run_folder_given_for_its_model_is_named_so(trained, tmp_path, command):
    """The likeliest wrong path: ray-predict found it only in the Ray actors, in pages of their dumps."""
    config, _ = trained
    # enough words that predict.py would first announce compiling the model: the folder is said before it
    (tmp_path / "a.jsonl").write_text(json.dumps({"text": "داعش " * 450_000}) + "\n", encoding="utf-8")
    args = {"predict.py": [str(tmp_path / "a.jsonl")], "-m": []}[command[0]]
    if command[-1] == "ray-predict":
        args = [str(tmp_path / "a.jsonl"), "-o", str(tmp_path / "out")]
    result = run_here(*command, str(config.run_dir), *args)
    assert result.returncode == 2
    assert result.stderr == f"error: {config.run_dir}: a training run folder; its model is {config.run_dir / 'best'}\n"
