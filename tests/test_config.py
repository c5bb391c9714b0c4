import pytest

from arabic_ner.config import Config, ConfigError, dump_yaml, load_config, parse_yaml


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_hold_the_production_model():
    config = load_config()
    assert config.model.name_or_path == "aubmindlab/bert-base-arabertv02"
    assert config.entity_types == ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"]


@pytest.mark.parametrize("text, key, expected", [
    ("train: {lr: 3e-5}", "lr", 3e-5),
    ("train: {lr: 3.0e-5}", "lr", 3e-5),
    ("train: {lr: 1}", "lr", 1.0),
    ("train: {epochs: 4}", "epochs", 4),
])
def test_yaml_numbers(tmp_path, text, key, expected):
    value = getattr(load_config(write(tmp_path, text)).train, key)
    assert value == expected and isinstance(value, type(expected))


def test_overrides_beat_the_file(tmp_path):
    path = write(tmp_path, "run_name: a\ntrain: {lr: 1e-4}")
    config = load_config(path, ["--train.lr", "3e-5", "--run_name=b", "--model.label_all_subwords", "true",
                                "--data.test", ""])
    assert (config.train.lr, config.run_name, config.model.label_all_subwords, config.data.test) == (3e-5, "b", True, [])


def test_a_section_override_sets_only_the_keys_it_names(tmp_path):
    """`--train '{lr: 1}'` rebuilt the section from the defaults: the file's epochs silently became 10."""
    path = write(tmp_path, "train: {lr: 1e-4, epochs: 3}\ndata: {train: a.jsonl, dev: b.jsonl}")
    config = load_config(path, ["--train", "{lr: 3e-5}", "--data", "{dev: []}"])
    assert (config.train.lr, config.train.epochs, config.data.train, config.data.dev) == (3e-5, 3, ["a.jsonl"], [])


