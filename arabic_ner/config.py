"""One schema for every setting: defaults live here, experiments are YAML diffs of it.

`load_config("configs/x.yaml", ["--train.lr", "3e-5"])` reads the YAML file, applies dotted
command-line overrides and validates the result before any work starts. Every mistake is a
`ConfigError` whose one-line message names the key and what would have been valid.
"""
from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arabic_ner.errors import UserError

NORMALIZATIONS = ("arabert_v02", "none")
PRECISIONS = ("auto", "bf16", "fp32")
SEED_LIMIT = 2**32  # numpy seeds its generator with numbers below this
BOOTSTRAP_LIMIT = 100_000  # the most resamples for an interval (1,000 is usual; 10,000 settles the third decimal)
COUNT_LIMIT = 2**16  # the most sentences or windows in a batch, and batches in one update
WINDOWS_PER_PASS = 32  # windows per forward pass when tagging or scoring: train.eval_batch_size, every --batch-size
THREAD_LIMIT = 1024  # the most CPU threads a run may ask for


@dataclass
class ModelConfig:
    name_or_path: str = "aubmindlab/bert-base-arabertv02"  # hub name or local folder; configs/ but arabert.yaml: the offline encoder
    normalization: str = "arabert_v02"  # text normalization the encoder was pretrained with
    max_length: int = 128  # subwords per window, special tokens included
    stride: int = 32  # subwords shared by consecutive windows of a long sentence
    label_all_subwords: bool = False  # False: only a word's first subword carries its tag (-100 elsewhere)
    dropout: float = 0.1  # dropout before the classification layer
    attention_dropout: float = 0.0  # dropout on attention weights (BERT pretrained with 0.1); see training.py
    crf: bool = False  # a linear-chain CRF over the word tags, trained with the encoder (crf.py)


def _files(*paths: str):
    """A split's files: one path or a list of paths in YAML, read one after another as one split."""
    return field(default_factory=lambda: list(paths), metadata={"one_or_more": True})


@dataclass
class DataConfig:
    train: list[str] = _files("data/article/train.jsonl")  # JSONL {"id", "text", "entities": [{start, end, label}]}, CoNLL or Parquet
    dev: list[str] = _files("data/article/dev.jsonl")  # model selection and early stopping; [] trains train.epochs, best/ the last (a final model on all the gold)
    test: list[str] = _files("data/article/test.jsonl")  # scored once with model-best at the end; "" or [] to skip
    swap_mentions: int = 0  # extra copies of each training record with entities, its mentions swapped for others of their type (augment.py)


@dataclass
class TrainConfig:
    lr: float = 5e-5  # peak learning rate of AdamW
    epochs: int = 10  # upper bound; early stopping may end sooner
    batch_size: int = 16  # windows per step on each process
    group_by_length: bool = False  # batch windows of similar length (less padding; pays off from a few thousand windows)
    grad_accum: int = 1  # steps accumulated before each optimizer update
    weight_decay: float = 0.01  # AdamW decay; never applied to biases and LayerNorm
    warmup_ratio: float = 0.1  # fraction of updates with linear warmup, then linear decay
    max_grad_norm: float = 1.0  # gradient clipping
    freeze_embeddings: bool = True  # keep the pretrained word embeddings as they are (training.py says why)
    fast_dropout: bool = True  # CPU dropout masks drawn 16 bits an element: a third of nn.Dropout's cost (dropout.py)
    freeze_layers: int = 0  # also keep the embeddings and the encoder's lowest N layers as pretrained (no backward through them)
    head_lr: float = 0.0  # peak learning rate of the new classification head; 0: train.lr
    layer_lr_decay: float = 1.0  # each encoder layer learns at this times the rate of the one above it (top: train.lr); 1: one rate
    label_smoothing: float = 0.0  # share of each word's target spread evenly over all tags (cross-entropy's label_smoothing)
    ema_decay: float = 0.0  # dev scores and best/ use an exponential moving average of the trained weights with this decay per update (weight_average.py); 0: the weights themselves
    precision: str = "auto"  # bf16 | fp32 | auto: bf16 where the hardware multiplies it natively (device.py)
    patience: int = 3  # epochs without a better dev F1 before stopping; 0 disables early stopping
    seed: int = 42  # python, numpy and torch seeds; also fixes the data order
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    save_minutes: float = 10.0  # save last/ at most this often (and at the end, and on a stop); 0: every epoch
    eval_batch_size: int = WINDOWS_PER_PASS  # windows per forward pass when scoring dev and test


@dataclass
class SilverConfig:  # self-training (selftrain.py); train.py ignores it
    articles: list[str] = _files()  # unlabelled articles, read as predict.py reads them, that each round's model tags
    keep_out: list[str] = _files()  # .txt of article ids, or annotated .jsonl naming `article`: those and their retellings never become silver
    confident_share: float = 0.5  # a sentence is silver when each of its entities is in this top share of its type's (by score)
    rounds: int = 2  # students, each trained on the gold and the previous model's silver; stops when dev F1 stops rising


