"""A trained model over HTTP: a plain JSON API and Label Studio's ML backend protocol.

    python -m arabic_ner serve MODEL_DIR [--host 127.0.0.1] [--port 9090]     (pip install -e ".[serve]")

Routes:
- `POST /predict` `{"texts": [...]}` -> `{"entities": [[...], ...], "sureness": [...], "model_version"}`;
  `{"records": [{"id", "text", ...}]}` -> `{"records": [...]}`, each record as `predict.py` writes
  it (its fields, `id`, `entities` with exact character offsets and scores) plus `sureness`;
  `{"tasks": [...]}` (Label Studio) -> `{"results": [{"result": [...], "score", "model_version"}]}`.
- `POST /setup` (Label Studio): the project's labeling config checked against the tag set.
- `GET /health`, `GET /metadata` (tag set, text settings, scores from the model card, version).

A text's `sureness` (Label Studio's task `score`) is 1 minus the mean entropy of its words' tag
distributions (predictor.DEFAULT_SURENESS, as `select` ranks sentences): sorting tasks by it,
lowest first, puts the sentences the model is least sure of first.

Why FastAPI on uvicorn: requests wait on the model, not on each other, in one asyncio loop, which
lets texts from concurrent requests be tagged in one batch (`Batcher`); FastAPI is the convention
for Python model servers and its routing and error handling are Starlette's, well kept. Request
bodies are parsed here rather than by pydantic models, so that `/predict` takes the plain API and
Label Studio's payload alike, and every bad request gets one plain sentence naming what is wrong.
"""

import asyncio
import errno
import socket
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from arabic_ner.convert import LabelingConfig, labelstudio_regions, read_labeling_config
from arabic_ner.errors import UserError, moved_command
from arabic_ner.model_card import model_version, read_scores
from arabic_ner.textfiles import CorpusError, check_json, parse_json

if TYPE_CHECKING:  # model.py loads torch and transformers: `serve` says a wrong option before they load
    from arabic_ner.model import ModelSettings

MAX_BODY_BYTES = 8 * 2**20  # a request body larger than this is refused (413)
DRAIN_BYTES = 8 * MAX_BODY_BYTES  # an oversized body is read (and dropped) up to this, for the 413 to reach the client
MAX_TEXTS = 512  # texts, records or tasks in one request
MAX_TEXT_CHARS = 100_000  # characters in one text: a long article (the longest SaudiNewsNet one is 27,000)
MAX_REQUEST_CHARS = 500_000  # characters in one request: about 90,000 words, 1.5 minutes of 2 CPU cores
MAX_QUEUED_TEXTS = 4096  # texts waiting for the model; past this a request is turned away (503), not queued
BATCH_TEXTS = 64  # texts from concurrent requests tagged together, at most
BATCH_WAIT_S = 0.002  # how long a batch waits for more requests once the model is free


