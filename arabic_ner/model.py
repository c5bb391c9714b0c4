"""Loading encoders to fine-tune, and trained model folders to tag with.

The production path is plain `from_pretrained` on a hub name or a local folder. A trained model
folder also holds `arabic_ner.json`: the text settings it was trained with (normalization,
window), so that eval and predict apply exactly the same ones.
"""
from __future__ import annotations

import functools
import json
import os
import socket
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from urllib.parse import urlparse

from huggingface_hub.errors import HFValidationError, StrictDataclassError
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError, safe_open
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from arabic_ner.config import check_model_text
from arabic_ner.crf import ATTRIBUTE, TagTransitions, add_crf
from arabic_ner.errors import UserError, held_stops
from arabic_ner.messages import first_line, plural
from arabic_ner.files import check_model_folder, write_atomic
from arabic_ner.labels import LabelSet

SETTINGS_FILE = "arabic_ner.json"
WEIGHTS_FILE = "model.safetensors"
CRF_WEIGHTS = {f"{ATTRIBUTE}.{name}" for name, _ in TagTransitions(1).named_parameters()}
TOKENIZER_PROBE = "في بغداد 2015 \U00013000"  # Arabic, digits, and a hieroglyph no vocabulary here holds

# transformers' load report lists the new classification head as "missing" on every run, and its
# per-load progress bar clutters batch jobs: the heads are new by design, so keep loads quiet.
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()


@dataclass
class ModelSettings:
    """What a model folder needs besides its weights (`arabic_ner.json`): its tag set, and how it reads
    raw text (normalization, window), as in training."""

    entity_types: list[str]
    normalization: str
    max_length: int
    stride: int
    proclitics_in_spans: bool = False  # absent from folders written before 2026-12-03, which all left them out
    crf: bool = False  # a CRF's transitions (crf.py) in model.safetensors; absent from folders before 2026-12-07

    def save(self, folder: Path) -> None:
        write_atomic(Path(folder) / SETTINGS_FILE, json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> "ModelSettings":
        path = Path(folder) / SETTINGS_FILE
        check_model_folder(folder)
        if not path.exists():
            if (Path(folder) / "best" / SETTINGS_FILE).exists():  # the run folder, not its model
                raise UserError(f"{folder}: a training run folder; its model is {Path(folder) / 'best'}")
            raise UserError(f"{folder}: not a model folder trained by this project (no {SETTINGS_FILE})")
        values = _read_json_object(path)
        keys = [f.name for f in fields(cls)]
        optional = {f.name for f in fields(cls) if f.default is not MISSING}  # added since: older folders lack them
        for key in values:
            if key not in keys:
                raise UserError(f"{path}: unknown key '{key}'; valid keys: {', '.join(keys)}")
        for key in keys:
            if key not in values and key not in optional:
                raise UserError(f"{path}: missing key '{key}'")
        settings = cls(**values)
        settings._check(path)
        return settings

    def _check(self, path: Path) -> None:
        """Their types, then config.check_model_text's checks: the file may have been edited."""
        def need(ok: bool, key: str, message: str) -> None:
            if not ok:
                raise UserError(f"{path}: '{key}' {message}, got {getattr(self, key)!r}")

        types_ = self.entity_types
        need(isinstance(types_, list) and all(isinstance(t, str) for t in types_), "entity_types",
             "must be a list of names")
        need(isinstance(self.normalization, str), "normalization", "must be a name")
        need(_is_int(self.max_length), "max_length", "must be an integer")
        need(_is_int(self.stride), "stride", "must be an integer")
        need(isinstance(self.proclitics_in_spans, bool), "proclitics_in_spans", "must be true or false")
        need(isinstance(self.crf, bool), "crf", "must be true or false")
        check_model_text(need, types_, self.normalization, self.max_length, self.stride, prefix="")


def load_encoder(name_or_path: str, label_set: LabelSet, dropout: float, attention_dropout: float):
    """Tokenizer and a token-classification model with a new head for `label_set`; `dropout` before
    the head, `attention_dropout` on the attention weights (BERT's name for it; other families'
    configs ignore the value)."""
    # The model first: the tokenizer's loading reads config.json too, without _load_model's checks.
    model = _load_model(name_or_path, new_head=True, num_labels=len(label_set.labels), id2label=label_set.id2label,
                        label2id=label_set.label2id, classifier_dropout=dropout,
                        attention_probs_dropout_prob=attention_dropout)
    return model, load_tokenizer(name_or_path)


def load_tokenizer(name_or_path: str):
    if os.path.isdir(name_or_path):
        _check_tokenizer_files(Path(name_or_path))
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=not _hub_reachable(name_or_path))
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from None
    if not tokenizer.is_fast:
        raise UserError(f"{name_or_path}: needs a fast tokenizer (tokenizer.json); word_ids() and offsets rely on it")
    return tokenizer


