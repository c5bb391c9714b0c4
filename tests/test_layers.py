"""The package's layers (README, "How the code is laid out"): a module imports only from its own
layer or those above it, so that the text code never depends on models, nor training on the
evaluation, cross-validation and reports built over it."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "arabic_ner"
LAYERS = [
    ("base", {"errors", "messages", "files", "config", "progress"}),
    ("text", {"normalize", "words", "clitics", "labels", "sentences", "stories"}),
    ("data", {"augment", "textfiles", "corpus", "conll", "convert", "validate", "split", "articles", "render", "metrics"}),
    ("model", {"model", "crf", "dropout", "windows", "inference", "predictor", "int8", "compiled", "device"}),
    ("run", {"model_card", "checkpoint", "weight_average", "run_folder", "training", "offline_encoder", "tagging", "ray_predict", "selftrain", "serve", "select"}),
    ("score", {"analysis", "report", "evaluation", "comparison", "crossval"}),
    ("cli", {"cli", "__main__"}),
]
RANK = {module: rank for rank, (_, modules) in enumerate(LAYERS) for module in modules}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("arabic_ner."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.ImportFrom) and node.module == "arabic_ner":  # from arabic_ner import tagging
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("arabic_ner.")}
    return found


def module_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if module_of(p) != "__init__")


def test_every_module_has_a_layer():
    assert {module_of(p) for p in SOURCES} == set(RANK)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_up_the_layers_only(path):
    module = module_of(path)
    upward = sorted(m for m in imports(path) - {module} if RANK[m] > RANK[module])
    assert not upward, f"{module} ({LAYERS[RANK[module]][0]}) imports {upward} from a later layer"


@pytest.mark.parametrize("source, found", [
    ("from arabic_ner.tagging import plan", {"tagging"}),
    ("from arabic_ner import tagging, labels", {"tagging", "labels"}),
    ("import arabic_ner.model", {"model"}),
    ("from arabic_ner.cli.train import main", {"cli"}),
])
def test_every_form_of_import_is_seen(tmp_path, source, found):
    path = tmp_path / "m.py"
    path.write_text(source + "\n", encoding="utf-8")
    assert imports(path) == found