@dataclass
class Config:
    run_name: str = "run"  # the run is written to <output_dir>/<run_name>/
    output_dir: str = "models"  # parent folder of runs
    entity_types: list[str] = field(default_factory=lambda: ["ARMED_GROUP", "SECURITY_UNIT", "CASUALTY"])  # the tag set, in label order
    proclitics_in_spans: bool = False  # true for corpora tagged by whole words (ANERcorp: لداعش); false: entities start after them, as the spec says (clitics.py)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    silver: SilverConfig = field(default_factory=SilverConfig)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / self.run_name


class ConfigError(UserError):
    pass


class _Loader(yaml.SafeLoader):
    """PyYAML follows YAML 1.1, where `3e-5` is a string; accept it as a float, as people mean.
    And PyYAML keeps the last of two equal keys, silently; here that is an error."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, which PyYAML expands itself
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"key {key!r} appears twice in one mapping", key_node.start_mark)
                seen.add(key)
            except TypeError:  # an unhashable key: PyYAML's own check names it
                break
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*\.?\d*|\.\d+)[eE][-+]?\d+$|^[-+]?(?:\d[\d_]*\.\d*|\.\d+)$"),
    list("-+0123456789."),
)


def parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}{line}: invalid YAML ({problem})") from None


def load_config(path: str | Path | None = None, overrides: list[str] = ()) -> Config:
    """Defaults, then the YAML file, then `--dotted.key value` overrides; validated."""
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            raise ConfigError(f"{path}:{line}: not UTF-8 text") from None
        values = parse_yaml(text, str(path)) or {}
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: a config is a mapping of keys to values")
    config = _build(Config, values, prefix="", where=str(path or "defaults"))
    for key, raw in _pairs(overrides):
        _set(config, key, raw, where="command line")
    validate(config)
    return config


def _pairs(overrides: list[str]):
    items = list(overrides)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--"):
            raise ConfigError(f"unexpected argument {flag!r}; overrides look like --train.lr 3e-5")
        key = flag[2:]
        if "=" in key:
            key, raw = key.split("=", 1)
        elif items:
            raw = items.pop(0)
        else:
            raise ConfigError(f"--{key}: missing value")
        yield key, raw


def _build(cls, values: dict, prefix: str, where: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: '{prefix.rstrip('.')}' must be a mapping with keys {_names(cls)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{where}: unknown key '{prefix}{key}'; valid keys: {_names(cls)}")
        if dataclasses.is_dataclass(hints[key]):
            kwargs[key] = _build(hints[key], value, f"{prefix}{key}.", where)
        else:
            kwargs[key] = _coerce(_one_or_more(fields[key], value), hints[key], f"{prefix}{key}", where)
    return cls(**kwargs)


def _set(config: Config, dotted: str, raw: str, where: str) -> None:
    """Set one dotted key from its command-line text: YAML for numbers, lists and booleans,
    verbatim for string keys and file paths (so `--data.test ""` is no file and `--run_name 7` a name)."""
    *parents, leaf = dotted.split(".")
    node, prefix = config, ""
    for depth, name in enumerate([*parents, leaf]):  # each part checked; `node` ends as the leaf's section
        if not dataclasses.is_dataclass(node):  # `train.lr.x`: a setting has no keys below it
            raise ConfigError(f"{where}: unknown key '{dotted}'; '{prefix.rstrip('.')}' is a setting, not a section")
        if name not in _field_names(node):
            raise ConfigError(f"{where}: unknown key '{prefix}{name}'; valid keys: {_names(node)}")
        if depth < len(parents):
            node, prefix = getattr(node, name), f"{prefix}{name}."
    hint = typing.get_type_hints(type(node))[leaf]
    field_ = next(f for f in dataclasses.fields(node) if f.name == leaf)
    # a file list's one path is verbatim too; `[a.jsonl, b.jsonl]` is YAML
    verbatim = hint is str or (field_.metadata.get("one_or_more") and not raw.lstrip().startswith("["))
    value = raw if verbatim else parse_yaml(raw, f"--{dotted}")
    if dataclasses.is_dataclass(hint):  # a mapping sets the keys it names; the section keeps the others
        given = _merged(dataclasses.asdict(getattr(node, leaf)), value) if isinstance(value, dict) else value
        setattr(node, leaf, _build(hint, given, f"{dotted}.", where))
    else:
        setattr(node, leaf, _coerce(_one_or_more(field_, value), hint, dotted, where))


def _merged(current: dict, given: dict) -> dict:
    """`given`'s keys over `current`'s, section by section."""
    return {**current, **{key: _merged(current[key], value) if isinstance(current.get(key), dict)
                          and isinstance(value, dict) else value for key, value in given.items()}}


def _one_or_more(field_: dataclasses.Field, value: Any) -> Any:
    """A file list given as one path is a list of one; the empty string, as `--data.test ""`, none."""
    if field_.metadata.get("one_or_more") and isinstance(value, str):
        return [value] if value else []
    return value


def _coerce(value: Any, hint: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{key}' must be a list of {item.__name__}, got {value!r}")
        return [_coerce(v, item, key, where) for v in value]
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # YAML reads .inf and .nan; no setting here means either
                raise ConfigError(f"{where}: '{key}' must be a finite number, got {value!r}")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            if "\x00" in value:  # no path or name can hold one; the OS would reject it mid-run
                raise ConfigError(f"{where}: '{key}' holds a NUL character")
            return value
    elif origin in (typing.Union, types.UnionType):
        raise TypeError(f"union types are not supported in the config schema ({key})")
    raise ConfigError(f"{where}: '{key}' must be {hint.__name__}, got {value!r}")


def check_batch_size(value: int) -> None:
    """A tagging or scoring command's `--batch-size`, held to train.eval_batch_size's range."""
    if not 1 <= value <= COUNT_LIMIT:
        raise UserError(f"--batch-size {value}: must be 1-{COUNT_LIMIT:,}")


def check_entity_types(need, entity_types: list[str]) -> None:
    """A tag set's names, wherever one is given (a config, a model folder, `validate --types`)."""
    need(len(entity_types) > 0, "entity_types", "must declare at least one entity type")
    for name in entity_types:
        need(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) is not None and name != "O", "entity_types",
             f"must hold names made of letters, digits and _, other than O, IOB2's outside tag (bad: {name!r})")
    need(len(set(entity_types)) == len(entity_types), "entity_types", "must not repeat a type")


