"""The model server, started on a free local port and driven over HTTP as clients would."""
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import ROOT, SENTENCES, run_here

pytest.importorskip("fastapi", reason='the server needs its extra: pip install -e ".[serve]"')
pytest.importorskip("uvicorn", reason='the server needs its extra: pip install -e ".[serve]"')

TEXTS = [text for text, _ in SENTENCES] + ["", "وصل الوفد. " * 300]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body=None, raw: bytes | None = None, method: str | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (json.dumps(body, ensure_ascii=False).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def start_server(model: Path) -> tuple[subprocess.Popen, str]:
    """`python -m arabic_ner serve MODEL` on a free port, once it answers /health."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "arabic_ner", "serve", str(model), "--port", str(port)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300  # importing torch and transformers takes minutes on a busy machine
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the server exited: {proc.stderr.read()[-2000:]}")
        try:
            if call(url + "/health")[0] == 200:
                return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.kill()
                pytest.fail("the server did not answer /health within 300 s")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def server(trained):
    config, _ = trained
    model = config.run_dir / "best"
    proc, url = start_server(model)
    yield url, model, proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def expected(server):
    from arabic_ner.predictor import DEFAULT_SURENESS, Predictor

    return list(Predictor.from_folder(server[1]).predict_iter(TEXTS, sureness=DEFAULT_SURENESS))


def same(entities: list[dict], reference: list[dict]) -> bool:
    """The same entities; scores within 1e-3 (a batch of other texts may pad the windows differently)."""
    key = [(e["start"], e["end"], e["label"], e["text"]) for e in entities]
    return key == [(e["start"], e["end"], e["label"], e["text"]) for e in reference] and all(
        abs(a["score"] - b["score"]) < 1e-3 for a, b in zip(entities, reference))


def test_health_and_metadata(server, trained):
    url, _, _ = server
    status, health = call(url + "/health")
    assert status == 200 and health["status"] == "UP" and health["model_version"].endswith(
        health["model_version"][-8:])
    status, about = call(url + "/metadata")
    assert status == 200 and about["entity_types"] == trained[0].entity_types
    assert about["model_version"] == health["model_version"] and "dev" in about["scores"]
    assert '<Labels name="label" toName="text">' in about["labeling_config"]


def test_plain_api_gives_what_predict_gives(server, expected):
    url = server[0]
    status, out = call(url + "/predict", {"texts": TEXTS})
    assert status == 200 and len(out["entities"]) == len(TEXTS)
    assert all(same(got, want) for got, (want, _) in zip(out["entities"], expected))
    assert out["sureness"] == pytest.approx([sure for _, sure in expected], abs=1e-3)
    records = [{"id": f"r{i}", "source": "test", "text": t} for i, t in enumerate(TEXTS[:3])]
    status, out = call(url + "/predict", {"records": records})
    assert status == 200
    for record, got, (want, sure) in zip(records, out["records"], expected):
        assert {k: got[k] for k in ("id", "source", "text")} == record and same(got["entities"], want)
        assert got["sureness"] == pytest.approx(sure, abs=1e-3)


def test_concurrent_requests_give_the_same_results_as_one_by_one(server, expected):
    url = server[0]
    jobs = [i % len(TEXTS) for i in range(48)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda i: call(url + "/predict", {"texts": [TEXTS[i]]}), jobs))
    for i, (status, out) in zip(jobs, answers):
        assert status == 200 and same(out["entities"][0], expected[i][0])


def test_label_studio_protocol(server, trained, expected):
    from arabic_ner.convert import LabelingConfig

    url = server[0]
    ours = LabelingConfig(from_name="ner", to_name="body", text_field="content",
                          labels=tuple(trained[0].entity_types))
    status, out = call(url + "/setup", {"project": "1.1700000000", "schema": ours.xml()})
    assert status == 200 and out["model_version"]
    tasks = [{"id": 10 + i, "data": {"content": t}} for i, t in enumerate(TEXTS[:4])]
    status, out = call(url + "/predict", {"tasks": tasks, "label_config": ours.xml(), "project": "1.1700000000"})
    assert status == 200 and len(out["results"]) == 4
    for task, result, (want, sure) in zip(tasks, out["results"], expected):
        assert result["model_version"] == out["model_version"] and result["score"] == pytest.approx(sure, abs=1e-3)
        regions = result["result"]
        assert [(r["value"]["start"], r["value"]["end"], r["value"]["labels"]) for r in regions] == \
               [(e["start"], e["end"], [e["label"]]) for e in want]
        for r in regions:
            assert (r["from_name"], r["to_name"], r["type"]) == ("ner", "body", "labels")
            assert task["data"]["content"][r["value"]["start"]:r["value"]["end"]] == r["value"]["text"]


def test_a_project_with_other_labels_is_refused_by_name(server, trained):
    from arabic_ner.convert import LabelingConfig

    other = LabelingConfig(labels=("PER", "ARMED_GROUP", "SECURITY_UNIT"))
    status, out = call(server[0] + "/setup", {"project": "2", "schema": other.xml()})
    assert status == 422
    assert out["error"].startswith("the project's labels are not the model's tag set: the project lacks CASUALTY; "
                                   "the model does not know PER")


@pytest.mark.parametrize("body, raw, status, message", [
    (None, b"{not json", 400, "the body: not valid JSON (Expecting property name"),
    ([1, 2], None, 422, "the body must be a JSON object, got list"),
    ({"text": "x"}, None, 422, 'expected {"texts": [...]}'),
    ({"texts": "قتل"}, None, 422, "'texts' must be a list, got str"),
    ({"texts": ["قتل", 7]}, None, 422, "texts[1]: the text must be a string, got int"),
    ({"texts": ["ا" * 100_001]}, None, 413, "texts[0]: 100,001 characters, over the limit of 100,000"),
    ({"texts": ["ا"] * 513}, None, 413, "'texts' holds 513 items, over the limit of 512"),
    ({"records": [{"id": 1}]}, None, 422, "records[0]: a record is an object with 'text'"),
    ({"tasks": [{"id": 1, "data": {}}]}, None, 422, "tasks[0]: a task needs data.text"),
    (None, b"[" + b'"a",' * (3 * 2**20) + b'"a"]', 413, "request body of"),
    (None, rb'{"texts": ["\ud800 \u0642\u062a\u0644"]}', 422, "the body: field 'texts'[0] "),
    (None, b"\xff\xfe{}", 400, "the body is not UTF-8 (byte 0)"),
    ({"texts": ["ا" * 90_000] * 6}, None, 413, "'texts' holds 540,000 characters, over the limit of 500,000"),
    (None, b'{"texts": ["x"], "n": ' + b"9" * 5000 + b"}", 400, "the body: not valid JSON (a number of over 4,300"),
    (None, b'{"records": [{"id": NaN, "text": "x"}]}', 400, "the body: not valid JSON (NaN is not JSON)"),
    (None, b'{"records": [{"id": 1e999, "text": "x"}]}', 400, "the body: not valid JSON ('1e999' is not a finite number)"),
    (None, b'{"texts": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 400, "the body: not valid JSON (nested too deeply)"),
    (None, b'{"texts": ' + b"[" * 70 + b"]" * 70 + b"}", 422, "the body: nested over 64 levels deep"),
    ({"texts": ["x"], "records": [{"text": "x"}]}, None, 422, "give one of 'texts', 'records' or 'tasks', not texts "
                                                              "and records"),
    ({"tasks": [], "label_config": 7}, None, 422, "'label_config' must be XML text, got int"),
    ({"tasks": [], "label_config": "<View><Labels"}, None, 422, "the labeling config is not XML"),
])
def test_bad_requests_get_a_4xx_sentence(server, body, raw, status, message):
    got, out = call(server[0] + "/predict", body, raw)
    assert got == status and message in out["error"] and set(out) == {"error"}


def test_setup_needs_the_labeling_config_as_text(server):
    assert call(server[0] + "/setup", {"project": "3", "schema": {"View": []}}) == (
        422, {"error": "'schema' must be the labeling config (XML text), got dict"})


def test_unknown_routes_and_methods_answer_in_json(server):
    assert call(server[0] + "/nope") == (404, {"error": "Not Found"})
    assert call(server[0] + "/predict")[0] == 405


def test_the_server_still_answers_after_bad_requests(server, expected):
    status, out = call(server[0] + "/predict", {"texts": TEXTS[:1]})
    assert status == 200 and same(out["entities"][0], expected[0][0])


def test_sigterm_stops_the_server(trained):
    config, _ = trained
    proc, _ = start_server(config.run_dir / "best")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 143  # a stop, as every command's (uvicorn.run made it 0)
    said = proc.stderr.read()
    assert "Traceback" not in said and said.endswith("interrupted\n")
    assert f"serving {config.run_dir / 'best'} on http://127.0.0.1:" in said  # said once listening


def test_a_stop_turns_away_the_requests_waiting_and_finishes_the_batch_under_way():
    """With a full queue, a stop waited for every queued text to be tagged (minutes): now the batch
    under way is answered and the requests waiting get 503 at once."""
    import asyncio
    import threading

    from arabic_ner.serve import BadRequest, Batcher

    started, release = threading.Event(), threading.Event()

    class Slow:
        def predict_iter(self, texts, sureness=None):
            started.set()
            release.wait(10)
            return [([], 1.0) for _ in texts]

    async def stopped_while_busy():
        batcher = Batcher(Slow(), wait_s=0)
        worker = asyncio.create_task(batcher.run())
        under_way = asyncio.create_task(batcher.tag(["first"]))
        await asyncio.get_running_loop().run_in_executor(None, started.wait, 10)
        waiting = asyncio.create_task(batcher.tag(["second"]))
        await asyncio.sleep(0.05)
        batcher.stop_soon()  # as the signal handler calls it
        await asyncio.sleep(0.05)
        release.set()
        results = await asyncio.gather(under_way, waiting, return_exceptions=True)
        late = await asyncio.gather(batcher.tag(["third"]), return_exceptions=True)
        worker.cancel()
        return results + late

    first, second, third = asyncio.run(stopped_while_busy())
    assert first == [([], 1.0)]
    for refused in (second, third):
        assert isinstance(refused, BadRequest) and refused.status == 503 and str(refused) == "the server is stopping"


@pytest.mark.parametrize("host, message", [
    ("127.0.0.1", "127.0.0.1:{port} is in use; pick another --port"),
    ("999.1.1.1", "--host 999.1.1.1: no such address"),  # was "is in use", pointing at the port
    ("10.255.255.1", "--host 10.255.255.1: cannot listen there (Cannot assign requested address)"),
])
def test_an_address_it_cannot_listen_on_is_one_line(trained, host, message):
    config, _ = trained
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_here("-m", "arabic_ner", "serve", str(config.run_dir / "best"), "--host", host, "--port",
                          str(port))
    assert result.returncode == 2
    assert result.stderr == f"error: {message.format(port=port)}\n"


def test_one_requests_failing_text_fails_that_request_only():
    import asyncio

    from arabic_ner.serve import Batcher

    class Fussy:
        def predict_iter(self, texts, sureness=None):
            if "bad" in texts:
                raise ValueError("cannot tag this")
            return [([], 1.0) for _ in texts]

    async def both():
        batcher = Batcher(Fussy(), wait_s=0.05)  # long enough for the two requests to share a batch
        worker = asyncio.create_task(batcher.run())
        results = await asyncio.gather(batcher.tag(["good", "fine"]), batcher.tag(["bad"]), return_exceptions=True)
        worker.cancel()
        return results

    good, bad = asyncio.run(both())
    assert good == [([], 1.0), ([], 1.0)] and isinstance(bad, ValueError)


@pytest.mark.parametrize("content, message", [
    ('{"dev": ', r"scores\.json: not valid JSON"),
    ('[0.9]', r"scores\.json: not a JSON object of scores"),
])
def test_a_damaged_scores_file_is_one_line(tmp_path, content, message):
    from arabic_ner.errors import UserError
    from arabic_ner.serve import metadata
    (tmp_path / "scores.json").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        metadata(tmp_path, None, "v1")


def test_scores_of_an_unexpected_shape_read_as_none(tmp_path):
    """A hand-edited scores.json with "char": null stopped the server at start-up."""
    from types import SimpleNamespace

    from arabic_ner.serve import metadata
    (tmp_path / "scores.json").write_text('{"epoch": 3, "dev": {"f1": 0.8, "char": null}}', encoding="utf-8")
    settings = SimpleNamespace(entity_types=["A"], normalization="none", max_length=16, stride=4,
                               proclitics_in_spans=False)
    assert metadata(tmp_path, settings, "v1")["scores"] == {"dev": {"f1": None, "f1_over_words": 0.8}}