class BadRequest(Exception):
    """A request the server refuses, with its HTTP status and one sentence saying why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Batcher:
    """Texts from concurrent requests, tagged together: while the model works on one batch, the
    requests that arrive wait in a queue, and the next batch takes up to BATCH_TEXTS of them. One
    thread runs the model, so batches never compete for the CPU or GPU."""

    def __init__(self, predictor, wait_s: float = BATCH_WAIT_S):
        from arabic_ner.predictor import DEFAULT_SURENESS  # loaded with the model already

        self.predictor, self.wait_s = predictor, wait_s
        self.sureness = DEFAULT_SURENESS
        self.queue: asyncio.Queue = asyncio.Queue()
        self.queued = 0  # texts in the queue
        self.stopping = False  # a stop was asked: the batch under way is finished, the rest turned away
        self.loop: asyncio.AbstractEventLoop | None = None
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def tag(self, texts: list[str]) -> list[tuple[list[dict], float]]:
        """Each text's entities and sureness."""
        if self.stopping:
            raise BadRequest(503, "the server is stopping")
        if self.queued + len(texts) > MAX_QUEUED_TEXTS:
            raise BadRequest(503, f"the server is busy ({self.queued:,} texts waiting); try again shortly")
        future = asyncio.get_running_loop().create_future()
        self.queued += len(texts)
        await self.queue.put((texts, future))
        return await future

    def stop_soon(self) -> None:
        """From a signal handler: the requests waiting are answered 503 now, not tagged first (with a
        full queue, minutes); the batch under way is finished and answered."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self._turn_away)  # safe from a signal handler, as set_exception is not

    def _turn_away(self) -> None:
        self.stopping = True
        while not self.queue.empty():
            texts, future = self.queue.get_nowait()
            self.queued -= len(texts)
            if not future.done():
                future.set_exception(BadRequest(503, "the server is stopping"))

    async def run(self) -> None:
        loop = self.loop = asyncio.get_running_loop()
        while True:
            waiting = [await self.queue.get()]
            deadline = loop.time() + self.wait_s
            while sum(len(texts) for texts, _ in waiting) < BATCH_TEXTS:
                try:
                    waiting.append(await asyncio.wait_for(self.queue.get(), max(0.0, deadline - loop.time())))
                except TimeoutError:
                    break
            self.queued -= sum(len(texts) for texts, _ in waiting)
            waiting = [(texts, future) for texts, future in waiting if not future.done()]  # not the abandoned
            try:
                results = await loop.run_in_executor(self.model_thread, self._predict,
                                                     [text for texts, _ in waiting for text in texts])
            except Exception:  # one request's text must not fail the others: each alone, to find it
                for texts, future in waiting:
                    try:
                        result = await loop.run_in_executor(self.model_thread, self._predict, texts)
                    except Exception as exc:
                        if not future.done():
                            future.set_exception(exc)
                        continue
                    if not future.done():
                        future.set_result(result)
                continue
            for texts, future in waiting:
                if not future.done():  # a client that went away meanwhile
                    future.set_result(results[:len(texts)])
                results = results[len(texts):]

    def _predict(self, texts: list[str]) -> list[tuple[list[dict], float]]:
        return list(self.predictor.predict_iter(texts, sureness=self.sureness))


def metadata(model_dir: Path, settings: "ModelSettings", version: str) -> dict:
    scores = read_scores(model_dir) or {}  # written by training; a hand-edited copy may be anything
    summary = {split: {"f1": (result.get("char") if isinstance(result.get("char"), dict) else {}).get("f1"),
                       "f1_over_words": result.get("f1")}
               for split, result in scores.items() if isinstance(result, dict) and "f1" in result}
    return {"model_version": version, "model_dir": str(model_dir), "entity_types": settings.entity_types,
            "normalization": settings.normalization, "max_length": settings.max_length, "stride": settings.stride,
            "proclitics_in_spans": settings.proclitics_in_spans,
            "epoch": scores.get("epoch"), "scores": summary,
            "labeling_config": LabelingConfig(labels=tuple(settings.entity_types)).xml()}


def texts_of(body: dict, key: str, text_of) -> list[str]:
    """The texts of a request's `texts`, `records` or `tasks`, checked one by one."""
    items = body[key]
    if not isinstance(items, list):
        raise BadRequest(422, f"'{key}' must be a list, got {type(items).__name__}")
    if len(items) > MAX_TEXTS:
        raise BadRequest(413, f"'{key}' holds {len(items):,} items, over the limit of {MAX_TEXTS:,} a request")
    texts = []
    for n, item in enumerate(items):
        text = text_of(item, f"{key}[{n}]")
        if not isinstance(text, str):
            raise BadRequest(422, f"{key}[{n}]: the text must be a string, got {type(text).__name__}")
        if len(text) > MAX_TEXT_CHARS:
            raise BadRequest(413, f"{key}[{n}]: {len(text):,} characters, over the limit of {MAX_TEXT_CHARS:,}")
        texts.append(text)
    total = sum(map(len, texts))
    if total > MAX_REQUEST_CHARS:
        raise BadRequest(413, f"'{key}' holds {total:,} characters, over the limit of {MAX_REQUEST_CHARS:,} a "
                              f"request; send fewer texts a request")
    return texts


def _record_text(item, where: str):
    if not isinstance(item, dict) or "text" not in item:
        raise BadRequest(422, f"{where}: a record is an object with 'text' (and 'id')")
    return item["text"]


def _task_text(field: str):
    def text_of(item, where: str):
        data = item.get("data") if isinstance(item, dict) else None
        if not isinstance(data, dict) or field not in data:
            raise BadRequest(422, f"{where}: a task needs data.{field} (the labeling config's <Text value=\"${field}\">)")
        return data[field]
    return text_of


