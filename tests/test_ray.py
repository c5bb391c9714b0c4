"""The Ray Data path (arabic_ner/ray_predict.py) on a local Ray instance this test starts: slow
(`make test-slow`), and skipped where Ray is not installed (`pip install -e ".[ray]"`)."""
import json

import pytest

from arabic_ner.predictor import Predictor

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray", reason='Ray is not installed (pip install -e ".[ray]"): the Ray path is untested here')


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_replicas_leave_a_cpu_for_reading(trained, tmp_path, local_ray):
    from arabic_ner.errors import UserError
    from arabic_ner.ray_predict import tag_with_ray

    config, _ = trained
    with pytest.raises(UserError, match="--replicas 2: the Ray cluster has 2 CPUs"):
        tag_with_ray(config.run_dir / "best", [str(tmp_path / "in.jsonl")], tmp_path / "out", replicas=2)


def test_ray_finds_the_entities_predict_finds(trained, tmp_path, local_ray):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from arabic_ner.ray_predict import tag_with_ray

    config, _ = trained
    texts = ["قتل تنظيم داعش خمسة جنود في بغداد", "اعلنت القوات الامنية اعتقال عنصرين من داعش. " * 5, "",
             "وقال جهاز مكافحة الارهاب ان الحشد الشعبي شارك"] * 40
    records = [{"id": i, "text": t, "source": "وكالة"} for i, t in enumerate(texts)]
    records.insert(3, {"id": -1, "text": None, "source": "x"})  # no text: dropped, as predict.py skips it
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                                       encoding="utf-8")
    expected = Predictor.from_folder(config.run_dir / "best").predict(texts)
    for source, output_format in [("in.parquet", "parquet"), ("in.jsonl", "jsonl")]:
        out = tmp_path / f"out-{output_format}"
        count = tag_with_ray(config.run_dir / "best", [str(tmp_path / source)], out, output_format=output_format)
        if output_format == "parquet":
            rows = pq.read_table(out).to_pylist()
        else:
            rows = [json.loads(line) for f in sorted(out.iterdir()) for line in f.read_text(encoding="utf-8").splitlines()]
        rows.sort(key=lambda r: r["id"])  # the files' order is Ray's, not the input's
        assert count == len(texts) and [r["id"] for r in rows] == list(range(len(texts)))
        assert all("text" not in r and r["source"] == "وكالة" for r in rows)
        spans = lambda found: [[(e["start"], e["end"], e["label"], e["text"]) for e in entities] for entities in found]
        assert spans(r["entities"] for r in rows) == spans(expected) and any(expected)
        assert all(abs(a["score"] - b["score"]) < 1e-3 for r, e in zip(rows, expected)
                   for a, b in zip(r["entities"], e))


def test_a_damaged_parquet_file_is_one_line_and_no_output(trained, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    config, _ = trained
    (tmp_path / "in.parquet").write_bytes(b"PAR1" + bytes(range(256)))
    result = subprocess.run([sys.executable, "-m", "arabic_ner", "ray-predict", str(config.run_dir / "best"),
                             str(tmp_path / "in.parquet"), "-o", str(tmp_path / "out")], cwd=Path(__file__).parents[1],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert result.stderr.splitlines()[-1].startswith(f"error: {tmp_path / 'in.parquet'}: the Ray job failed: ")
    assert "Traceback" not in result.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]
