"""The SageMaker PyTorch container's handler functions: model_fn / input_fn / predict_fn / output_fn."""

from __future__ import annotations

import base64
import json
import sys
import types

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.runtime import sagemaker_entry as entry
from tests.gateway.fakes import EchoPredictor, UndecodablePredictor
from tests.gateway.imagegen import make_gif, make_png, pil_image
from tests.gateway.realmodel import write_checkpoint

PNG = make_png(32, 8)
B64 = base64.b64encode(PNG).decode()


def run(body, content_type, accept="application/json", model=None):
    data = entry.input_fn(body, content_type)
    return entry.output_fn(entry.predict_fn(data, model or EchoPredictor()), accept)


@pytest.mark.parametrize("content_type", ["image/png", "application/x-image", "application/octet-stream"])
def test_raw_png(content_type: str) -> None:
    assert json.loads(run(PNG, content_type)) == {"text": "png 32x8", "confidence": 0.875}


def test_jpeg() -> None:
    pytest.importorskip("PIL")
    assert json.loads(run(pil_image("JPEG", 20, 6), "image/jpeg"))["text"] == "jpeg 20x6"


def test_json_body_arrives_as_text_or_bytes() -> None:
    # the inference toolkit decodes application/json bodies to str before input_fn
    assert json.loads(run(json.dumps({"image": B64}), "application/json"))["text"] == "png 32x8"
    assert (
        json.loads(run(bytearray(json.dumps({"image": B64}).encode()), "application/json"))["text"]
        == "png 32x8"
    )
    batch = json.loads(run(json.dumps({"images": [B64, B64]}), "application/json"))
    assert len(batch["results"]) == 2


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_json_is_the_default(accept) -> None:
    assert json.loads(run(PNG, "image/png", accept))["text"] == "png 32x8"


def test_text_plain() -> None:
    assert run(PNG, "image/png", "text/plain") == "png 32x8"


def test_cyrillic_output_is_not_escaped() -> None:
    from ocrkit.prediction import Prediction

    class Cyrillic:
        def predict_images(self, images):
            return [Prediction("отправление", 0.9)]

    assert "отправление" in run(PNG, "image/png", model=Cyrillic())


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (make_gif(), "image/png", 415, "unsupported_image_format"),
        (PNG, "text/csv", 415, "unsupported_media_type"),
        (PNG[:-12], "image/png", 400, "truncated_image"),
        (make_png(4, 4, claim=(100_000, 100_000)), "image/png", 413, "image_too_many_pixels"),
        ('{"url": "https://example.com/a.png"}', "application/json", 422, "url_refused"),
        ("{bad", "application/json", 400, "bad_json"),
    ],
)
def test_input_errors_carry_status_and_json(body, content_type, status: int, code: str) -> None:
    with pytest.raises(entry.InvocationError) as info:
        entry.input_fn(body, content_type)
    assert (info.value.status, info.value.code) == (status, code)
    assert json.loads(info.value.body)["error"]["code"] == code


def test_errors_use_the_toolkit_exception_inside_the_container(monkeypatch) -> None:
    class BaseInferenceToolkitError(Exception):
        def __init__(self, status_code, message, phrase):
            super().__init__(status_code, message, phrase)
            self.status_code, self.message, self.phrase = status_code, message, phrase

    errors = types.ModuleType("sagemaker_inference.errors")
    errors.BaseInferenceToolkitError = BaseInferenceToolkitError
    monkeypatch.setitem(sys.modules, "sagemaker_inference", types.ModuleType("sagemaker_inference"))
    monkeypatch.setitem(sys.modules, "sagemaker_inference.errors", errors)
    with pytest.raises(BaseInferenceToolkitError) as info:
        entry.input_fn(make_gif(), "image/gif")
    assert (info.value.status_code, info.value.phrase) == (415, "Unsupported Media Type")
    assert json.loads(info.value.message)["error"]["code"] == "unsupported_image_format"
    with pytest.raises(BaseInferenceToolkitError) as info:
        entry.predict_fn(entry.input_fn(PNG, "image/png"), UndecodablePredictor())
    assert info.value.status_code == 400


def test_limits_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_MAX_IMAGE_BYTES", "50")
    with pytest.raises(entry.InvocationError) as info:
        entry.input_fn(PNG, "image/png")
    assert info.value.status == 413


def test_missing_weights_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(OcrkitError, match="no model weights"):
        entry.find_weights(tmp_path)


@pytest.mark.model
@pytest.mark.parametrize("layout", ["model.pt", "model/model.pt"])
def test_model_fn_loads_a_checkpoint_and_serves(tmp_path, layout: str, monkeypatch) -> None:
    write_checkpoint(tmp_path / layout)
    monkeypatch.setenv("OCRKIT_DEVICE", "cpu")
    model = entry.model_fn(str(tmp_path))
    answer = json.loads(run(make_png(120, 40), "image/png", model=model))
    assert isinstance(answer["text"], str) and 0 <= answer["confidence"] <= 1
    text = run(make_png(120, 40), "image/png", "text/plain", model=model)
    assert text == answer["text"]