def known_words(tokenizer) -> frozenset[str]:
    """The pieces a tokenizer can begin a word with (clitics.py cuts a clitic only before one of these
    or a word of the same text): SentencePiece marks a word's first piece with ▁, WordPiece marks the
    others with ##; byte-level BPE pieces are bytes, not letters, and give none. Most are whole
    words; some are beginnings (`يست` of `ليست`), which the rules' KEPT_WHOLE words guard against."""
    vocab = tokenizer.get_vocab()
    if any(piece.startswith("▁") for piece in vocab):
        return frozenset(piece[1:] for piece in vocab if piece.startswith("▁"))
    if any(piece.startswith("##") for piece in vocab):
        return frozenset(piece for piece in vocab if not piece.startswith("##"))
    return frozenset()


def load_trained(model_dir: str | Path, device: str = "cpu"):
    """A model folder written by training: model (eval mode), tokenizer and its ModelSettings."""
    model_dir = Path(model_dir)
    settings = ModelSettings.load(model_dir)  # a missing folder is its one line too
    if not (model_dir / "tokenizer.json").exists():  # training always writes it; transformers' own message is cryptic
        raise UserError(f"{model_dir}: no tokenizer.json; copy the whole folder written by training")
    model = _load_model(str(model_dir), new_head=False, crf=settings.crf)  # first, as in load_encoder
    tokenizer = load_tokenizer(str(model_dir))
    if model.config.id2label != LabelSet(tuple(settings.entity_types)).id2label:
        raise UserError(f"{model_dir}: the labels in config.json do not match the entity types in {SETTINGS_FILE}")
    if settings.crf:
        _load_crf(model, model_dir)
    # parts of other models (a tokenizer copied from another checkpoint, an edited max_length) would
    # load, then fail at the first text, or the first long one, with a traceback
    rows = model.get_input_embeddings().num_embeddings
    if len(tokenizer) > rows:
        raise UserError(f"{model_dir / 'tokenizer.json'}: {len(tokenizer):,} tokens, but the model's embeddings have "
                        f"{rows:,} rows; the tokenizer and the weights are not from the same model")
    limit = window_limit(model)
    if limit is not None and settings.max_length > limit:
        raise UserError(f"{model_dir / SETTINGS_FILE}: 'max_length' is {settings.max_length}, but the model reads at "
                        f"most {limit} subwords per window")
    return model.to(device).eval(), tokenizer, settings


def replace_modules(model, kind: type, make) -> int:
    """Replace every `kind` module inside `model`, in place, by `make(it)`; how many were replaced.
    One walk for the swaps made after loading (int8.py's layers, dropout.py's masks)."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kind):
                setattr(parent, name, make(child))
                replaced += 1
    return replaced


def window_limit(model) -> int | None:
    """The most subwords a window may hold: the encoder's position table (None: it has none)."""
    positions = getattr(model.config, "max_position_embeddings", None)
    if positions is None:
        return None
    # RoBERTa-family embeddings number positions from padding_idx + 1
    padding_idx = getattr(getattr(model.base_model, "embeddings", None), "padding_idx", None)
    return positions - (padding_idx + 1 if padding_idx is not None else 0)


