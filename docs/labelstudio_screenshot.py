"""The README's screenshot: a news sentence in Label Studio, pre-annotated by the model server.

    python docs/labelstudio_screenshot.py MODEL_DIR [--label-studio .venv-ls/bin/label-studio]
                                          [--out docs/labelstudio.png]

Starts Label Studio (temporary data folder) and `python -m arabic_ner serve MODEL_DIR` (with this
project's .venv), creates a project with the tag set's labeling config, connects the backend,
imports the first sentences of data/news/test.jsonl, retrieves the model's predictions, then logs
in with a headless Chromium (Playwright driving the system's chromium) and photographs the first
task. Needs `pip install playwright` in the Python that runs it; no browser download.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EMAIL, PASSWORD, TOKEN = "analyst@example.com", "arabic-ner-demo", "arabic-ner-demo-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base: str, path: str, body=None):
    request = urllib.request.Request(base + path, data=json.dumps(body, ensure_ascii=False).encode() if body else None,
                                     headers={"Authorization": f"Token {TOKEN}", "Content-Type": "application/json"},
                                     method="POST" if body is not None else "GET")
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def wait_for(url: str, seconds: int) -> None:
    for _ in range(seconds * 2):
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{url}: not up after {seconds} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--label-studio", default=str(ROOT / ".venv-ls" / "bin" / "label-studio"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--sentences", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "labelstudio.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    data = Path(tempfile.mkdtemp(prefix="ls-"))
    ls_port, backend_port = free_port(), free_port()
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data), "LABEL_STUDIO_USERNAME": EMAIL,
           "LABEL_STUDIO_PASSWORD": PASSWORD, "LABEL_STUDIO_USER_TOKEN": TOKEN,
           "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "ML_BLOCK_LOCAL_IP": "false", "SSRF_PROTECTION_ENABLED": "false"}
    studio = subprocess.Popen([args.label_studio, "start", "--no-browser", "--port", str(ls_port), "--data-dir",
                               str(data)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    backend = subprocess.Popen([str(ROOT / ".venv" / "bin" / "python"), "-m", "arabic_ner", "serve", str(args.model),
                                "--port", str(backend_port)], cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{ls_port}"
        wait_for(f"http://127.0.0.1:{backend_port}/health", 300)
        wait_for(base + "/health", 300)
        about = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{backend_port}/metadata").read())
        project = api(base, "/api/projects", {"title": "Security news", "label_config": about["labeling_config"]})
        api(base, "/api/ml", {"url": f"http://127.0.0.1:{backend_port}", "project": project["id"], "title": "arabic_ner"})
        sentences = [json.loads(line)["text"] for line in
                     (ROOT / "data" / "news" / "test.jsonl").read_text(encoding="utf-8").splitlines()[:args.sentences]]
        api(base, f"/api/projects/{project['id']}/import", [{"text": t} for t in sentences])
        api(base, f"/api/dm/actions?id=retrieve_tasks_predictions&project={project['id']}",
            {"selectedItems": {"all": True, "excluded": []}})
        task = api(base, f"/api/tasks?project={project['id']}")["tasks"][0]["id"]
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 800})
            page.goto(base + "/user/login")
            page.fill("input[name=email]", EMAIL)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{base}/projects/{project['id']}/data?task={task}")
            page.wait_for_load_state("networkidle")
            time.sleep(5)  # the labeling interface draws the regions after the page settles
            page.screenshot(path=str(args.out))
            browser.close()
        print(f"wrote {args.out}")
    finally:
        backend.send_signal(signal.SIGTERM)
        os.killpg(studio.pid, signal.SIGTERM)


if __name__ == "__main__":
    main()
