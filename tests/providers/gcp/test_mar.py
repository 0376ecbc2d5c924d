"""The serving artifact, exercised the way the Vertex AI PyTorch container runs it: the .mar is unzipped, its
handler imported in a fresh interpreter with the archive's folder first on sys.path (so the bundled ocrkit
modules are used, not this checkout's), `initialize(context)` called with a TorchServe-like context, and
`handle(...)` called with both request forms. It reads a sample image as the in-process predictor does."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ocrkit.providers.gcp import package
from tests.gateway.imagegen import make_png

pytestmark = [pytest.mark.model, pytest.mark.slow]

SCRIPT = r"""
import base64, json, sys
model_dir, image_path = sys.argv[1], sys.argv[2]
sys.path.insert(0, model_dir)
manifest = json.load(open(model_dir + "/MAR-INF/MANIFEST.json"))
handler = __import__(manifest["model"]["handler"][:-3])

class Context:  # what TorchServe hands a handler
    system_properties = {"model_dir": model_dir, "gpu_id": None, "batch_size": 1}
    manifest = manifest

import ocrkit
assert ocrkit.__file__.startswith(model_dir), ocrkit.__file__
ctx = Context()
handler.initialize(ctx)
assert handler.handle(None, ctx) is None  # TorchServe's load-time call
b64 = base64.b64encode(open(image_path, "rb").read()).decode()
whole = handler.handle([{"body": {"instances": [{"b64": b64}, {"image": b64}]}}], ctx)
rows = handler.handle([{"body": {"b64": b64}}, {"data": json.dumps({"b64": b64}).encode()}], ctx)
bad = handler.handle([{"body": {"instances": [{"b64": base64.b64encode(b"not an image").decode()}]}}], ctx)
print(json.dumps({"whole": whole, "rows": rows, "bad": bad, "ocrkit": ocrkit.__file__}))
"""


def test_mar_layout_and_manifest(weights, build_dirs):
    built = package.build_mar(weights[0], build_dirs[0] / "model.mar")
    with zipfile.ZipFile(built.path) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read("MAR-INF/MANIFEST.json"))
    assert manifest["runtime"] == "python"
    assert manifest["model"] == {
        "modelName": "model",
        "serializedFile": "model.pt",
        "handler": "ocrkit_handler.py",
        "modelVersion": "1.0",
        "requirementsFile": "requirements.txt",
        "configFile": "model-config.yaml",
    }
    assert {"model.pt", "ocrkit_handler.py", "requirements.txt", "model-config.yaml"} <= set(names)
    assert "ocrkit/core_model/predictor.py" in names and "ocrkit/core_model/decoding.py" in names
    assert not any(n.startswith(("ocrkit/providers/aws", "ocrkit/commands", "ocrkit/cli")) for n in names)


def test_handler_reads_an_image_like_the_in_process_predictor(weights, build_dirs, tmp_path):
    from ocrkit.core_model.predictor import TorchPredictor

    built = package.build_mar(weights[0], build_dirs[0] / "model.mar")
    model_dir = tmp_path / "model-store" / "model"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(model_dir)
    image = tmp_path / "sample.png"
    image.write_bytes(make_png(96, 32))
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(model_dir), str(image)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "OCRKIT_DEVICE": "cpu", "HOME": str(tmp_path)},
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(out["ocrkit"]).is_relative_to(model_dir)

    expected = TorchPredictor.from_weights(str(weights[0]), device="cpu").predict_images(
        [image.read_bytes()]
    )[0]
    (whole,) = out["whole"]
    assert [p["text"] for p in whole["predictions"]] == [expected.text, expected.text]
    assert whole["predictions"][0]["confidence"] == pytest.approx(expected.confidence, abs=1e-4)
    assert [r["text"] for r in out["rows"]] == [expected.text, expected.text]
    (bad,) = out["bad"]
    assert bad["predictions"][0]["error"]["code"] in ("not_an_image", "undecodable_image")