def _load_model(name_or_path: str, new_head: bool, crf: bool = False, **config_values):
    """The token-classification model of a hub name or folder; `new_head`: its classification head
    is to be trained (an encoder), else every weight must come from the folder (a trained model),
    with `crf` a CRF's too, which transformers leaves to `_load_crf`."""
    if os.path.isdir(name_or_path):
        _check_model_files(Path(name_or_path))
    hub = {"local_files_only": not _hub_reachable(name_or_path)}
    try:
        config = AutoConfig.from_pretrained(name_or_path, **hub, **config_values)
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc, "config.json") from None
    except (TypeError, AttributeError, KeyError, StrictDataclassError) as exc:
        # config.json parsed as a JSON object: these are its values of the wrong type (id2label: 5);
        # a StrictDataclassError names the field on its first line and the problem on the next
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"{_file(name_or_path, 'config.json')}: a value has the wrong type ({reason})") from None
    try:
        # Mismatched sizes are listed in the loading info instead of raised after a report that the
        # quiet logging hides; the checks below turn them into one line.
        # A stop (Ctrl-C, SIGTERM) waits the second or two that loading takes: raised inside
        # transformers' init contexts (torch function modes), it surfaces as "RuntimeError: trying to
        # pop from empty mode stack" instead of a stop.
        with held_stops():
            model, info = AutoModelForTokenClassification.from_pretrained(
                name_or_path, config=config, ignore_mismatched_sizes=True, output_loading_info=True, **hub)
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from None
    except (KeyError, TypeError, AttributeError, AssertionError, ImportError, RuntimeError, ArithmeticError) as exc:
        # values AutoConfig takes but the model's code cannot build on (hidden_act "bogus", a
        # pad_token_id past the vocabulary, another tool's quantization_config, num_attention_heads 0)
        raise UserError(f"{_file(name_or_path, 'config.json')}: the model it describes cannot be built "
                        f"({first_line(exc)[:200]})") from None
    _check_loading_info(name_or_path, model, info, new_head, crf)
    return model


def _load_crf(model, model_dir: Path) -> None:
    """The CRF's transitions, from the same weights file as the model's (transformers skipped them)."""
    crf = add_crf(model, model.config.num_labels)
    with safe_open(str(model_dir / WEIGHTS_FILE), framework="pt") as weights:
        crf.load_state_dict({name: weights.get_tensor(f"{ATTRIBUTE}.{name}") for name, _ in crf.named_parameters()})


def _check_loading_info(name_or_path: str, model, info: dict, new_head: bool, crf: bool = False) -> None:
    weights = _file(name_or_path, WEIGHTS_FILE)
    base = model.base_model_prefix + "."
    # A new head replaces a trained one of another size (a grown tag set): transformers re-initialises
    # it. Anywhere else a size mismatch means the weights are not the config's.
    mismatched = [m for m in info["mismatched_keys"] if not new_head or m[0].startswith(base)]
    if mismatched:
        # a matrix tells more than its bias: [7, 32] vs [5, 32] shows the labels and the hidden size
        key, found, expected = min(mismatched, key=lambda m: (-len(m[1]), m[0]))
        more = len(mismatched) - 1
        raise UserError(f"{weights}: {key} has shape {list(found)}, the config expects {list(expected)}"
                        + (f" (and {more} more mismatched)" if more else "")
                        + "; the weights and config.json are not from the same model")
    # An encoder's head is new (missing by design) and its checkpoint may hold other heads
    # (unexpected); a trained folder's weights must match its config.json exactly.
    missing = sorted(k for k in info["missing_keys"] if not new_head or k.startswith(base))
    unexpected = [] if new_head else sorted(info["unexpected_keys"])
    if crf:  # its weights have no place in transformers' model, and must be there for _load_crf
        missing += sorted(CRF_WEIGHTS - set(unexpected))
        unexpected = [k for k in unexpected if k not in CRF_WEIGHTS]
    if missing or unexpected:
        problem = (f"the model config.json describes needs {plural(len(missing), 'weight')} not in this file "
                   f"(e.g. {missing[0]})" if missing else f"{plural(len(unexpected), 'weight')} in this file have "
                   f"no place in the model config.json describes (e.g. {unexpected[0]})")
        raise UserError(f"{weights}: {problem}; the weights and config.json are not from the same model")


