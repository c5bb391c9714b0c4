"""Tagging on Ray Data, for corpora one machine cannot get through in time:
`python -m arabic_ner ray-predict MODEL_DIR INPUT... -o OUT_FOLDER` (`pip install -e ".[ray]"`).

The recipe it runs, for a pipeline of your own:

    import ray
    from arabic_ner.ray_predict import Tagger

    ds = ray.data.read_parquet("articles/")  # or ray.data.read_json("articles.jsonl")
    ds = ds.map_batches(Tagger, fn_constructor_kwargs={"model_dir": "models/news/best"},
                        batch_format="pyarrow", batch_size=64, concurrency=4, num_cpus=1)
    ds.write_parquet("tagged/")

`Tagger` is a class, so Ray builds one per actor and each model replica is loaded once; it takes
a batch of records and gives back the same records with `entities` in place of the text, as
predict.py writes them (`start`, `end`, `label`, `text`, `score`, offsets into the raw text). A
record whose text is null is dropped (predict.py skips it too, and says so; here it goes unsaid);
a JSONL line Ray cannot read is refused before the job (predict.py would skip it; Ray cannot).
Ray retries a failed task and writes a folder of files, which must be new or empty, and whose
order across files is not the input's (join on an id where order matters); unlike predict.py, an
interrupted job starts again from the beginning (a stopped run leaves no half-written folder).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from arabic_ner.config import WINDOWS_PER_PASS
from arabic_ner.errors import UserError, held_stops, moved_command
from arabic_ner.messages import shorten
from arabic_ner.predictor import Predictor
from arabic_ner.tagging import entities_type
from arabic_ner.textfiles import CorpusError, parse_json

# Model replicas (Ray actors, one CPU each) by default: all the cluster's CPUs but one, which the
# reading and writing tasks need (with every CPU held by an actor, Ray Data waits for ever).
SPARE_CPUS = 1


class Tagger:
    """A batch of records (a pyarrow Table) -> the same records with `entities`, text dropped."""

    def __init__(self, model_dir: str, text_field: str = "text", batch_size: int = WINDOWS_PER_PASS, int8: bool = False,
                 device: str = "cpu"):
        self.predictor = Predictor.from_folder(Path(model_dir), device, batch_size, int8)
        self.text_field = text_field

    def __call__(self, batch):
        import pyarrow as pa
        import pyarrow.compute as pc

        batch = batch.filter(pc.is_valid(batch.column(self.text_field)))
        entities = self.predictor.predict(batch.column(self.text_field).to_pylist())
        return batch.drop_columns([self.text_field]).append_column("entities", pa.array(entities, type=entities_type()))


def tag_with_ray(model_dir: Path, inputs: list[str], out: Path, text_field: str = "text", replicas: int | None = None,
                 batch_size: int = WINDOWS_PER_PASS, int8: bool = False, output_format: str = "parquet") -> int:
    """Read `inputs` (Parquet files or folders, or JSONL files), tag them on `replicas` actors of
    the Ray instance this process is connected to (default: all its CPUs but SPARE_CPUS), write
    `out` (a folder of `output_format` files; the records of one file keep their input order, but the
    files do not: Ray numbers its write tasks as they start, which preserve_order does not fix, as a
    test of this saw one run in ten); the number of records written."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 0))
    if replicas is None:
        replicas = max(1, cpus - SPARE_CPUS)
    if replicas + SPARE_CPUS > cpus:
        raise UserError(f"--replicas {replicas}: the Ray cluster has {cpus} CPUs, and reading and writing need "
                        f"{SPARE_CPUS} beside the replicas; at most {max(cpus - SPARE_CPUS, 0)}")
    suffixes = {Path(item).suffix for item in inputs}
    if suffixes <= {".jsonl", ".json"}:
        for item in inputs:
            check_jsonl(Path(item), text_field)
        ds = ray.data.read_json(inputs, lines=True)
    elif suffixes <= {".parquet", ""}:
        ds = ray.data.read_parquet(inputs)
    else:
        raise UserError(f"{', '.join(inputs)}: give .jsonl files, or .parquet files or folders of them, not a mix")
    schema = ds.schema()
    if text_field not in schema.names:
        raise UserError(f"{inputs[0]}: no field {text_field!r} (set --text-field; fields: {', '.join(schema.names)})")
    if str(schema.types[schema.names.index(text_field)]) not in ("string", "large_string"):
        raise UserError(f"{inputs[0]}: field {text_field!r} holds {schema.types[schema.names.index(text_field)]}, "
                        f"not text")
    tagged = ds.map_batches(Tagger, fn_constructor_kwargs={"model_dir": str(model_dir), "text_field": text_field,
                                                           "batch_size": batch_size, "int8": int8},
                            batch_format="pyarrow", batch_size=64, concurrency=replicas, num_cpus=1)
    check_new_folder(out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        (tagged.write_parquet if output_format == "parquet" else tagged.write_json)(str(tmp))
        count = ray.data.read_parquet(str(tmp)).count() if output_format == "parquet" else \
            sum(1 for f in tmp.iterdir() for _ in f.open("rb"))
        with held_stops():
            check_new_folder(out)
            if out.exists():
                out.rmdir()  # empty: checked
            tmp.rename(out)
    finally:  # a stop or a failure leaves no half-written folder
        shutil.rmtree(tmp, ignore_errors=True)
    return count


def check_jsonl(path: Path, text_field: str) -> None:
    """Every line of `path` is one Ray's `read_json` reads: a JSON object whose `text_field` is a
    string, null or absent (Tagger drops a record with no text), in UTF-8 without a byte-order
    mark. Ray stops the whole job at a line it cannot read, after its start-up and with pages of
    its own traceback that name neither the file nor the line; predict.py skips such a line and
    goes on, which a Ray reader cannot. One pass over the text, quick beside the tagging."""
    def bad(number: int, why: str) -> UserError:
        return UserError(f"{path}:{number}: {why}; Ray reads files whole and cannot skip a line: mend it, "
                         f"or tag with predict.py, which skips it")

    try:
        with path.open("rb") as file:
            if file.read(3) == b"\xef\xbb\xbf":
                raise bad(1, "starts with a byte-order mark, which Ray's JSON reader cannot read")
            file.seek(0)
            for number, raw in enumerate(file, start=1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise bad(number, "not UTF-8 text") from None
                if not line.strip():
                    continue
                try:
                    record = parse_json(line, f"{path}:{number}")
                except CorpusError as exc:
                    raise bad(number, str(exc).removeprefix(f"{path}:{number}: ")) from None
                if not isinstance(record, dict):
                    raise bad(number, "not a JSON object")
                if not isinstance(record.get(text_field), str | None):
                    raise bad(number, f"field {shorten(text_field)} holds {type(record[text_field]).__name__}, not text")
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None


def check_new_folder(out: Path) -> None:
    """`out` is a new folder or an empty one: the records go nowhere else's files (never replaced,
    nor mixed with files already there)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"-o {out}: exists and is not an empty folder; name a new folder")


if __name__ == "__main__":  # the form of before arabic_ner/cli/
    moved_command("ray-predict")
