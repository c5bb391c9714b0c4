"""The `README.md` (model card) and `scores.json` written into every saved model folder, and the
version a model folder is named by (the server, Label Studio tasks, self-training's records)."""
from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

from arabic_ner.config import Config, dump_yaml
from arabic_ner.errors import UserError
from arabic_ner.files import file_digest, write_files
from arabic_ner.labels import LabelSet
from arabic_ner.textfiles import parse_json, read_text


def data_summary(config: Config, splits: dict[str, list[dict]]) -> dict:
    """Per split: its files, sentence count and entity count per type."""
    summary = {}
    for name, records in splits.items():
        counts = Counter(e["label"] for r in records for e in r["entities"])
        summary[name] = {"files": getattr(config.data, name), "sentences": len(records),
                         "entities": {t: counts.get(t, 0) for t in config.entity_types}}
    return summary


def write_model_card(folder: Path, config: Config, data: dict, scores: dict) -> None:
    folder = Path(folder)
    lines = [
        f"# {config.run_name}",
        "",
        f"Token-classification model fine-tuned from `{config.model.name_or_path}` with arabic_ner.",
        "",
        "## Tag set",
        "",
        ", ".join(f"`{t}`" for t in config.entity_types) + " (IOB2 labels: "
        + " ".join(LabelSet(tuple(config.entity_types)).labels) + ")",
        "",
        f"Text normalization: `{config.model.normalization}`; window {config.model.max_length} subwords, "
        f"stride {config.model.stride}. Entities "
        + ("keep their first word's proclitics, as the corpus tagged whole words." if config.proclitics_in_spans
           else "start after their first word's proclitics (`لداعش` → `داعش`), as the annotation spec puts them."),
        "",
        "## Data",
        "",
        "| split | files | sentences | " + " | ".join(config.entity_types) + " |",
        "|---|---|---|" + "---|" * len(config.entity_types),
    ]
    for name, row in data.items():
        files = ", ".join(f"`{f}`" for f in row["files"])
        lines.append(f"| {name} | {files} | {row['sentences']} | "
                     + " | ".join(str(row["entities"][t]) for t in config.entity_types) + " |")
    lines += ["", f"## Scores (character-exact strict entity F1; over words, seqeval's strict IOB2; epoch "
                  f"{scores.get('epoch')})", ""]
    for split in ("dev", "test"):
        result = scores.get(split)
        if not result:
            continue
        char = result["char"]
        lines.append(f"- {split}: F1 {char['f1']:.4f} (P {char['precision']:.4f}, R {char['recall']:.4f}, "
                     f"{char['support']} entities; over words {result['f1']:.4f}); per type: "
                     + ", ".join(f"{t} {v['f1']:.4f}" for t, v in char["per_type"].items()))
    lines += ["", "## Config", "", "```yaml", dump_yaml(config).rstrip(), "```", "",
              "Load with `transformers.pipeline(\"token-classification\", model=FOLDER)` or this project's "
              "`predict.py FOLDER ARTICLE.txt` (which applies the normalization above and windows long text).", ""]
    # together: the card and scores.json of model-best are rewritten with its test scores at the end
    write_files({folder / "scores.json": json.dumps(scores, indent=2) + "\n", folder / "README.md": "\n".join(lines)})


def read_scores(folder: Path) -> dict | None:
    """The `scores.json` of a model folder, or None where it has none; a damaged one (a copy cut
    short, an edit by hand) is a one-line error naming it."""
    path = Path(folder) / "scores.json"
    if not path.exists():
        return None
    scores = parse_json(read_text(path), str(path))
    if not isinstance(scores, dict):
        raise UserError(f"{path}: not a JSON object of scores")
    return scores


def model_version(model_dir: Path) -> str:
    """The folder's name and the first 8 hex digits of its weights' SHA-256: two models differ in it.
    Here, not in model.py: the commands that name a model say a wrong option before torch loads."""
    weights = next(iter(sorted(Path(model_dir).glob("*.safetensors"))), None)
    digest = file_digest(weights) if weights is not None else hashlib.sha256().hexdigest()
    name = Path(model_dir).resolve()
    return f"{name.parent.name}/{name.name}-{digest[:8]}"
