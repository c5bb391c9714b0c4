"""`arabic-ner COMMAND`: the installed entry point runs every command from any folder."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

ENTRY = Path(sys.executable).with_name("arabic-ner")

pytestmark = pytest.mark.skipif(not ENTRY.exists(), reason=f"{ENTRY} absent: install the package (make setup)")


def run(*args, cwd):
    return subprocess.run([str(ENTRY), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_lists_the_commands(tmp_path):
    result = run("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("train", "predict", "evaluate", "crossval", "convert", "validate", "split"):
        assert f"  {name} " in result.stdout
    result = run("tran", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown command 'tran'; commands: train")


def test_commands_run_from_any_folder(trained, corpus_dir, tmp_path):
    config, _ = trained
    result = run("validate", str(ROOT / "data" / "news" / "dev.jsonl"), cwd=tmp_path)
    assert result.returncode == 0 and "0 errors" in result.stdout
    (tmp_path / "a.txt").write_text("قتل تنظيم داعش خمسة جنود في بغداد", encoding="utf-8")
    result = run("predict", str(config.run_dir / "best"), "a.txt", "-o", "out.jsonl", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))["id"] == "a.txt"
    result = run("evaluate", str(config.run_dir / "best"), str(corpus_dir / "test.jsonl"), "--out", "eval",
                 "--bootstrap", "0", cwd=tmp_path)
    assert result.returncode == 0 and (tmp_path / "eval" / "metrics.json").exists()
    result = run("train", "--help", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("usage: arabic-ner train")


@pytest.mark.parametrize("size", ["0", "70000"])
@pytest.mark.parametrize("command, args", [
    ("predict", ["a.txt"]),
    ("evaluate", ["{corpus}/test.jsonl"]),
    ("select", ["a.txt", "-o", "chosen.json"]),
    ("serve", []),
    ("ray-predict", ["in.jsonl", "-o", "out"]),
])
def test_every_batch_size_option_has_one_range(trained, corpus_dir, tmp_path, command, args, size):
    """`--batch-size` of each command that tags or scores: the range and the message of
    train.eval_batch_size (70,000 windows a pass would exhaust memory instead)."""
    config, _ = trained
    (tmp_path / "a.txt").write_text("قتل تنظيم داعش خمسة جنود في بغداد", encoding="utf-8")
    (tmp_path / "in.jsonl").write_text('{"text": "قتل تنظيم داعش"}\n', encoding="utf-8")
    result = run(command, str(config.run_dir / "best"), *[a.format(corpus=corpus_dir) for a in args],
                 "--batch-size", size, cwd=tmp_path)
    assert result.returncode == 2 and result.stderr == f"error: --batch-size {size}: must be 1-65,536\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "in.jsonl"]  # nothing written


def test_a_closed_stdout_ends_the_command_quietly(tmp_path):
    """`predict.py MODEL ARTICLES | head`: the reader goes away; no BrokenPipeError traceback."""
    script = ("import sys\nfrom arabic_ner.errors import run_cli\n"
              "def main():\n    for _ in range(1000):\n        sys.stdout.write('x' * 65536 + '\\n')\n        sys.stdout.flush()\n"
              "run_cli(main)\n")
    process = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout.read(10) == b"x" * 10
    process.stdout.close()  # as `head -c 10` does once it has read enough
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and stderr == ""


@pytest.mark.parametrize("module, command", [("validate", "validate"), ("convert", "convert"), ("split", "split"),
                                             ("select", "select"), ("serve", "serve"),
                                             ("ray_predict", "ray-predict"), ("offline_encoder", "offline-encoder")])
def test_the_module_form_of_before_names_the_command(module, command):
    """`python -m arabic_ner.split` ran the command before the commands moved to arabic_ner/cli/; it
    exited 0 having done nothing."""
    result = subprocess.run([sys.executable, "-m", f"arabic_ner.{module}", "x"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr == f"error: the command is `python -m arabic_ner {command}` (or `arabic-ner {command}`)\n"


@pytest.mark.parametrize("args, error", [
    (["train", "configs/news.yaml", "--nokey", "1"], "command line: unknown key 'nokey'"),
    (["selftrain", "configs/news.yaml", "--nokey", "1"], "command line: unknown key 'nokey'"),
    (["predict", "nope", "a.txt"], "nope: no such model folder"),
    (["evaluate", "nope", "a.jsonl"], "nope: no such model folder"),
    (["compare", "nope", "nope"], "nope/plan.json: not found"),
    (["crossval", "configs/news.yaml", "--nokey", "1"], "command line: unknown key 'nokey'"),
    (["crossval", "configs/news.yaml", "--data.dev", "a.jsonl"], "--data.dev: a cross-validation trains"),
    (["serve", "nope"], "nope: no such model folder"),
])
def test_a_wrong_argument_is_said_before_torch_is_imported(tmp_path, args, error):
    """torch and transformers take 2-3 s to import: a mistyped key or folder is said at once."""
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    script = ("import sys\nfrom arabic_ner.cli import main\ntry:\n    main()\nexcept SystemExit as exc:\n"
              "    print(exc.code, 'torch' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", script, *args], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.stdout == "2 False\n" and result.stderr.startswith(f"error: {error}"), result.stderr
