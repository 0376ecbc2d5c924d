"""`ocrkit batch` with the local runner and the shipped demo checkpoint, end to end in-process."""

from __future__ import annotations

import csv
import json

import pytest

from ocrkit.cli import main
from tests.batch.conftest import FOLDER_KEYS, read_jsonl

pytestmark = pytest.mark.model


def run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exc:
        main(argv)
        raise SystemExit(0)
    return exc.value.code


def test_folder_to_jsonl_with_an_error_row_and_a_summary(folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert run(["batch", str(folder), "--out", str(out), "--batch-size", "4", "--summary", "json"]) == 0
    rows = read_jsonl(out)
    assert [r["source"] for r in rows] == FOLDER_KEYS
    by = {r["source"]: r for r in rows}
    assert by["sample01.jpg"]["text"] == "заявление" and by["sample01.jpg"]["error"] is None
    assert by["sub/noext"]["text"] == "Москва"  # an image with no extension, found by content
    assert by["trunc.png"]["error"].startswith("not a readable image") and by["trunc.png"]["text"] is None
    summary = json.loads(capsys.readouterr().out)
    assert summary["images"] == len(FOLDER_KEYS) and summary["processed"] == len(FOLDER_KEYS)
    assert summary["errors"] == 1 and summary["not_images_skipped"] == 2
    assert summary["output"] == str(out)
    manifest = json.loads((tmp_path / "r.jsonl.manifest.json").read_text())
    assert manifest["params"]["engine"] == "torch" and manifest["info"]["status"] == "complete"


def test_rerun_resumes_and_never_writes_an_image_twice(folder, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert run(["batch", str(folder), "--out", str(out)]) == 0
    first = out.read_bytes()
    # new images arrive; a second run reads only those
    (folder / "more").mkdir()
    (folder / "more" / "x.jpg").write_bytes((folder / "sample03.jpg").read_bytes())
    capsys.readouterr()
    assert run(["batch", str(folder), "--out", str(out), "--resume", "--summary", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["already_done"] == len(FOLDER_KEYS) and summary["processed"] == 1
    assert out.read_bytes().startswith(first)
    sources = [r["source"] for r in read_jsonl(out)]
    assert sorted(sources) == sorted([*FOLDER_KEYS, "more/x.jpg"]) and len(sources) == len(set(sources))
    # and a third run has nothing to do
    assert run(["batch", str(folder), "--out", str(out), "--summary", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["processed"] == 0
    assert len(read_jsonl(out)) == len(FOLDER_KEYS) + 1


def test_other_parameters_are_refused_unless_overwrite(folder, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert run(["batch", str(folder), "--out", str(out)]) == 0
    before = out.read_bytes()
    other = tmp_path / "other"
    other.mkdir()
    (other / "a.jpg").write_bytes((folder / "sample01.jpg").read_bytes())
    capsys.readouterr()
    assert run(["batch", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "written by a run with other parameters: source" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert out.read_bytes() == before
    assert run(["batch", str(other), "--out", str(out), "--overwrite"]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["source"] for r in rows] == ["a.jpg"] and rows[0]["text"] == "заявление"


def test_a_file_not_written_by_batch_is_never_touched(folder, tmp_path, capsys):
    out = tmp_path / "mine.jsonl"
    out.write_text('{"my": "data"}\n')
    assert run(["batch", str(folder), "--out", str(out)]) == 2
    assert "not written by `ocrkit batch`" in capsys.readouterr().err
    assert out.read_text() == '{"my": "data"}\n'
    assert not (tmp_path / "mine.jsonl.manifest.json").exists()


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_csv_and_tsv_carry_the_same_rows_as_jsonl(folder, tmp_path, fmt):
    assert run(["batch", str(folder), "--out", str(tmp_path / "r.jsonl")]) == 0
    assert run(["batch", str(folder), "--out", str(tmp_path / f"r.{fmt}")]) == 0
    reader = csv.DictReader(
        (tmp_path / f"r.{fmt}").open(encoding="utf-8"), delimiter="\t" if fmt == "tsv" else ","
    )
    got = {r["source"]: (r["text"], r["error"] or None) for r in reader}
    want = {r["source"]: (r["text"] or "", r["error"]) for r in read_jsonl(tmp_path / "r.jsonl")}
    assert got == want


def test_labels_tsv_source_with_a_missing_image_is_an_error_row(tmp_path):
    from tests.batch.conftest import SAMPLES

    out = tmp_path / "r.jsonl"
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "a.jpg").write_bytes((SAMPLES / "sample09.jpg").read_bytes())
    (tmp_path / "test.tsv").write_text("a.jpg\tИванов И.И.\ngone.jpg\tнет\n", encoding="utf-8")
    assert run(["batch", str(tmp_path / "test.tsv"), "--out", str(out)]) == 0
    rows = {r["source"]: r for r in read_jsonl(out)}
    assert rows["a.jpg"]["text"] == "Иванов И.И."
    assert rows["gone.jpg"]["error"].startswith("cannot read")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{missing}", "--out", "{out}"], "no such folder or file"),
        (["{empty}", "--out", "{out}"], "holds no images (1 file(s) that are not images)"),
        (["{folder}", "--out", "{tmp}"], "is a directory"),
        (["{folder}", "--out", "{out}", "--workers", "0"], "--workers must be at least 1"),
        (["{folder}", "--out", "{out}", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["{folder}", "--out", "{out}", "--threads", "0"], "--threads must be at least 1"),
        (["{folder}", "--out", "{out}", "--engine", "tflite"], "'tflite' is not one of 'torch', 'onnx'"),
        (["{folder}", "--out", "{out}", "--runner", "spark"], "'spark' is not one of 'local', 'ray'"),
        (["{folder}", "--out", "{out}", "--weights", "{missing}"], "not found"),
        (["{folder}", "--out", "{out}", "--runner", "ray", "--address", "127.0.0.1:9"], "does not answer"),
        (["{folder}", "--out", "{out}", "--resume", "--overwrite"], "contradict"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(folder, tmp_path, capsys, argv, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.png").write_text("text")
    out = tmp_path / "r.jsonl"
    names = {
        "missing": str(tmp_path / "missing"),
        "empty": str(empty),
        "folder": str(folder),
        "out": str(out),
        "tmp": str(tmp_path),
    }
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run(["batch", *[a.format(**names) for a in argv]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_onnx_engine_goes_through_the_engine_seam(folder, tmp_path, monkeypatch):
    """--engine onnx reaches load_predictor('onnx', ...); any Predictor then gets the image bytes."""
    import ocrkit.engine
    from ocrkit.prediction import Prediction

    calls = []

    class BytesPredictor:  # a Predictor without the torch stages: the generic path
        def predict_images(self, images):
            return [Prediction(text=f"{len(b)} bytes", confidence=0.5) for b in images]

    def load(engine, weights=None, **kwargs):
        calls.append((engine, kwargs["batch_size"]))
        return BytesPredictor()

    monkeypatch.setattr(ocrkit.engine, "load_predictor", load)
    out = tmp_path / "r.jsonl"
    assert run(["batch", str(folder), "--out", str(out), "--engine", "onnx", "--batch-size", "5"]) == 0
    assert calls == [("onnx", 5)]
    rows = {r["source"]: r for r in read_jsonl(out)}
    assert rows["sample01.jpg"]["text"] == f"{(folder / 'sample01.jpg').stat().st_size} bytes"
    assert rows["trunc.png"]["text"] == "120 bytes"  # a PNG by its first bytes; the engine decides
    manifest = json.loads((tmp_path / "r.jsonl.manifest.json").read_text())
    assert manifest["params"]["engine"] == "onnx"


def test_threads_sets_the_models_cpu_threads(folder, tmp_path):
    import torch

    before = torch.get_num_threads()
    try:
        out = tmp_path / "r.jsonl"
        assert run(["batch", str(folder), "--out", str(out), "--threads", "1"]) == 0
        assert torch.get_num_threads() == 1
        assert json.loads((tmp_path / "r.jsonl.manifest.json").read_text())["info"]["threads"] == 1
        assert len(read_jsonl(out)) == len(FOLDER_KEYS)
    finally:
        torch.set_num_threads(before)


def test_onnx_engine_rows_equal_the_engines_own_reading(folder, tmp_path):
    """With the real ONNX engine the worker threads decode and preprocess (resizing with OpenCV when
    installed) and the model sees arrays: every row equals what the engine reads from the bytes."""
    pytest.importorskip("onnxruntime")
    from ocrkit.engine import load_predictor

    out = tmp_path / "r.jsonl"
    argv = ["batch", str(folder), "--out", str(out), "--engine", "onnx", "--batch-size", "4"]
    argv += ["--threads", "1"]
    assert run(argv) == 0
    rows = {r["source"]: r for r in read_jsonl(out)}
    assert sorted(rows) == FOLDER_KEYS
    assert rows["trunc.png"]["error"].startswith("not a readable image") and rows["trunc.png"]["text"] is None
    engine = load_predictor("onnx", batch_size=4)
    for key in FOLDER_KEYS:
        if key == "trunc.png":
            continue
        expected = engine.predict_images([(folder / key).read_bytes()])[0]
        assert (rows[key]["text"], rows[key]["error"]) == (expected.text, None), key
        assert rows[key]["confidence"] == round(float(expected.confidence), 4), key
