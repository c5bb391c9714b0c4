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
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlparse

from transformers import AutoModelForTokenClassification, AutoTokenizer
from transformers.utils import logging as hf_logging

from arabic_ner.errors import UserError, first_line
from arabic_ner.labels import LabelSet

SETTINGS_FILE = "arabic_ner.json"

# transformers' load report lists the new classification head as "missing" on every run, and its
# per-load progress bar clutters batch jobs: the heads are new by design, so keep loads quiet.
hf_logging.set_verbosity_error()
hf_logging.disable_progress_bar()


@dataclass
class TextSettings:
    """What a model folder needs besides its weights to read raw text as in training."""

    entity_types: list[str]
    normalization: str
    max_length: int
    stride: int

    def save(self, folder: Path) -> None:
        (Path(folder) / SETTINGS_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "TextSettings":
        path = Path(folder) / SETTINGS_FILE
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise UserError(f"{folder}: not a model folder trained by this project (no {SETTINGS_FILE})") from None
        except (json.JSONDecodeError, TypeError) as exc:
            raise UserError(f"{path}: unreadable settings ({exc})") from None


def load_encoder(name_or_path: str, label_set: LabelSet, dropout: float):
    """Tokenizer and a token-classification model with a new head for `label_set`."""
    tokenizer = load_tokenizer(name_or_path)
    try:
        model = AutoModelForTokenClassification.from_pretrained(
            name_or_path,
            num_labels=len(label_set.labels),
            id2label=label_set.id2label,
            label2id=label_set.label2id,
            classifier_dropout=dropout,
            local_files_only=not _hub_reachable(name_or_path),
        )
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from None
    return model, tokenizer


def load_tokenizer(name_or_path: str):
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, local_files_only=not _hub_reachable(name_or_path))
    except (OSError, ValueError) as exc:
        raise _load_error(name_or_path, exc) from None
    if not tokenizer.is_fast:
        raise UserError(f"{name_or_path}: needs a fast tokenizer (tokenizer.json); word_ids() and offsets rely on it")
    return tokenizer


def load_trained(model_dir: str | Path, device: str = "cpu"):
    """A model folder written by training: model (eval mode), tokenizer and its TextSettings."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise UserError(f"{model_dir}: no such model folder")
    settings = TextSettings.load(model_dir)
    tokenizer = load_tokenizer(str(model_dir))
    try:
        model = AutoModelForTokenClassification.from_pretrained(str(model_dir))
    except (OSError, ValueError) as exc:
        raise UserError(f"{model_dir}: cannot load the model ({first_line(exc)})") from None
    labels = LabelSet(tuple(settings.entity_types)).labels
    if [model.config.id2label[i] for i in range(len(model.config.id2label))] != labels:
        raise UserError(f"{model_dir}: the model's labels do not match {SETTINGS_FILE}'s entity types")
    return model.to(device).eval(), tokenizer, settings


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


def _load_error(name_or_path: str, exc: Exception) -> UserError:
    if os.path.isdir(name_or_path):
        return UserError(f"cannot load model folder {name_or_path} ({first_line(exc)})")
    return UserError(
        f"cannot load model {name_or_path!r}: it is not a local folder and the model hub could not be "
        f"reached. Download it where there is network (hf download {name_or_path} --local-dir DIR) and "
        f"pass --model.name_or_path DIR"
    )
