"""`ocrkit predict` reads folders (images by content, sorted) and stdin (`-`), and says when the demo
checkpoint answers."""

from __future__ import annotations

import io
import json
import sys

import pytest

pytestmark = pytest.mark.model

torch = pytest.importorskip("torch")

from ocrkit.core_model.samples import sample_images  # noqa: E402
from tests.cli import run  # noqa: E402

DEMO_LINE = "using ocrkit's demo checkpoint"


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("OCRKIT_WEIGHTS", raising=False)
    monkeypatch.delenv("OCRKIT_DEMO_WEIGHTS", raising=False)
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="module")
def pngs():
    return [s.png for s in sample_images(3)]


def test_predict_reads_the_images_of_a_folder_sorted_by_content(capsys, tmp_path, weights, pngs):
    folder = tmp_path / "scans"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.png").write_bytes(pngs[0])
    (folder / "a.dat").write_bytes(pngs[1])  # an image by its bytes, whatever its name
    (folder / "sub" / "c").write_bytes(pngs[2])
    (folder / "notes.png").write_text("not an image")  # skipped: its bytes are not an image
    code, out, err = run(capsys, "predict", str(folder), "--weights", str(weights), "--format", "json")
    assert code == 0, err
    files = [row["file"] for row in json.loads(out)]
    assert files == [str(folder / "a.dat"), str(folder / "b.png"), str(folder / "sub" / "c")]


def test_predict_refuses_a_folder_without_images(capsys, tmp_path, weights):
    (tmp_path / "readme.png").write_text("text")
    code, _, err = run(capsys, "predict", str(tmp_path), "--weights", str(weights))
    assert code == 2
    assert "holds no images" in err and len(err.strip().splitlines()) == 1


def test_predict_reads_one_image_from_stdin(capsys, monkeypatch, weights, pngs):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(pngs[0])))
    code, out, err = run(capsys, "predict", "-", "--weights", str(weights), "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [row["file"] for row in rows] == ["-"] and isinstance(rows[0]["text"], str)


def test_predict_says_when_the_demo_checkpoint_answers(capsys, tmp_path, weights, pngs):
    image = tmp_path / "x.png"
    image.write_bytes(pngs[0])
    code, out, err = run(capsys, "predict", str(image), "--format", "json")
    assert code == 0, err
    assert err.count(DEMO_LINE) == 1
    json.loads(out)  # the note goes to stderr: stdout stays JSON

    code, _, err = run(capsys, "predict", str(image), "--weights", str(weights))
    assert code == 0, err
    assert DEMO_LINE not in err