def check_model_text(need, entity_types: list[str], normalization: str, max_length: int, stride: int,
                     prefix: str) -> None:
    """The checks of what a model is told about its text, asked of a config (`prefix` "model.") and
    again of a model folder's settings (prefix "", the file may have been edited); `need(ok, key,
    message)` raises the caller's error."""
    check_entity_types(need, entity_types)
    need(normalization in NORMALIZATIONS, f"{prefix}normalization", f"must be one of {', '.join(NORMALIZATIONS)}")
    need(max_length >= 8, f"{prefix}max_length", "must be at least 8")
    # the tokenizer's special tokens take a few more: windows.WindowEncoder checks with them
    need(0 <= stride < max_length // 2, f"{prefix}stride", f"must be >= 0 and below half of {prefix}max_length")


def validate(config: Config) -> None:
    """Value checks that types alone cannot express; one line naming the key."""
    def need(ok: bool, key: str, message: str) -> None:
        if not ok:
            raise ConfigError(f"'{key}' {message}, got {_get(config, key)!r}")

    check_model_text(need, config.entity_types, config.model.normalization, config.model.max_length,
                     config.model.stride, prefix="model.")
    need(_plain_name(config.run_name), "run_name",
         "must be one plain folder name (not . or .., no / or \\, no control characters, at most 200 bytes)")
    m, t = config.model, config.train
    need(m.name_or_path != "", "model.name_or_path", "must name a hub model or a local folder")
    need(0.0 <= m.dropout < 1.0, "model.dropout", "must be in [0, 1)")
    need(config.data.train != [], "data.train", "must name at least one corpus file")
    # each copy adds every training sentence with entities once more (one copy doubled an epoch's time):
    # a bound, so that a typo of 100000000 is refused here, not met by memory running out
    need(0 <= config.data.swap_mentions <= 20, "data.swap_mentions", "must be 0-20 (copies of each sentence)")
    need(0.0 < config.silver.confident_share <= 1.0, "silver.confident_share", "must be in (0, 1]")
    need(config.silver.rounds >= 1, "silver.rounds", "must be >= 1")
    for key in ("articles", "keep_out"):
        need("" not in getattr(config.silver, key), f"silver.{key}", "must not hold an empty file name")
    for split in ("train", "dev", "test"):
        need("" not in getattr(config.data, split), f"data.{split}", "must not hold an empty file name")
    need(t.lr > 0, "train.lr", "must be > 0")
    need(t.epochs >= 1, "train.epochs", "must be >= 1")
    # bounds far above any real use, so that a typo is refused here, not met as a traceback (an
    # index past sys.maxsize, a thread pool that cannot map its memory) or an epoch with no update
    need(1 <= t.batch_size <= COUNT_LIMIT, "train.batch_size", f"must be 1-{COUNT_LIMIT:,}")
    need(1 <= t.eval_batch_size <= COUNT_LIMIT, "train.eval_batch_size", f"must be 1-{COUNT_LIMIT:,}")
    need(1 <= t.grad_accum <= COUNT_LIMIT, "train.grad_accum", f"must be 1-{COUNT_LIMIT:,}")
    need(t.weight_decay >= 0, "train.weight_decay", "must be >= 0")
    need(0.0 <= t.warmup_ratio < 1.0, "train.warmup_ratio", "must be in [0, 1)")
    need(t.max_grad_norm > 0, "train.max_grad_norm", "must be > 0")
    need(t.patience >= 0, "train.patience", "must be >= 0")
    need(0 <= t.threads <= THREAD_LIMIT, "train.threads", f"must be 0-{THREAD_LIMIT} (0: PyTorch's choice)")
    need(t.precision in PRECISIONS, "train.precision", f"must be one of {', '.join(PRECISIONS)}")
    need(t.freeze_layers >= 0, "train.freeze_layers", "must be >= 0")
    need(t.head_lr >= 0, "train.head_lr", "must be >= 0 (0: train.lr)")
    need(0.0 < t.layer_lr_decay <= 1.0, "train.layer_lr_decay", "must be in (0, 1] (1: one rate for the encoder)")
    need(0.0 <= t.label_smoothing < 1.0, "train.label_smoothing", "must be in [0, 1)")
    # the CRF's likelihood is over whole tag sequences, of words: it has no smoothing, and subwords
    # labelled after their word's first would make its sequences subwords, not the words it decodes
    need(not (m.crf and t.label_smoothing), "model.crf", "takes no train.label_smoothing; set one of them only")
    need(not (m.crf and m.label_all_subwords), "model.crf", "tags words: set model.label_all_subwords false")
    need(0.0 <= t.ema_decay < 1.0, "train.ema_decay", "must be in [0, 1) (0: no average)")
    need(t.save_minutes >= 0, "train.save_minutes", "must be >= 0")
    need(0.0 <= m.attention_dropout < 1.0, "model.attention_dropout", "must be in [0, 1)")
    need(0 <= t.seed < SEED_LIMIT, "train.seed", "must be in [0, 2**32) (numpy's seed range)")


def _plain_name(name: str) -> bool:
    """A name that stays one folder inside output_dir: `..` or `.` would make `--overwrite` remove
    the folder above or output_dir itself."""
    return (name not in ("", ".", "..") and name == name.strip() and len(name.encode("utf-8", "replace")) <= 200
            and not re.search(r"[/\\\x00-\x1f\x7f]", name))


def to_dict(config: Config) -> dict:
    return dataclasses.asdict(config)


def flat_dict(nested: dict, prefix: str = "") -> dict:
    """`{"train": {"lr": 1}}` -> `{"train.lr": 1}`: settings compared key by key."""
    flat = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            flat.update(flat_dict(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# Settings added with a default other than what runs did before they existed: a config.yaml or
# plan.json written before lacks the key, and such a run was made with the value here, not the
# default. Settings added with the earlier behaviour as their default need no entry.
BEFORE_ADDED = {
    "model.attention_dropout": 0.1,  # until 2026-12-01 the encoder's own: BERT's and e5's 0.1
    "train.freeze_embeddings": False,  # until 2026-12-01 the word embeddings trained
    "train.precision": "fp32",  # until 2026-12-01
    "train.fast_dropout": False,  # until 2026-12-07 nn.Dropout's masks
}


def saved_defaults() -> dict:
    """What a saved config (a run's config.yaml, a cross-validation's plan) lacking a key was made
    with, as `to_dict` nests it: the defaults, but BEFORE_ADDED's values. Without them, a run
    resumed with today's defaults would go on under another recipe than it started with, silently."""
    saved = to_dict(Config())
    for dotted, value in BEFORE_ADDED.items():
        section, key = dotted.split(".")
        saved[section][key] = value
    return saved


def changed_settings(before: dict, now: dict, defaults: dict) -> dict[str, tuple[Any, Any]]:
    """The dotted keys whose value differs between `before` and `now`, with the two values: whether
    work done under `before` may go on under `now`. A key `before` lacks (a setting added to the
    code since) counts as its value in `defaults` (`saved_defaults()`); one only `before` has (a
    setting removed since) counts as changed, to None."""
    now, then, defaults = flat_dict(now), flat_dict(before), flat_dict(defaults)
    return {key: (then.get(key, defaults.get(key)), now.get(key)) for key in sorted(now.keys() | then.keys())
            if then.get(key, defaults.get(key)) != now.get(key)}


def dump_yaml(config: Config) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def _get(config: Config, dotted: str) -> Any:
    node = config
    for name in dotted.split("."):
        node = getattr(node, name)
    return node


def _field_names(node) -> list[str]:
    return [f.name for f in dataclasses.fields(node)]


def _names(node) -> str:
    return ", ".join(_field_names(node))