@pytest.mark.parametrize("text, overrides, message", [
    ("trian: {lr: 1}", [], "unknown key 'trian'; valid keys: run_name, output_dir, entity_types, proclitics_in_spans, model, data, train, silver"),
    ("train: {lrr: 1}", [], "unknown key 'train.lrr'; valid keys: lr, epochs"),
    ("", ["--train.lrr", "1"], "unknown key 'train.lrr'; valid keys: lr, epochs"),
    ("", ["--nope.lr", "1"], "unknown key 'nope'"),
    ("", ["--train.lr.x", "1"], "unknown key 'train.lr.x'; 'train.lr' is a setting, not a section"),
    ("", ["--data.train.x.y", "a"], "unknown key 'data.train.x.y'; 'data.train' is a setting, not a section"),
    ("", ["--data.swap_mentions", "-1"], "'data.swap_mentions' must be 0-20 (copies of each sentence), got -1"),
    ("", ["--data.swap_mentions", "100000000"], "'data.swap_mentions' must be 0-20"),
    ("train: {lr: fast}", [], "'train.lr' must be float, got 'fast'"),
    ("train: {epochs: 2.5}", [], "'train.epochs' must be int, got 2.5"),
    ("model: {label_all_subwords: 1}", [], "'model.label_all_subwords' must be bool"),
    ("entity_types: ARMED_GROUP", [], "'entity_types' must be a list of str"),
    ("train: 3", [], "'train' must be a mapping with keys lr, epochs"),
    ("", ["--train.lr", "-1"], "'train.lr' must be > 0"),
    ("", ["--model.normalization", "farasa"], "'model.normalization' must be one of arabert_v02, none"),
    ("entity_types: []", [], "'entity_types' must declare at least one entity type"),
    ("entity_types: [A, A]", [], "'entity_types' must not repeat a type"),
    ("entity_types: [B-X]", [], "must hold names made of letters, digits and _"),
    ("", ["--model.stride", "100"], "'model.stride' must be >= 0 and below half of model.max_length"),
    ("train: [lr", [], "invalid YAML"),
    ("train: {lr: 1e-4}\ntrain: {epochs: 2}", [], "c.yaml:2: invalid YAML (key 'train' appears twice"),
    ("train: {[lr]: 1}", [], "invalid YAML (found unhashable key)"),
    ("", ["--train.lr"], "--train.lr: missing value"),
    ("", ["lr=3"], "unexpected argument 'lr=3'"),
    # a run name that is not one folder would let --overwrite reach outside the run
    ("", ["--run_name", ".."], "'run_name' must be one plain folder name"),
    ("", ["--run_name", "."], "'run_name' must be one plain folder name"),
    ("", ["--run_name", "a\\b"], "'run_name' must be one plain folder name"),
    ("", ["--run_name", " a"], "'run_name' must be one plain folder name"),
    ("", ["--run_name", "a\x01b"], "'run_name' must be one plain folder name"),
    ("", ["--run_name", "a\x00b"], "'run_name' holds a NUL character"),
    ("", ["--output_dir", "m\x00"], "'output_dir' holds a NUL character"),
    ("", ["--train.seed", "-1"], "'train.seed' must be in [0, 2**32)"),
    ("", ["--train.seed", str(2**32)], "'train.seed' must be in [0, 2**32)"),
    ("", ["--train.batch_size", "9223372036854775808"], "'train.batch_size' must be 1-65,536, got 9223372036854775808"),
    ("", ["--train.eval_batch_size", "0"], "'train.eval_batch_size' must be 1-65,536, got 0"),
    ("", ["--train.grad_accum", "99999999999999"], "'train.grad_accum' must be 1-65,536"),
    ("", ["--train.threads", "100000"], "'train.threads' must be 0-1024 (0: PyTorch's choice), got 100000"),
    ("", ["--train.lr", ".inf"], "'train.lr' must be a finite number, got inf"),
    ("train: {lr: .nan}", [], "'train.lr' must be a finite number, got nan"),
    ("", ["--model.dropout", "-.inf"], "'model.dropout' must be a finite number"),
    ("", ["--model.attention_dropout", "1"], "'model.attention_dropout' must be in [0, 1)"),
    ("", ["--train.precision", "fp16"], "'train.precision' must be one of auto, bf16, fp32"),
    ("", ["--train.save_minutes", "-1"], "'train.save_minutes' must be >= 0"),
    ("", ["--train.freeze_layers", "-1"], "'train.freeze_layers' must be >= 0"),
    ("", ["--train.head_lr", "-1e-3"], "'train.head_lr' must be >= 0 (0: train.lr)"),
    ("", ["--train.layer_lr_decay", "0"], "'train.layer_lr_decay' must be in (0, 1] (1: one rate for the encoder)"),
    ("", ["--train.label_smoothing", "1"], "'train.label_smoothing' must be in [0, 1)"),
    ("", ["--train.ema_decay", "1"], "'train.ema_decay' must be in [0, 1) (0: no average)"),
    ("data: {train: []}", [], "'data.train' must name at least one corpus file"),
    ("data: {dev: [a.jsonl, '']}", [], "'data.dev' must not hold an empty file name"),
    ("data: {test: [a.jsonl, '']}", [], "'data.test' must not hold an empty file name"),
    ("data: {train: 3}", [], "'data.train' must be a list of str, got 3"),
    ("data: {train: [a.jsonl, 3]}", [], "'data.train' must be str, got 3"),
])
def test_errors_name_the_key(tmp_path, text, overrides, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text), overrides)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, overrides, expected", [
    ("data: {train: a.jsonl}", [], ["a.jsonl"]),
    ("data: {train: [a.jsonl, b.jsonl]}", [], ["a.jsonl", "b.jsonl"]),
    ("", ["--data.train", "2024"], ["2024"]),  # a path, verbatim, not the YAML number 2024
    ("", ["--data.train", "no"], ["no"]),  # nor YAML 1.1's false
    ("", ["--data.train", "[a.jsonl, b.conll]"], ["a.jsonl", "b.conll"]),
])
def test_a_split_is_one_file_or_several(tmp_path, text, overrides, expected):
    assert load_config(write(tmp_path, text), overrides).data.train == expected


def test_yaml_merge_keys_still_work(tmp_path):
    config = load_config(write(tmp_path, "train: {<<: {lr: 1e-4, epochs: 3}, epochs: 4}"), [])
    assert (config.train.lr, config.train.epochs) == (1e-4, 4)


def test_non_utf8_config_names_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"train:\n  lr: 1e-4\n  # caf\xe9\n")
    with pytest.raises(ConfigError, match="c.yaml:3: not UTF-8 text"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_resolved_config_round_trips(tmp_path):
    config = load_config(None, ["--train.lr", "2e-5", "--entity_types", "[PER, LOC]"])
    again = load_config(write(tmp_path, dump_yaml(config)))
    assert again == config and isinstance(again, Config)
    assert parse_yaml("1e-3", "x") == 1e-3


@pytest.mark.parametrize("name", ["quickstart", "article", "arabert", "news", "anercorp"])
def test_shipped_configs_load(name):
    assert load_config(f"configs/{name}.yaml").run_name == name
