"""Decompression bombs sent straight to the container code (no gateway in front): the SageMaker entry and
the TorchServe handler refuse them by content, and -- the second line -- set OpenCV's own pixel caps from
the gateway limits before OpenCV loads, so an image past the limits is refused by the decoder itself even
when the header check is bypassed. Each case runs in a fresh interpreter: OpenCV reads its caps once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gateway.realmodel import write_checkpoint

pytestmark = pytest.mark.model
ROOT = Path(__file__).resolve().parents[2]

COMMON = r"""
import base64, json, os, resource, sys
from tests.gateway.imagegen import make_png, make_tiff_two_sizes
model_dir = sys.argv[1]
bomb = make_tiff_two_sizes((20_000, 20_000), (10, 10), bomb=True)
out = {}
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
"""

SAGEMAKER = (
    COMMON
    + r"""
from ocrkit.runtime import sagemaker_entry as entry
from ocrkit.gateway.inputs import ImageInput, ParsedInput
model = entry.model_fn(model_dir)
out["caps"] = {k: os.environ.get(k) for k in ("OPENCV_IO_MAX_IMAGE_PIXELS",)}
for content_type in ("image/tiff", "image/png", "application/octet-stream"):
    try:
        entry.input_fn(bomb, content_type)
        out[content_type] = "accepted"
    except entry.InvocationError as exc:
        out[content_type] = [exc.status, exc.code]
before = peak_mb()
def straight(data):  # past input_fn's header check, straight to the decoder
    try:
        result = entry.predict_fn(ParsedInput([ImageInput(data, None)]), model)
        return "read " + result.predictions[0].text
    except entry.InvocationError as exc:
        return [exc.status, exc.code]
out["small"] = straight(make_png(30, 30))
out["over_cap"] = straight(make_png(40, 30))
out["bomb"] = straight(bomb)
out["growth_mb"] = peak_mb() - before
print(json.dumps(out))
"""
)

TORCHSERVE = (
    COMMON
    + r"""
sys.path.insert(0, model_dir)
import ocrkit.runtime.torchserve_handler as handler
class Context:
    system_properties = {"model_dir": model_dir, "gpu_id": None}
    manifest = {"model": {"serializedFile": "model.pt"}}
handler.initialize(Context())
out["caps"] = {k: os.environ.get(k) for k in ("OPENCV_IO_MAX_IMAGE_PIXELS",)}
answers = handler.handle(
    [{"body": {"instances": [{"b64": base64.b64encode(bomb).decode()}]}}, bomb], Context()
)
out["bomb_rows"] = [a["predictions"][0] if "predictions" in a else a for a in answers]
before = peak_mb()
predictor = handler._state["predictor"]
def straight(data):  # past the handler's header check, straight to the decoder
    try:
        return "read " + predictor.predict_images([data])[0].text
    except Exception as exc:
        return type(exc).__name__
out["small"] = straight(make_png(30, 30))
out["over_cap"] = straight(make_png(40, 30))
out["bomb"] = straight(bomb)
out["growth_mb"] = peak_mb() - before
print(json.dumps(out))
"""
)


def run(script: str, model_dir: Path) -> dict:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "HOME": str(model_dir),
        "OCRKIT_DEVICE": "cpu",
        "OCRKIT_MAX_PIXELS": "1000",  # 30 x 30 fits, 40 x 30 does not
    }
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_sagemaker_container_refuses_bombs(tmp_path) -> None:
    write_checkpoint(tmp_path / "model.pt")
    out = run(SAGEMAKER, tmp_path)
    assert out["caps"] == {"OPENCV_IO_MAX_IMAGE_PIXELS": "1000"}
    for content_type in ("image/tiff", "image/png", "application/octet-stream"):
        assert out[content_type] == [415, "unsupported_image_format"]
    assert out["small"].startswith("read ")
    assert out["over_cap"] == [400, "undecodable_image"]  # the decoder's own cap, not the header check
    assert out["bomb"] == [400, "undecodable_image"]
    assert out["growth_mb"] < 100  # 20000 x 20000 would be +381 MB at one byte per pixel


def test_torchserve_handler_refuses_bombs(tmp_path) -> None:
    write_checkpoint(tmp_path / "model.pt")
    out = run(TORCHSERVE, tmp_path)
    assert out["caps"] == {"OPENCV_IO_MAX_IMAGE_PIXELS": "1000"}
    assert [row["error"]["code"] for row in out["bomb_rows"]] == ["unsupported_image_format"] * 2
    assert out["small"].startswith("read ")
    assert out["over_cap"] == "ImageDecodeError"
    assert out["bomb"] == "ImageDecodeError"
    assert out["growth_mb"] < 100