def _check_model_files(folder: Path) -> None:
    _read_json_object(folder / "config.json")
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass  # opening parses the header, which must cover the file exactly: truncation shows
        except (SafetensorError, OSError) as exc:
            raise UserError(f"{path}: damaged weights file, truncated or not safetensors ({first_line(exc)}); "
                            f"copy it again") from None


def _check_tokenizer_files(folder: Path) -> None:
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (folder / name).exists():
            _read_json_object(folder / name)
    path = folder / "tokenizer.json"
    if not path.exists():  # an encoder may have only a slow tokenizer's files, which transformers converts
        return
    if "added_tokens" not in _read_json_object(path):  # transformers reads it itself, before the tokenizers library
        raise UserError(f"{path}: not a tokenizer (no 'added_tokens' key)")
    try:
        # a word outside the vocabulary too: a WordPiece file whose unknown token it lacks loads, and
        # fails at the first text that has one ("Missing [UNK] token from the vocabulary")
        Tokenizer.from_file(str(path)).encode(TOKENIZER_PROBE)
    except Exception as exc:  # the tokenizers library raises bare Exceptions, for a bad file only here
        raise UserError(f"{path}: not a tokenizer ({first_line(exc)})") from None


def _read_json_object(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path.parent}: no {path.name}; copy the whole model folder") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    if not text.strip():
        raise UserError(f"{path}: empty file")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: must hold a JSON object {{...}}, not {_JSON_KINDS.get(type(value), 'a value')}")
    return value


_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false",
               type(None): "null"}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _file(name_or_path: str, name: str) -> str:
    """Where an error about one of a model's files points: the file in a folder, else the hub name."""
    return str(Path(name_or_path) / name) if os.path.isdir(name_or_path) else f"{name_or_path} ({name})"


def _hub_reachable(name_or_path: str) -> bool:
    """False when `name_or_path` is a hub name and the hub cannot be reached: loading then reads the
    local cache only, at once, instead of five retries (about 30 s of "Retrying in 8s" lines) first."""
    if os.path.isdir(name_or_path) or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}:
        return True  # a folder needs no hub; offline mode already skips it
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY",
                                       "all_proxy")):
        return True  # only the proxy knows: let huggingface_hub try
    return _endpoint_answers(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))


@functools.cache
def _endpoint_answers(endpoint: str, timeout: float = 3.0) -> bool:
    url = urlparse(endpoint)
    try:
        socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout).close()
        return True
    except OSError:
        return False


def _is_hub_name(name: str) -> bool:
    """`org/name` or `name` as the hub spells repository ids; `/x`, `./x`, `~/x` or `a/b/c` are paths."""
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _load_error(name_or_path: str, exc: Exception, name: str | None = None) -> UserError:
    """`name`: the file of the folder that could not be loaded, where known."""
    if os.path.isdir(name_or_path):
        what = _file(name_or_path, name) if name else f"model folder {name_or_path}"
        return UserError(f"cannot load {what} ({first_line(exc)})")
    if not _is_hub_name(name_or_path):  # a path that is not there: the hub is no part of it
        return UserError(f"cannot load model {name_or_path!r}: no such folder")
    return UserError(
        f"cannot load model {name_or_path!r}: it is not a local folder and the model hub could not be "
        f"reached. Download it where there is network (hf download {name_or_path} --local-dir DIR) and "
        f"pass --model.name_or_path DIR"
    )