def create_app(predictor, settings: "ModelSettings", model_dir: Path, version: str | None = None):
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    version = version or model_version(model_dir)
    batcher = Batcher(predictor)
    about = metadata(model_dir, settings, version)
    ours = LabelingConfig(labels=tuple(settings.entity_types))

    @asynccontextmanager
    async def lifespan(app):
        worker = asyncio.create_task(batcher.run())
        yield
        worker.cancel()
        batcher.model_thread.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="arabic_ner", version=version, lifespan=lifespan)
    app.state.batcher = batcher

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest):
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):  # 404, 405: the same shape as ours
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        traceback.print_exception(exc, file=sys.stderr)  # the traceback for the log, not the client
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server's log"}, status_code=500)

    async def json_body(request: Request) -> dict:
        body, size = bytearray(), 0
        async for chunk in request.stream():  # counted as it comes, whatever Content-Length says
            size += len(chunk)
            if size <= MAX_BODY_BYTES:
                body += chunk
            elif size > DRAIN_BYTES:  # not worth reading to the end to say so: the connection is closed
                break
        if size > MAX_BODY_BYTES:
            # read through (up to DRAIN_BYTES), so that the client is not cut off mid-send and reads why
            raise BadRequest(413, f"request body of {size:,} bytes or more, over the limit of {MAX_BODY_BYTES:,}; "
                                  f"send fewer texts a request")
        try:
            value = parse_json(body.decode("utf-8"), "the body")  # NaN, 1e999, 4,300-digit numbers refused too
        except UnicodeDecodeError as exc:
            raise BadRequest(400, f"the body is not UTF-8 (byte {exc.start})") from None
        except CorpusError as exc:
            raise BadRequest(400, str(exc)) from None
        try:
            check_json(value, "the body")  # lone surrogates (no tokenizer reads them), nesting 64+ deep
        except CorpusError as exc:
            raise BadRequest(422, str(exc)) from None
        if not isinstance(value, dict):
            raise BadRequest(422, f"the body must be a JSON object, got {type(value).__name__}")
        return value

    @app.get("/health")
    @app.get("/")
    async def health():
        return {"status": "UP", "model_version": version, "model_class": "arabic_ner"}

    @app.get("/metadata")
    async def get_metadata():
        return about

    @app.post("/setup")
    async def setup(request: Request):
        body = await json_body(request)
        schema = body.get("schema") or body.get("label_config")
        if schema is not None and not isinstance(schema, str):
            raise BadRequest(422, f"'schema' must be the labeling config (XML text), got {type(schema).__name__}")
        if schema and schema.strip():
            check_labels(schema)
        return {"model_version": version}

    def check_labels(schema: str) -> LabelingConfig:
        try:
            theirs = read_labeling_config(schema)
        except UserError as exc:
            raise BadRequest(422, str(exc)) from None
        if set(theirs.labels) != set(ours.labels):
            missing, extra = sorted(set(ours.labels) - set(theirs.labels)), sorted(set(theirs.labels) - set(ours.labels))
            raise BadRequest(422, "the project's labels are not the model's tag set: "
                             + "; ".join(part for part in (
                                 f"the project lacks {', '.join(missing)}" if missing else "",
                                 f"the model does not know {', '.join(extra)}" if extra else "") if part)
                             + f" (model: {', '.join(ours.labels)})")
        return theirs

    @app.post("/predict")
    async def predict(request: Request):
        body = await json_body(request)
        given = [key for key in ("texts", "records", "tasks") if key in body]
        if len(given) > 1:
            raise BadRequest(422, f"give one of 'texts', 'records' or 'tasks', not {' and '.join(given)}")
        if "tasks" in body:  # Label Studio
            schema = body.get("label_config")
            if schema is not None and not isinstance(schema, str):
                raise BadRequest(422, f"'label_config' must be XML text, got {type(schema).__name__}")
            config = check_labels(schema) if schema and schema.strip() else ours
            tasks = body["tasks"]
            results = await batcher.tag(texts_of(body, "tasks", _task_text(config.text_field)))
            return {"results": [{"result": labelstudio_regions(task.get("id", n), task["data"][config.text_field],
                                                               entities, config),
                                 "score": round(sure, 4), "model_version": version}
                                for n, (task, (entities, sure)) in enumerate(zip(tasks, results))],
                    "model_version": version}
        if "records" in body:
            records = body["records"]
            results = await batcher.tag(texts_of(body, "records", _record_text))
            return {"records": [{**record, "id": record.get("id", n), "entities": entities, "sureness": round(sure, 4)}
                                for n, (record, (entities, sure)) in enumerate(zip(records, results))],
                    "model_version": version}
        if "texts" in body:
            results = await batcher.tag(texts_of(body, "texts", lambda item, where: item))
            return {"entities": [entities for entities, _ in results],
                    "sureness": [round(sure, 4) for _, sure in results], "model_version": version}
        raise BadRequest(422, 'expected {"texts": [...]}, {"records": [{"id", "text"}, ...]} or Label Studio\'s '
                              '{"tasks": [...]}; got keys ' + (", ".join(map(repr, body)) or "none"))

    return app


def bind_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on `host:port`, checked before the model loads; None: it can."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no obstacle
        try:
            probe.bind((host, port))
        except socket.gaierror:
            return f"--host {host}: no such address"
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return f"{host}:{port} is in use; pick another --port"
            if exc.errno == errno.EADDRNOTAVAIL:
                return f"--host {host}: cannot listen there ({exc.strerror})"
            hint = "; a port below 1024 needs privileges" if exc.errno == errno.EACCES else ""
            return f"{host}:{port}: cannot listen there ({exc.strerror}{hint})"
    return None


def serve(app, model_dir: Path, host: str, port: int) -> None:
    """uvicorn's server, but a stop (Ctrl-C, SIGTERM) turns away the requests still waiting (Batcher)
    and ends as a stop, exit 130 or 143 (uvicorn.run swallows it: exit 0); and "serving" is said once
    it listens, not before."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig, frame) -> None:
            app.state.batcher.stop_soon()
            super().handle_exit(sig, frame)

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets)
            if self.started:
                print(f"serving {model_dir} on http://{host}:{port} (Ctrl-C to stop)", file=sys.stderr, flush=True)

    # uvicorn re-raises the signal it caught once it has shut down: run_cli's handler makes it a stop
    Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("serve")
