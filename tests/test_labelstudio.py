"""The model server as a Label Studio ML backend, against a real Label Studio (slow).

Label Studio is started here on a free local port with a temporary data folder, from the
`label-studio` found in $LABEL_STUDIO_BIN, .venv-ls/bin (what `make test-slow` installs: its own
environment, since its pinned dependencies are not this project's) or the PATH; the test skips
with a message where there is none. It creates a project with the tag set's labeling config
through Label Studio's API, connects the backend, imports tasks, asks for predictions, and checks
what Label Studio stored against what the model finds.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from test_serve import free_port

TOKEN = "arabic-ner-test-token"
TEXTS = ["قتل تنظيم داعش خمسة جنود في بغداد", "اعلنت القوات الامنية اعتقال عنصرين من داعش", "وصل الوفد الى البصرة امس"]

pytestmark = pytest.mark.slow


def label_studio_bin() -> str | None:
    for candidate in (os.environ.get("LABEL_STUDIO_BIN"), ROOT / ".venv-ls" / "bin" / "label-studio",
                      shutil.which("label-studio")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    return None


def api(base: str, path: str, body=None, method: str | None = None):
    request = urllib.request.Request(base + path, method=method or ("POST" if body is not None else "GET"),
                                     data=json.dumps(body, ensure_ascii=False).encode() if body is not None else None,
                                     headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        pytest.fail(f"Label Studio {path}: {exc.code} {exc.read()[:500]!r}")


def wait_for(url: str, proc: subprocess.Popen, seconds: int, log: Path) -> None:
    for _ in range(seconds * 2):
        if proc.poll() is not None:
            pytest.fail(f"{url}: exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"{url}: not up after {seconds} s: {log.read_text()[-2000:]}")


def test_label_studio_stores_the_backend_predictions(trained, tmp_path):
    binary = label_studio_bin()
    if binary is None:
        pytest.skip("no label-studio (make test-slow installs it into .venv-ls; or set LABEL_STUDIO_BIN)")
    config, _ = trained
    model = config.run_dir / "best"
    ls_port, backend_port = free_port(), free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(tmp_path / "ls"), "LABEL_STUDIO_USERNAME": "test@example.com",
           "LABEL_STUDIO_PASSWORD": "arabic-ner-test", "LABEL_STUDIO_USER_TOKEN": TOKEN,
           "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",  # the token above; 1.20+ turn legacy tokens off
           # the backend is on this machine: Label Studio refuses local addresses unless told
           "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}
    ls_log, backend_log = tmp_path / "ls.log", tmp_path / "backend.log"
    with ls_log.open("w") as ls_out, backend_log.open("w") as backend_out:
        studio = subprocess.Popen([binary, "start", "--no-browser", "--port", str(ls_port), "--data-dir",
                                   str(tmp_path / "ls")], env=env, stdout=ls_out, stderr=subprocess.STDOUT,
                                  cwd=tmp_path, start_new_session=True)
        backend = subprocess.Popen([sys.executable, "-m", "arabic_ner", "serve", str(model), "--port", str(backend_port)],
                                   cwd=ROOT, stdout=backend_out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{ls_port}"
            wait_for(f"http://127.0.0.1:{backend_port}/health", backend, 120, backend_log)
            wait_for(base + "/health", studio, 300, ls_log)
            labeling = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{backend_port}/metadata").read())
            project = api(base, "/api/projects", {"title": "arabic_ner test", "label_config": labeling["labeling_config"]})
            ml = api(base, "/api/ml", {"url": f"http://127.0.0.1:{backend_port}", "project": project["id"],
                                       "title": "arabic_ner"})
            assert ml["readable_state"] == "Connected" and ml["model_version"] == labeling["model_version"]
            api(base, f"/api/projects/{project['id']}/import", [{"text": t} for t in TEXTS])
            done = api(base, f"/api/dm/actions?id=retrieve_tasks_predictions&project={project['id']}",
                       {"selectedItems": {"all": True, "excluded": []}})
            assert done["processed_items"] == len(TEXTS)
            tasks = {t["id"]: t["data"]["text"] for t in api(base, f"/api/tasks?project={project['id']}")["tasks"]}
            stored = api(base, f"/api/predictions?project={project['id']}")
        finally:
            backend.send_signal(signal.SIGTERM)
            try:
                os.killpg(studio.pid, signal.SIGTERM)
            except ProcessLookupError:  # it exited on its own: wait_for's failure says why, not this
                pass
            backend.wait(timeout=60)
            studio.wait(timeout=60)

    from arabic_ner.predictor import DEFAULT_SURENESS, Predictor

    expected = dict(zip(TEXTS, Predictor.from_folder(model).predict_iter(TEXTS, sureness=DEFAULT_SURENESS)))
    assert sorted(tasks.values()) == sorted(TEXTS) and len(stored) == len(TEXTS)
    assert any(prediction["result"] for prediction in stored)  # the model, trained on these sentences, finds some
    for prediction in stored:
        text = tasks[prediction["task"]]
        entities, sure = expected[text]
        assert prediction["model_version"] == labeling["model_version"]
        assert prediction["score"] == pytest.approx(sure, abs=1e-3)
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"], r["value"]["text"])
                for r in prediction["result"]] == [(e["start"], e["end"], [e["label"]], e["text"]) for e in entities]
        assert all(text[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in prediction["result"])
