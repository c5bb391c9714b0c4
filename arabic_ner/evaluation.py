"""Evaluating a saved model on a gold file: scores, interval and error analysis, as plain data."""
from __future__ import annotations

import json
from pathlib import Path

from arabic_ner.analysis import analyse, format_errors
from arabic_ner.config import WINDOWS_PER_PASS
from arabic_ner.corpus import jsonl_text, read_corpus
from arabic_ner.errors import UserError
from arabic_ner.files import make_output_folder, write_files
from arabic_ner.metrics import bootstrap_f1, score_model, span_counts, word_counts
from arabic_ner.model import ModelSettings
from arabic_ner.report import format_report
from arabic_ner.textfiles import CorpusError


def evaluate_model(model_dir: Path, data: Path, batch_size: int = WINDOWS_PER_PASS, bootstrap: int = 1000, seed: int = 0,
                   device: str = "cpu") -> dict:
    settings = ModelSettings.load(model_dir)
    try:
        records = read_corpus(data, settings.entity_types)
    except CorpusError as exc:
        if "is not in the tag set" in str(exc):
            raise UserError(f"{exc}; the model {model_dir} was trained on {', '.join(settings.entity_types)}") from None
        raise

    from arabic_ner.predictor import Predictor

    scored = score_model(Predictor.from_folder(model_dir, device, batch_size), records, settings.entity_types)
    scores = scored.scores
    interval = bootstrap_f1(word_counts(scored.gold_tags, scored.pred_tags), bootstrap, seed) if bootstrap else None
    char_interval = bootstrap_f1(span_counts(records, scored.predicted), bootstrap, seed) if bootstrap else None
    if interval:
        scores["f1_ci95"], scores["char"]["f1_ci95"] = list(interval), list(char_interval)
    analysis = analyse(records, scored.predicted, settings.entity_types)
    scores["confusion"], scores["error_kinds"] = analysis["confusion"], analysis["error_kinds"]
    scores["boundary_causes"] = analysis["boundary_causes"]
    report = format_report(scores, f"{model_dir} on {data}", interval, char_interval)
    return {"scores": scores, "analysis": analysis, "report": report}


EVALUATION_FILES = ("metrics.json", "report.md", "errors.jsonl", "errors.md")  # what write_evaluation writes


def write_evaluation(result: dict, out: Path) -> None:
    make_output_folder(out, "output folder")
    contents = (json.dumps(result["scores"], indent=2, ensure_ascii=False) + "\n",
                result["report"] + "\n" + format_errors(result["analysis"]),
                jsonl_text(result["analysis"]["errors"]),
                format_errors(result["analysis"]))
    write_files({out / name: content for name, content in zip(EVALUATION_FILES, contents, strict=True)})
